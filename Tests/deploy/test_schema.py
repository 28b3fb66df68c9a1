"""The contract as a JSON Schema (schema/finwatch-event.schema.json): every golden line, every
documented line and a live run's lines are valid, strictly (every field they carry is in the
schema); and the schema does reject what breaks the contract."""
from __future__ import annotations

import glob
import json
import re
from pathlib import Path

import jsonschema
import pytest

from contract import errors, schema, validator

REPO = Path(__file__).resolve().parents[2]
GOLDEN = sorted((REPO / "Tests" / "finwatchTests" / "Golden").glob("*.jsonl"))
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def documented_lines() -> list[tuple[str, str]]:
    out = []
    for doc in DOCUMENTS:
        for number, line in enumerate(doc.read_text().splitlines(), 1):
            if line.startswith('{"type":'):
                out.append((f"{doc.relative_to(REPO)}:{number}", line))
    return out


def golden_lines() -> list[tuple[str, str]]:
    return [(f"{p.name}:{n}", line) for p in GOLDEN for n, line in enumerate(p.read_text().splitlines(), 1)]


def test_schema_isValidDraft202012():
    jsonschema.Draft202012Validator.check_schema(schema())
    jsonschema.Draft202012Validator.check_schema(validator(strict=True).schema)


def test_goldenLines_allValidStrictly():
    lines = golden_lines()
    assert len(lines) > 50 and len(GOLDEN) >= 15
    bad = [(where, e) for where, line in lines for e in errors(line)]
    assert not bad, bad[:10]
    # Every event type the files can hold is there at least once.
    assert {json.loads(line)["type"] for _, line in lines} >= {"start", "close", "alert", "anomaly", "stop"}


def test_documentedLines_allValidStrictly():
    lines = documented_lines()
    assert len(lines) >= 25, "docs/examples.md and the README hold the documented lines"
    bad = [(where, e) for where, line in lines for e in errors(line)]
    assert not bad, bad[:10]


def test_everyCloseClassAnomalyAndAlertState_isDocumentedAndValid():
    events = [json.loads(line) for _, line in documented_lines()]
    s = schema()["$defs"]
    assert {e["close"] for e in events if e["type"] == "close"} == set(s["close"]["properties"]["close"]["enum"])
    assert {(e["alert"], e["status"]) for e in events if e["type"] == "alert"} == {
        (a, st) for a in s["alert"]["properties"]["alert"]["enum"] for st in ("firing", "resolved")}


def test_documentedCloses_carryZeeksConnState_asTheREADMEMapsThem():
    pairs = {(e["close"], e["conn_state"]) for e in map(json.loads, (l for _, l in documented_lines()))
             if e["type"] == "close"}
    for expected in [("normal", "SF"), ("simultaneous", "SF"), ("refused", "REJ"), ("no_answer", "S0"),
                     ("reset", "RSTR"), ("reset_after_fin", "RSTR"), ("half_closed", "S2"), ("unterminated", "S1")]:
        assert expected in pairs, f"{expected} not among {sorted(pairs)}"


CLOSE = ('{"type":"close","ts":"2026-11-25T02:04:11.030040Z","uid":"C1","community_id":"1:xQZANw9XhJ8ispgei0XMYN8DqNY=",'
         '"orig":{"ip":"198.18.1.2","port":40022},"resp":{"ip":"198.18.2.2","port":80},"handshake_seen":true,"close":"normal",'
         '"active_closer":"orig","reset_by":null,"reset_state":null,"states":{"orig":"TIME_WAIT","resp":"CLOSED"},'
         '"durations_ms":{"fin_wait_1":0.05,"fin_wait_2":19.95,"close_wait":20.0,"last_ack":0.04,"teardown":20.04,"lifetime":30.04},'
         '"retransmits":{"orig_fin":0,"resp_fin":0,"final_ack":0},"anomalies":[],"sequence":[{"from":"orig","flags":"FA","ms":0.0}],'
         '"history":"ShADaFf","conn_state":"SF","packets":{"orig":5,"resp":4}}')


def mutated(**changes) -> str:
    event = json.loads(CLOSE)
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = event
        for p in parents:
            node = node[p]
        if value is ...:
            del node[leaf]
        else:
            node[leaf] = value
    return json.dumps(event)


def test_wellFormedClose_isValid():
    assert errors(CLOSE) == []


@pytest.mark.parametrize("change", [
    {"close": ...},                                   # a contract field dropped
    {"close": "closed"},                              # a value outside the contract's list
    {"active_closer": "server"},
    {"ts": "2026-11-25T02:04:11Z"},                   # microseconds are part of the format
    {"uid": "1"},
    {"states__orig": "TIMEWAIT"},
    {"durations_ms__teardown": -1.0},
    {"durations_ms__lifetime": ...},
    {"retransmits__orig_fin": 0.5},
    {"orig__port": 70000},
    {"sequence": [{"from": "orig", "flags": "AF", "ms": 0.0}]},   # letters out of S F R P A order
    {"anomalies": ["made_up"]},
    {"type": "closed"},
    {"conn_state": ...},
    {"conn_state": "SFX"},
])
def test_contractBreakingClose_isRejected_evenByThePublishedSchema(change):
    line = mutated(**change)
    assert errors(line, strict=False), f"accepted: {change}"


