"""deploy/grafana's dashboard and deploy/prometheus's rules query only what finwatch serves:
every metric name in every query is one a live finwatch's /metrics has (or one the recording
rules define, or Prometheus's own `up`), and every file passes promtool."""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from promql import label_values_metric, metric_names, served_names
from services import Services, free_port, http_get, wait_until

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS = REPO / "deploy" / "prometheus"
DASHBOARD = REPO / "deploy" / "grafana" / "finwatch-dashboard.json"
METRICS_SOURCE = REPO / "Sources" / "finwatch" / "FinwatchMetrics.swift"
PROMETHEUS_OWN = {"up"}


def rule_files() -> list[Path]:
    return sorted(p for p in PROMETHEUS.glob("*.yml") if not p.name.endswith(".test.yml"))


def rules() -> list[dict]:
    return [r for f in rule_files() for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"]]


def recorded_names() -> set[str]:
    return {r["record"] for r in rules() if "record" in r}


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target, nested rows included, and every variable query."""
    board = json.loads(DASHBOARD.read_text())
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                out.append((f"panel {p['title']!r} {t['refId']}", t["expr"]))
            walk(p.get("panels", []))
    walk(board["panels"])
    for v in board.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            out.append((f"variable {v['name']}", q))
    return out


def registered_names() -> set[str]:
    """The names FinwatchMetrics registers: each `Family` member is `family(name, unit, help)`,
    made on the registry with makeCounter, makeGauge or (through `histogram(_:)`) a histogram,
    which is exposed as _bucket, _sum and _count."""
    source = METRICS_SOURCE.read_text()
    families = {var: name + (f"_{unit}" if unit else "")
                for var, name, unit in re.findall(
                    r'static var (\w+): MetricNameDescriptor \{\s*family\("([^"]+)",\s*"([^"]*)"', source, re.S)}
    names = set()
    for maker, var in re.findall(r'registry\.make(\w+)\(\s*descriptor:\s*Family\.(\w+)', source, re.S):
        name = families[var]
        names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"} if "Histogram" in maker else {name}
    for var in re.findall(r'\bhistogram\(Family\.(\w+)\)', source):   # through the file's own helper
        name = families[var]
        names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return names


@pytest.fixture(scope="module")
def live_names(tmp_path_factory, finwatch_bin) -> set[str]:
    """The sample names a live finwatch serves before seeing any traffic (every series exists at 0)."""
    if os.geteuid() != 0:
        pytest.skip("a live finwatch captures on lo: needs root or CAP_NET_RAW")
    services = Services(tmp_path_factory.mktemp("live"))
    address = f"127.0.0.1:{free_port()}"
    try:
        services.start("finwatch", [finwatch_bin, "--interface", "lo", "--listen", address,
                                    "--filter", "port 9", "--output", "/dev/null"])
        wait_until("finwatch healthy", lambda: http_get(f"http://{address}/healthz")[0] == 200, 20,
                   diagnose=lambda: services.log("finwatch"))
        status, body = http_get(f"http://{address}/metrics")
        assert status == 200
        return served_names(body)
    finally:
        services.stop_all()


def test_registeredMetrics_areExactlyTheLiveOnes(live_names):
    assert registered_names() == live_names


def test_dashboardQueries_selectOnlyServedMetrics(live_names):
    known = live_names | recorded_names() | PROMETHEUS_OWN
    queries = dashboard_queries()
    assert len(queries) >= 15
    unknown = [(where, name) for where, q in queries for name in label_values_metric(q) if name not in known]
    assert not unknown, f"queries name metrics finwatch does not serve: {unknown}"
    # What the dashboard is for: each is on it.
    used = set().union(*(label_values_metric(q) for _, q in queries))
    for name in ("finwatch_closes_total", "finwatch_close_wait_seconds_bucket", "finwatch_alerts_firing",
                 "finwatch_capture_drops_total", "finwatch_evictions_total"):
        assert name in used, f"the dashboard does not show {name}"


def test_dashboardQueries_selectRegisteredMetrics_withoutRoot():
    known = registered_names() | recorded_names() | PROMETHEUS_OWN
    assert registered_names(), f"no metric registrations found in {METRICS_SOURCE}"
    unknown = [(where, name) for where, q in dashboard_queries() for name in label_values_metric(q) if name not in known]
    assert not unknown, unknown


def test_ruleExpressions_selectOnlyServedMetrics(live_names):
    known = live_names | recorded_names() | PROMETHEUS_OWN
    unknown = [(r.get("alert") or r.get("record"), n) for r in rules() for n in metric_names(r["expr"]) if n not in known]
    assert not unknown, unknown


def test_everyRuleFile_passesPromtoolCheck(tool):
    files = rule_files()
    assert {f.name for f in files} >= {"finwatch-alerts.yml", "finwatch-recording.yml"}
    run = subprocess.run([tool("promtool"), "check", "rules", *map(str, files)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


def test_everyRuleUnitTest_passes(tool):
    tests = sorted(PROMETHEUS.glob("*.test.yml"))
    assert len(tests) >= 2
    for t in tests:
        run = subprocess.run([tool("promtool"), "test", "rules", t.name], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, f"{t.name}: {run.stdout}{run.stderr}"


def test_dashboardQueries_parseAsPromQL(tool, tmp_path):
    """Grafana's variables replaced by values they take, each panel query becomes a recording rule
    so promtool's PromQL parser checks it."""
    def concrete(q: str) -> str:
        return q.replace("$__rate_interval", "1m").replace("$job", "finwatch").replace("$instance", ".*")
    exprs = [concrete(q) for where, q in dashboard_queries() if where.startswith("panel")]
    rules_file = tmp_path / "dashboard-queries.yml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query{i}", "expr": e} for i, e in enumerate(exprs)]}]}))
    run = subprocess.run([tool("promtool"), "check", "rules", str(rules_file)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in run.stdout


def test_dashboard_isImportableGrafanaJSON():
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] and board["title"] and isinstance(board["schemaVersion"], int)
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for p in board["panels"]:
        assert p["datasource"]["uid"] == "${datasource}", f"{p['title']} is tied to one Prometheus"
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, f"{p['title']} is wider than the grid"
