"""Copies on `any`: one segment crossing fwd2's bridge is captured on its way in (f2a), through
the bridge, and on its way out (f2b). A capture on `any` there holds each segment two or three
times, each copy with the interface it was seen on (LINUX_SLL2). finwatch must count each
segment once and take none of the copies for a retransmission, while a real retransmission
(a FIN lost further on, sent again 200 ms later) still is one.

Truth: a second capture of the same traffic on one interface (f2b) at the same time, whose
finwatch run the usual comparison has already checked against the wire and the kernel; the
`any` run must agree with it field for field, durations to the tolerance of the harness."""
from __future__ import annotations

import struct

from harness import Capture, HarnessError, run_finwatch
from pcapread import read_pcap
from test_teardown import FIN_LEN, finalize, normal_expect, open_conn, wire_self_check
from topology import B4

import pytest

# Fields of a close record that a copy must not change (durations are compared with tolerance).
# On `any` each segment's time is its first copy's: A->B segments at f2a, B->A ones at f2b, a
# bridge crossing (tens of microseconds) apart, while the one-interface truth times all at f2b,
# stamped by another capture socket. A duration between two segments may differ by twice the
# largest gap between a segment's time in the truth and its first copy's on `any`, as measured
# in the two captures themselves (`timing_skew_ms`): on an idle machine well under BRIDGE_MS,
# on a loaded one a few tenths of a millisecond.
BRIDGE_MS = 0.1


def timing_skew_ms(single_path, any_path) -> float:
    """The largest gap between a segment's time on f2b alone and its first copy's on `any`."""
    copies: dict[tuple, list[int]] = {}
    for seg in read_pcap(str(any_path)):
        copies.setdefault((seg.src, seg.dst, seg.flags, seg.seq, seg.ack, seg.payload), []).append(seg.t_us)
    skew_us = 0
    for seg in read_pcap(str(single_path)):
        times = copies.get((seg.src, seg.dst, seg.flags, seg.seq, seg.ack, seg.payload), [])
        # The copies of this very send: within finwatch's 20 ms copy window of it (a
        # retransmission of the same segment is hundreds of milliseconds away).
        near = [t for t in times if abs(t - seg.t_us) <= 20_000]
        if near:
            skew_us = max(skew_us, abs(min(near) - seg.t_us))
    return skew_us / 1000
SAME = ["close", "active_closer", "reset_by", "reset_state", "states", "retransmits", "anomalies",
        "history", "packets", "handshake_seen", "orig", "resp"]


def frames(path) -> tuple[int, int]:
    """(link type, number of records) of a classic pcap file, whatever its link type."""
    data = path.read_bytes()
    end = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    linktype = struct.unpack(end + "I", data[20:24])[0]
    count, offset = 0, 24
    while offset + 16 <= len(data):
        incl = struct.unpack(end + "I", data[offset + 8:offset + 12])[0]
        offset += 16 + incl
        count += 1
    return linktype, count


def any_capture(s):
    """A second capture, on `any` in fwd2's namespace, for the scenario's lifetime."""
    cap = Capture(s.topo.ns_f2, "any", s.workdir / f"{s.name}.any.pcap")
    s.on_close(cap.stop)
    return cap


def compare_any(res, s, cap, single_close) -> dict:
    """finwatch over the `any` capture against its run over the single interface."""
    cap.stop()
    _, frames_single = frames(s.pcap)
    linktype, frames_any = frames(cap.path)
    if linktype not in (113, 276):
        raise HarnessError(f"a capture on any should be LINUX_SLL or LINUX_SLL2, it is link type {linktype}")
    if frames_any < 2 * frames_single:
        raise HarnessError(f"the any capture should hold every segment at least twice: {frames_any} frames "
                           f"against {frames_single} on f2b")
    run = run_finwatch(s.finwatch, cap.path, s.thresholds)
    if run.returncode != 0:
        res.mismatch("any", "exit status", run.returncode, 0, run.stderr.strip()[:300])
    closes = [e for e in run.events if e.get("type") == "close"]
    if len(closes) != 1:
        res.mismatch("any", "close records", len(closes), 1, "one connection, however many copies")
        return {}
    ev = closes[0]
    for k in SAME:
        if ev.get(k) != single_close.get(k):
            res.mismatch("any", k, ev.get(k), single_close.get(k), "the same connection seen on one interface")
    tolerance = max(BRIDGE_MS, 2 * timing_skew_ms(s.pcap, cap.path) + 0.02)
    for k, v in (single_close.get("durations_ms") or {}).items():
        got = (ev.get("durations_ms") or {}).get(k)
        if (got is None) != (v is None) or (v is not None and abs(got - v) > tolerance):
            res.mismatch("any", f"durations_ms.{k}", got, v,
                         f"copies are a bridge crossing apart (tolerance {tolerance:.3f} ms, from the captures)")
    if [(x["from"], x["flags"]) for x in ev.get("sequence", [])] != \
            [(x["from"], x["flags"]) for x in single_close.get("sequence", [])]:
        res.mismatch("any", "sequence", ev.get("sequence"), single_close.get("sequence"))
    stop = next((e for e in run.events if e.get("type") == "stop"), {})
    seen = stop.get("packets", {}).get("seen", 0)
    duplicate = stop.get("packets", {}).get("duplicate", 0)
    if seen - duplicate != frames_single:
        res.mismatch("any", "packets seen - duplicate", seen - duplicate, frames_single,
                     "every segment once: the frames of the one-interface capture")
    res.scenario += f" ({frames_any} frames on any, {frames_single} on f2b, {duplicate} copies set aside)"
    ev["_tolerance_ms"] = tolerance
    return ev