def test_unknownField_isAcceptedByThePublishedSchema_butNotByTheStrictOne():
    line = mutated(new_field=1)
    assert errors(line, strict=False) == []
    assert any("new_field" in e for e in errors(line, strict=True))


def test_liveAlertNamingAPod_isValidStrictly():
    """What an alert from a DaemonSet carries for a program in a pod (KubernetesPodsTests writes it)."""
    line = ('{"type":"alert","ts":"2026-11-25T02:04:12.500000Z","uid":"C7","community_id":"1:CGUnFEUGIgUUGRns5kutAoEtjHk=",'
            '"orig":{"ip":"198.18.0.1","port":40022},"resp":{"ip":"198.18.0.2","port":8080},"handshake_seen":true,'
            '"alert":"close_wait_lingering","status":"firing","side":"resp","state":"CLOSE_WAIT",'
            '"since":"2026-11-25T02:03:11.000000Z","duration_ms":60000.0,"threshold_ms":60000.0,'
            '"process":{"pid":4242,"comm":"gunicorn","unit":null,"kernel_confirmed":true,'
            '"pod":{"namespace":"payments","name":"api-7c9f8d6b5-x2kqz"}}}')
    assert errors(line) == []
    assert errors(line.replace('"namespace":"payments",', ""), strict=False)


PORT_EXHAUSTION = ('{"type":"anomaly","ts":"2026-12-03T17:34:02.924275Z","uid":"C40","community_id":"1:Cjc9uvDMh8AdthrSKxQ5pkDiUjs=",'
                   '"orig":{"ip":"127.0.0.1","port":40029},"resp":{"ip":"127.0.0.1","port":5432},"handshake_seen":true,'
                   '"anomaly":"port_exhaustion","side":"orig","count":40,"time_wait":39,"threshold":40,'
                   '"port_range":{"low":40000,"high":40049}}')


def test_portExhaustion_isValidStrictly_andNeedsItsFigures():
    """The live line Tests/faults/test_port_exhaustion.py gets (one run, verbatim)."""
    assert errors(PORT_EXHAUSTION) == []
    event = json.loads(PORT_EXHAUSTION)
    for field in ("time_wait", "threshold", "port_range", "count", "side"):
        broken = {k: v for k, v in event.items() if k != field}
        assert errors(json.dumps(broken), strict=False), f"accepted without {field}"
    assert errors(json.dumps({**event, "side": "resp"}), strict=False)
    assert errors(json.dumps({**event, "port_range": {"low": 40000}}), strict=False)
    assert errors(json.dumps({**event, "port_range": {"low": 0, "high": 70000}}), strict=False)


TUNNEL_CAPTURES = [
    "suricata-verify/vxlan-decoder-03/vxlan.pcap",        # VXLAN
    "suricata-verify/bug-4810/pppoe-session-http.pcap",   # PPPoE session
    "tcpdump/gso-ipv6-geneve-ipv6.pcap",                  # Geneve over IPv6
    "tcpdump/wccp_redirect_gre.pcap",                     # GRE
]


@pytest.mark.parametrize("capture", TUNNEL_CAPTURES)
def test_tunnelledConnectionLines_validStrictly_withTheirTunnel(finwatch_bin, capture):
    import subprocess
    out = subprocess.run([finwatch_bin, "--read", str(REPO / "Tests" / "Corpus" / capture)],
                         capture_output=True, text=True, timeout=60, check=True).stdout.splitlines()
    closes = [line for line in out if line.startswith('{"type":"close"')]
    assert closes and all('"tunnel":[' in line for line in closes), closes
    bad = [(capture, e) for line in out for e in errors(line)]
    assert not bad, bad[:10]


def test_tunnel_rejectsAFieldOrIdentifierItDoesNotName():
    base = {"kind": "vxlan", "outer": {"src": "198.18.9.1", "dst": "198.18.9.2"}, "vni": 42}
    v = jsonschema.Draft202012Validator({"$ref": "#/$defs/tunnel", "$defs": schema()["$defs"]},
                                        format_checker=jsonschema.FormatChecker())
    assert not list(v.iter_errors([base]))
    for broken in ({**base, "teid": 1}, {**base, "extra": 1}, {**base, "vni": 1 << 24},
                   {"kind": "mpls", "label": 16, "outer": base["outer"]}, {"kind": "warp"}, {"kind": "gtpu", "outer": base["outer"]}):
        assert list(v.iter_errors([broken])), broken
