#!/usr/bin/env python3
"""Writes docs/examples.md: one real line per close class, anomaly and alert state, taken
from the golden files beside this script. DocumentationExamplesTests checks the result."""
import json, pathlib

HERE = pathlib.Path(__file__).parent
events = []
for path in sorted(HERE.glob("*.jsonl")):
    for line in path.read_text().splitlines():
        events.append((path.stem, line, json.loads(line)))


def first(pred):
    return next(((name, line) for name, line, event in events if pred(event)), None)


out = ["# Example lines", "",
       "One real line for every close class, anomaly and alert state, each taken from the golden replay",
       "named beside it (`Tests/finwatchTests/Golden/<name>.pcap`, replayed with",
       "`--close-wait-threshold 1s --fin-wait-2-threshold 1s`). `GoldenReplayTests` checks the replays",
       "byte for byte and `DocumentationExamplesTests` checks that every line here is one of them.",
       "Written by `Tests/finwatchTests/Golden/make_examples.py`.", ""]


def block(title, found):
    if found:
        out.extend([f"{title} ({found[0]}):", "", "```json", found[1], "```", ""])


out += ["## `close`, by class", ""]
for kind in ["normal", "simultaneous", "reset", "reset_after_fin", "half_closed", "unterminated", "refused", "no_answer"]:
    block(f"`{kind}`", first(lambda e: e["type"] == "close" and e["close"] == kind))
block("picked up mid-stream, orig inferred, `handshake_seen: false`",
      first(lambda e: e["type"] == "close" and not e["handshake_seen"]))
out += ["## `anomaly`", ""]
for name in ["fin_retransmit", "final_ack_retransmit", "reset_during_teardown", "time_wait_reuse",
             "time_wait_reset", "data_after_fin", "reset_out_of_window"]:
    block(f"`{name}`", first(lambda e: e["type"] == "anomaly" and e["anomaly"] == name))
    if name == "fin_retransmit":
        block("`fin_retransmit` after the record, the final ACK lost past the capture point (`interval_ms` only)",
              first(lambda e: e["type"] == "anomaly" and e["anomaly"] == name and "intervals_ms" not in e))
out += ["The lingering names (`close_wait_lingering`, `fin_wait_2_lingering`, `last_ack_lingering`) appear",
        "in a close record's `anomalies` once the alert fired. `capture_drops` appears there too, on records",
        "of connections tracked while libpcap dropped packets; only a live capture drops, so no file here",
        "shows it.", ""]
out += ["## `alert`", ""]
for name in ["close_wait_lingering", "fin_wait_2_lingering", "last_ack_lingering"]:
    for status in ["firing", "resolved"]:
        block(f"`{name}` {status}", first(lambda e: e["type"] == "alert" and e["alert"] == name and e["status"] == status))
out += ["Live alerts add `process` where the stuck side is a socket on this host, as in the README.", ""]
out += ["## `start` and `stop`", ""]
for kind in ["start", "stop"]:
    block(f"`{kind}`", first(lambda e: e["type"] == kind))
(HERE.parent.parent.parent / "docs" / "examples.md").write_text("\n".join(out))