@pytest.mark.parametrize("family", [4, 6])
def test_any_copies_normal_close(scenario, family):
    s = scenario(capture_point="cap_b")
    cap = any_capture(s)
    a, b = s.puppet("A"), s.puppet("B")
    aep, bep, _ = open_conn(a, b, family)
    a.must("send", id="c", bytes=3000)
    b.must("recv", id="s", max=3000)
    b.must("send", id="s", bytes=5000)
    a.must("recv", id="c", max=5000)
    a.must("close", id="c")
    r = b.must("recv", id="s", until_eof=True, timeout=3)
    assert r["eof"], r
    b.must("close", id="s")
    res = s.finish()
    c = res.conn(aep, bep)
    wire_self_check(res, c, "normal", "orig")
    single = res.check_close("conn", c, normal_expect(c, "orig"))
    if single is None:
        finalize(res)
        return
    compare_any(res, s, cap, single)
    finalize(res)


def test_any_copies_keep_a_real_retransmission(scenario):
    # B closes first; its first FIN crosses fwd2 (two or three copies on `any`) and is dropped in
    # fwd1, further on. B sends it again after ~200 ms: a retransmission, whose copies are again
    # copies. finwatch on `any` must report exactly what it reports from f2b alone: one resp FIN
    # retransmission, at the interval the wire shows.
    s = scenario(capture_point="cap_b")
    cap = any_capture(s)
    a, b = s.puppet("A"), s.puppet("B")
    aep, bep, port = open_conn(a, b)
    s.topo.nft_add(f"ip saddr {B4} tcp sport {port} tcp flags & fin == fin quota until {FIN_LEN[4] + FIN_LEN[4] // 2} bytes counter drop")
    b.must("close", id="s")
    r = a.must("recv", id="c", until_eof=True, timeout=5)
    assert r["eof"], r
    a.must("close", id="c")
    res = s.finish()
    c = res.conn(aep, bep)
    wire_self_check(res, c, "normal", "resp")
    if s.topo.nft_counters()[:1] != [1]:
        raise HarnessError(f"expected exactly 1 FIN copy dropped, nft counted {s.topo.nft_counters()}")
    if c.fin_retransmits("resp") != 1:
        raise HarnessError(f"f2b should show resp's FIN twice, it shows {c.fin_retransmits('resp')} retransmissions")
    want = normal_expect(c, "resp")
    want["retransmits"] = {"orig_fin": 0, "resp_fin": 1, "final_ack": 0}
    want["anomalies"] = ["fin_retransmit"]
    single = res.check_close("conn", c, want)
    if single is None:
        finalize(res)
        return
    ev = compare_any(res, s, cap, single)
    intervals = (ev.get("fin_retransmit_intervals_ms") or {}).get("resp") or []
    wire = c.fin_intervals_ms("resp")
    # Both sends of resp's FIN are first seen at f2b, but by another capture socket than the
    # truth's, which stamps the same frame a few microseconds apart.
    if len(intervals) != 1 or abs(intervals[0] - wire[0]) > ev.get("_tolerance_ms", BRIDGE_MS):
        res.mismatch("any", "fin_retransmit_intervals_ms.resp", intervals, [round(x, 3) for x in wire])
    finalize(res)
