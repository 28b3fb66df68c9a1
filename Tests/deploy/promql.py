"""The metric names a PromQL expression selects, without a PromQL parser: string literals, label
matchers, ranges and grouping clauses are cut out, and what is left that is a name and not a
function call or keyword is a metric. `promtool check rules` proves the expressions parse."""
from __future__ import annotations

import re

KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
            "offset", "bool", "atan2", "inf", "nan", "Inf", "NaN"}
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
NAME = re.compile(r"(?<![\w.$])[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    s = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)
    s = re.sub(r"\{[^}]*\}", "", s)
    s = re.sub(r"\[[^\]]*\]", "", s)
    s = GROUPING.sub("", s)
    names = set()
    for m in NAME.finditer(s):
        if s[m.end():].lstrip().startswith("("):
            continue   # a function
        if m.group() not in KEYWORDS:
            names.add(m.group())
    return names


def label_values_metric(query: str) -> set[str]:
    """Grafana's `label_values(metric{...}, label)`: the metric's name."""
    m = re.match(r"\s*label_values\((.*),\s*\w+\s*\)\s*$", query)
    return metric_names(m[1]) if m else metric_names(query)


def served_names(exposition: str) -> set[str]:
    """Every sample name in a Prometheus text-format page."""
    names = set()
    for line in exposition.splitlines():
        if line and not line.startswith("#"):
            names.add(re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", line)[0])
    return names
