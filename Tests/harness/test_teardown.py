"""Ground truth for finwatch: real Linux TCP teardowns between two network namespaces, captured
on the forwarding path, compared field by field with what finwatch reports from that capture.

Every expected value is derived from the truth (the capture read by our own parser, the kernel's
socket states polled with ss, and what the socket programs observed); the comment on each says
why. A scenario that did not happen as designed (the kernel went elsewhere) fails as a harness
error, never as a finwatch mismatch."""
from __future__ import annotations

import itertools
import time

import pytest

from conftest import record
from harness import HarnessError, Result, ep_of
from pcapread import Segment
from topology import A4, A6, B4, B6

PORTS = itertools.count(20001)   # below the ephemeral range: the server side is recognisable
FIN_LEN = {4: 52, 6: 72}          # IP length of a bare FIN/ACK or ACK with the timestamp option


def addrs(family: int) -> tuple[str, str]:
    return (A4, B4) if family == 4 else (A6, B6)


def ep(obj) -> tuple[str, int]:
    return (obj[0], obj[1])


def open_conn(a, b, family=4, port=None, bind_port=None, listen=True, sid="s", cid="c"):
    """B listens, A connects, B accepts. Returns (A endpoint, B endpoint, port)."""
    port = port or next(PORTS)
    ai, bi = addrs(family)
    if listen:
        b.must("listen", id=f"L{port}", family=family, addr=bi, port=port)
    kw = {"bind_addr": ai, "bind_port": bind_port, "reuseaddr": True} if bind_port else {}
    c = a.must("connect", id=cid, family=family, addr=bi, port=port, **kw)
    b.must("accept", id=f"L{port}", new=sid)
    return ep(c["local"]), (bi, port), port


def finalize(res: Result) -> None:
    record(res)
    assert not res.mismatches, res.report()


def normal_expect(c, closer: str) -> dict:
    """Both FINs acknowledged, no RST: `normal`; the closer's peer went through CLOSE_WAIT and
    LAST_ACK, so when the final ACK is seen the closer is in TIME_WAIT and the peer CLOSED."""
    other = "resp" if closer == "orig" else "orig"
    return {"close": "normal", "active_closer": closer, "reset_by": None, "reset_state": None,
            "states": {closer: "TIME_WAIT", other: "CLOSED"},
            "durations_ms.close_wait": c.close_wait_ms,
            "retransmits": {"orig_fin": 0, "resp_fin": 0, "final_ack": 0}, "anomalies": []}


def wire_self_check(res: Result, c, want_class: str, want_closer=None) -> None:
    got = c.wire_class()
    if got != want_class or (want_closer is not None and c.active_closer != want_closer):
        raise HarnessError(f"{res.scenario}: the wire shows {got}/{c.active_closer}, scenario meant "
                           f"{want_class}/{want_closer}:\n{c.describe()}")


# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("closer", ["orig", "resp"])
def test_normal_close(scenario, family, closer):
    s = scenario()
    a, b = s.puppet("A"), s.puppet("B")
    aep, bep, _ = open_conn(a, b, family)
    a.must("send", id="c", bytes=2000)
    b.must("recv", id="s", max=2000)
    b.must("send", id="s", bytes=1000)
    a.must("recv", id="c", max=1000)
    first, second, fid, sid = (a, b, "c", "s") if closer == "orig" else (b, a, "s", "c")
    first.must("close", id=fid)
    r = second.must("recv", id=sid, until_eof=True, timeout=3)
    assert r["eof"], r
    time.sleep(0.15)            # a CLOSE_WAIT long enough for the 20 ms ss poller and a real close_wait
    second.must("close", id=sid)
    res = s.finish()
    c = res.conn(aep, bep)
    wire_self_check(res, c, "normal", closer)
    closer_host = "A" if closer == "orig" else "B"
    local, peer = (aep, bep) if closer_host == "A" else (bep, aep)
    res.check_kernel("closer", closer_host, local, peer, ["TIME_WAIT"])
    res.check_kernel("passive", "B" if closer_host == "A" else "A", peer, local, ["CLOSE_WAIT"])
    res.check_close("conn", c, normal_expect(c, closer))
    res.check_anomaly_events("conn", c, {})
    res.check_alerts("conn", c, [])
    finalize(res)


def test_close_wait_lingering(scenario):
    # FIN_WAIT_2 threshold far away: the orig side sits in FIN_WAIT_2 as long as resp lingers,
    # and only the CLOSE_WAIT alert is under test here.
    s = scenario(thresholds={"close-wait-threshold": "1s", "fin-wait-2-threshold": "30s"})
    a, b = s.puppet("A"), s.puppet("B")
    aep, bep, _ = open_conn(a, b)
    a.must("close", id="c")
    time.sleep(2.5)             # the program "forgets" to close for 2.5 s
    b.must("close", id="s")
    res = s.finish()
    c = res.conn(aep, bep)
    wire_self_check(res, c, "normal", "orig")
    res.check_kernel("resp", "B", bep, aep, ["CLOSE_WAIT"])
    want = normal_expect(c, "orig")
    want["anomalies"] = ["close_wait_lingering"]
    res.check_close("conn", c, want)
    alerts = res.check_alerts("conn", c, [("close_wait_lingering", "firing", "resp"),
                                          ("close_wait_lingering", "resolved", "resp")])
    if len(alerts) == 2:
        res.expect("alert", alerts[0], "state", "CLOSE_WAIT")
        res.expect("alert", alerts[0], "threshold_ms", 1000)
        # resp entered CLOSE_WAIT with orig's FIN and left it with its own FIN.
        res.expect_ms("alert", alerts[1], "duration_ms", c.close_wait_ms, why="resolved: whole CLOSE_WAIT on the wire")
        fin_ts = c.fins("orig")[0].t_us
        res.expect("alert", alerts[0], "since",
                   time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(fin_ts // 1_000_000)) + f".{fin_ts % 1_000_000:06d}Z",
                   "since = orig's FIN at the capture point")
    res.check_anomaly_events("conn", c, {})
    assert 2400 < c.close_wait_ms < 2700, c.close_wait_ms
    finalize(res)


def test_half_close_data_flows(scenario):
    s = scenario()
    a, b = s.puppet("A"), s.puppet("B")
    aep, bep, _ = open_conn(a, b)
    a.must("shutdown", id="c")                       # orig: SHUT_WR, keeps reading
    b.must("send_chunks", id="s", count=5, size=1000, interval=0.05)
    r = a.must("recv", id="c", max=5000, timeout=3)
    assert r["got"] == 5000, r
    b.must("close", id="s")
    r = a.must("recv", id="c", until_eof=True, timeout=3)
    assert r["eof"], r
    a.must("close", id="c")
    res = s.finish()
    c = res.conn(aep, bep)
    wire_self_check(res, c, "normal", "orig")
    if not any(x.src == bep and x.payload > 0 and x.t_us > c.fins("orig")[0].t_us for x in c.segs):
        raise HarnessError("no data from resp after orig's FIN on the wire")
    res.check_kernel("orig", "A", aep, bep, ["FIN_WAIT_2", "TIME_WAIT"])
    res.check_kernel("resp", "B", bep, aep, ["CLOSE_WAIT"])
    # Data from resp after orig's FIN is legal (orig only closed its sending direction): no anomaly.
    res.check_close("conn", c, normal_expect(c, "orig"))
    res.check_anomaly_events("conn", c, {})
    finalize(res)


@pytest.mark.parametrize("path", ["direct", "queued"])
def test_simultaneous_close_synchronized(scenario, request, path):
    """`direct`: both programs close on the same CLOCK_REALTIME instant over the bare veth
    path (tens of µs one way), so whether the FINs cross depends on scheduling; the expectation
    follows what the wire shows. `queued`: a 1 Mbit/s tbf on fwd1's hostB-facing port and 12
    datagrams sent just before hostA's FIN hold that FIN ~130 ms in the queue (below the 200 ms
    minimum RTO, so nothing is retransmitted), and hostB closes meanwhile: a real crossing with
    no loss, hostA's kernel passes CLOSING."""
    s = scenario(poll_interval=0.01)
    a, b = s.puppet("A"), s.puppet("B")
    aep, bep, _ = open_conn(a, b)
    filler = None
    if path == "queued":
        s.topo.ns_exec(s.topo.ns_f1, "tc", "qdisc", "replace", "dev", "f1b", "root", "tbf",
                       "rate", "1mbit", "burst", "1600", "limit", "100000")
        s.on_close(lambda: s.topo.ns_exec(s.topo.ns_f1, "tc", "qdisc", "del", "dev", "f1b", "root", check=False))
        filler = {"addr": B4, "port": 9, "count": 12, "size": 1400}
    if path == "direct":
        t = time.time() + 0.3
        a.write({"op": "close", "id": "c", "at": t})
        b.write({"op": "close", "id": "s", "at": t})
        assert a.readline(5)["ok"] and b.readline(5)["ok"]
    else:
        # hostA's FIN now waits ~130 ms behind the datagrams; hostB closes as soon as hostA's
        # close() returned, so its FIN is on the way before hostA's arrives, however loaded
        # the machine is.
        a.must("close", id="c", filler=filler)
        b.must("close", id="s")
    time.sleep(0.1)
    res = s.finish()
    c = res.conn(aep, bep)
    crossed = c.active_closer == "both"
    closing = [h for h, l, p in (("A", aep, bep), ("B", bep, aep)) if "CLOSING" in res.kernel_states(h, l, p)]
    request.node.user_properties.append(("crossed", crossed))
    print(f"FINs crossed on the wire: {crossed}; kernel CLOSING seen in {closing}\n{c.describe()}")
    if path == "queued" and not crossed:
        raise HarnessError(f"the queued path did not make the FINs cross:\n{c.describe()}")
    if crossed:
        # Neither FIN acknowledges the other: each side sent FIN before it received the peer's,
        # so both end in TIME_WAIT (via CLOSING) and there is no passive side. Retransmissions
        # (a FIN held in the queue past the RTO) are whatever the wire shows.
        ro, rr = c.fin_retransmits("orig"), c.fin_retransmits("resp")
        want = {"close": "simultaneous", "active_closer": "both", "reset_by": None, "reset_state": None,
                "states": {"orig": "TIME_WAIT", "resp": "TIME_WAIT"},
                "retransmits": {"orig_fin": ro, "resp_fin": rr, "final_ack": 0},
                "anomalies": ["fin_retransmit"] if ro or rr else []}
    else:
        want = normal_expect(c, c.active_closer)
    res.check_close("conn", c, want)
    res.check_anomaly_events("conn", c, {})
    fins = sorted([c.fins("orig")[0], c.fins("resp")[0]], key=lambda x: x.t_us)
    res.scenario += (f" (crossed={crossed}, FINs {(fins[1].t_us - fins[0].t_us) / 1000:.3f} ms apart at the capture, "
                     f"CLOSING in {closing or 'none'})")
    finalize(res)


def test_simultaneous_close_forced(scenario):
    """The path has no delay qdisc (no netem on this kernel), so a crossing is forced: orig's
    first FIN is lost after the capture point; resp closes while orig is in FIN_WAIT_1, so
    neither FIN acknowledges the other and orig goes through CLOSING."""
    s = scenario(capture_point="cap_a")
    a, b = s.puppet("A"), s.puppet("B")
    aep, bep, port = open_conn(a, b)
    s.topo.nft_add(f"ip saddr {A4} tcp dport {port} tcp flags & fin == fin quota until {FIN_LEN[4] + FIN_LEN[4] // 2} bytes counter drop")
    a.must("close", id="c")
    time.sleep(0.05)
    b.must("close", id="s")
    time.sleep(0.8)
    res = s.finish()
    c = res.conn(aep, bep)
    wire_self_check(res, c, "simultaneous", "both")
    res.check_kernel("orig", "A", aep, bep, ["FIN_WAIT_1", "CLOSING", "TIME_WAIT"])
    # orig's FIN went out twice with the same sequence number: one retransmission.
    want = {"close": "simultaneous", "active_closer": "both", "reset_by": None, "reset_state": None,
            "states": {"orig": "TIME_WAIT", "resp": "TIME_WAIT"},
            "retransmits": {"orig_fin": c.fin_retransmits("orig"), "resp_fin": 0, "final_ack": 0},
            "anomalies": ["fin_retransmit"]}
    assert c.fin_retransmits("orig") == 1
    res.check_close("conn", c, want)
    res.check_anomaly_events("conn", c, {})
    finalize(res)


@pytest.mark.parametrize("loss", ["after_capture", "before_capture"])
def test_fin_retransmissions(scenario, loss):
    # Drops are in fwd1's forward hook. after_capture: capture on fwd1's hostA port, so finwatch
    # sees all three copies of orig's FIN and hostB only the third. before_capture: capture on
    # fwd2's hostB port, so finwatch sees only the copy that got through, like hostB.
    s = scenario(capture_point="cap_a" if loss == "after_capture" else "cap_b")
    a, b = s.puppet("A"), s.puppet("B")
    aep, bep, port = open_conn(a, b)
    s.topo.nft_add(f"ip saddr {A4} tcp dport {port} tcp flags & fin == fin quota until {2 * FIN_LEN[4] + FIN_LEN[4] // 2} bytes counter drop")
    a.must("close", id="c")
    r = b.must("recv", id="s", until_eof=True, timeout=5)
    assert r["eof"], r
    b.must("close", id="s")
    res = s.finish()
    c = res.conn(aep, bep)
    wire_self_check(res, c, "normal", "orig")
    if s.topo.nft_counters()[:1] != [2]:
        raise HarnessError(f"expected exactly 2 FIN copies dropped, nft counted {s.topo.nft_counters()}")
    want = normal_expect(c, "orig")
    if loss == "before_capture":
        # The kernel sent the FIN three times, but the capture point saw one: nothing to report.
        if c.fin_retransmits("orig") != 0:
            raise HarnessError(f"capture saw {c.fin_retransmits('orig')} FIN retransmissions")
        res.check_close("conn", c, want)
        res.check_anomaly_events("conn", c, {})
        finalize(res)
        return
    iv = c.fin_intervals_ms("orig")
    if c.fin_retransmits("orig") != 2:
        raise HarnessError(f"expected exactly 2 FIN copies lost, wire shows {c.fin_retransmits('orig')} retransmits")
    # Linux 6.x: the first copy after ~200 ms is a tail loss probe, the second the RTO, so the
    # first two intervals are both ~200 ms; back-off doubles only from the next one on.
    if not (iv[0] >= 150 and iv[1] >= 0.9 * iv[0]):
        raise HarnessError(f"FIN retransmission intervals not ~200 ms and non-decreasing: {iv}")
    want["retransmits"] = {"orig_fin": 2, "resp_fin": 0, "final_ack": 0}
    want["anomalies"] = ["fin_retransmit"]
    ev = res.check_close("conn", c, want)
    for e in res.fw_events(c, "anomaly"):
        if e.get("anomaly") == "fin_retransmit" and e.get("side") != "orig":
            res.mismatch("conn", "fin_retransmit.side", e.get("side"), "orig")
    check_fin_gaps(res, c, "orig")
    # The intervals, where finwatch reports them (an event per retransmission may carry the
    # intervals so far): each list is a prefix of the wire's, and the longest one is all of it.
    lists = [v for e in res.fw_events(c, "anomaly") + ([ev] if ev else [])
             for k, v in e.items() if "interval" in k and isinstance(v, list)]
    for v in lists:
        if len(v) > len(iv) or any(abs(x - y) > 0.0015 for x, y in zip(v, iv)):
            res.mismatch("conn", "intervals_ms", v, [round(x, 3) for x in iv], "FIN retransmission intervals on the wire")
    if lists and max(len(v) for v in lists) != len(iv):
        res.mismatch("conn", "intervals_ms (longest)", max(lists, key=len), [round(x, 3) for x in iv])
    res.scenario += f" (intervals {[round(x, 1) for x in iv]} ms)"
    finalize(res)


def check_fin_gaps(res, c, side: str):
    """Each fin_retransmit anomaly's `interval_ms` is the wire's gap from the copy before it."""
    wire = c.fin_intervals_ms(side)
    events = [e for e in res.fw_events(c, "anomaly") if e.get("anomaly") == "fin_retransmit" and e.get("side") == side]
    if len(events) != len(wire):
        res.mismatch("conn", f"fin_retransmit events ({side})", len(events), len(wire))
    for e, gap in zip(events, wire):
        got = e.get("interval_ms")
        if got is None or abs(got - gap) > 0.0015:
            res.mismatch("conn", f"fin_retransmit.interval_ms (count {e.get('count')})", got, round(gap, 3))


@pytest.mark.parametrize("loss", ["after_capture", "before_capture"])
def test_lost_final_ack(scenario, loss):
    s = scenario(capture_point="cap_a" if loss == "after_capture" else "cap_b")
    a, b = s.puppet("A"), s.puppet("B")
    aep, bep, port = open_conn(a, b)
    a.must("close", id="c")
    assert b.must("recv", id="s", until_eof=True, timeout=3)["eof"]
    # From now on orig's only pure ACK is the final one: lose its first copy.
    s.topo.nft_add(f"ip saddr {A4} tcp dport {port} tcp flags & (fin|syn|rst|ack) == ack "
                   f"quota until {FIN_LEN[4] + FIN_LEN[4] // 2} bytes counter drop")
    b.must("close", id="s")
    time.sleep(0.8)
    res = s.finish()
    c = res.conn(aep, bep)
    wire_self_check(res, c, "normal", "orig")
    res.check_kernel("resp", "B", bep, aep, ["LAST_ACK"])
    if s.topo.nft_counters()[:1] != [1]:
        raise HarnessError(f"expected exactly 1 final ACK dropped, nft counted {s.topo.nft_counters()}")
    if loss == "after_capture":
        if c.fin_retransmits("resp") != 1 or c.final_ack_retransmits() != 1:
            raise HarnessError(f"wire: resp FIN retransmits {c.fin_retransmits('resp')}, final ACK copies "
                               f"{c.final_ack_retransmits() + 1}:\n{c.describe()}")
        # The close record is written at the first final ACK (seen at the capture point); what
        # follows happens while orig is in TIME_WAIT: resp's FIN again, orig's ACK again.
        res.check_close("conn", c, normal_expect(c, "orig"))
        evs = res.check_anomaly_events("conn", c, {"fin_retransmit": 1, "final_ack_retransmit": 1})
        # resp sent its FIN again, orig its final ACK again.
        for e in evs:
            want_side = {"fin_retransmit": "resp", "final_ack_retransmit": "orig"}.get(e.get("anomaly"))
            if want_side and e.get("side") != want_side:
                res.mismatch("conn", f"{e.get('anomaly')}.side", e.get("side"), want_side)
        # The back-off is still measured after the record: resp's FIN again, ~200 ms after the first.
        check_fin_gaps(res, c, "resp")
    else:
        if c.fin_retransmits("resp") != 1 or c.final_ack_retransmits() != 0:
            raise HarnessError(f"wire: resp FIN retransmits {c.fin_retransmits('resp')}, final ACK copies "
                               f"{c.final_ack_retransmits() + 1}:\n{c.describe()}")
        # The lost ACK never reached the capture: resp's FIN went out twice before the one
        # final ACK seen, so the retransmission is in the close record itself.
        want = normal_expect(c, "orig")
        want["retransmits"] = {"orig_fin": 0, "resp_fin": 1, "final_ack": 0}
        want["anomalies"] = ["fin_retransmit"]
        res.check_close("conn", c, want)
        res.check_anomaly_events("conn", c, {})
    finalize(res)


@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("side", ["orig", "resp"])
def test_rst_abort(scenario, family, side):
    s = scenario()
    a, b = s.puppet("A"), s.puppet("B")
    aep, bep, _ = open_conn(a, b, family)
    a.must("send", id="c", bytes=500)
    b.must("recv", id="s", max=500)
    me, peer, mid, pid = (a, b, "c", "s") if side == "orig" else (b, a, "s", "c")
    me.must("close", id=mid, linger0=True)       # SO_LINGER {1, 0}: abortive close
    r = peer.call("recv", id=pid, timeout=2)
    assert r.get("errno") == "ECONNRESET", r     # the program saw the reset
    res = s.finish()
    c = res.conn(aep, bep)
    wire_self_check(res, c, "reset")
    # RST from an ESTABLISHED socket before any FIN.
    res.check_close("conn", c, {"close": "reset", "active_closer": None, "reset_by": side,
                                "reset_state": "ESTABLISHED", "states": {"orig": "CLOSED", "resp": "CLOSED"},
                                "anomalies": []})
    res.check_anomaly_events("conn", c, {})
    finalize(res)


def test_close_with_unread_data(scenario):
    s = scenario()
    a, b = s.puppet("A"), s.puppet("B")
    aep, bep, _ = open_conn(a, b)
    a.must("send", id="c", bytes=1000)
    time.sleep(0.1)
    b.must("close", id="s")                       # 1000 bytes unread: the kernel answers with RST
    r = a.call("recv", id="c", timeout=2)
    assert r.get("errno") == "ECONNRESET", r
    res = s.finish()
    c = res.conn(aep, bep)
    wire_self_check(res, c, "reset")
    if c.first_rst.src != bep or c.fins("resp"):
        raise HarnessError("expected a bare RST from resp")
    res.check_close("conn", c, {"close": "reset", "active_closer": None, "reset_by": "resp",
                                "reset_state": "ESTABLISHED", "anomalies": []})
    res.check_anomaly_events("conn", c, {})
    finalize(res)


@pytest.mark.parametrize("unread", [True, False], ids=["unread", "drained"])
def test_killed_in_close_wait(scenario, unread):
    s = scenario()
    a, b = s.puppet("A"), s.puppet("B")
    aep, bep, _ = open_conn(a, b)
    a.must("send", id="c", bytes=1000)
    if not unread:
        b.must("recv", id="s", max=1000)
    a.must("close", id="c")
    time.sleep(0.3)
    b.kill()                                      # SIGKILL while in CLOSE_WAIT
    time.sleep(0.2)
    res = s.finish()
    c = res.conn(aep, bep)
    res.check_kernel("resp", "B", bep, aep, ["CLOSE_WAIT"])
    if unread:
        # Killed in CLOSE_WAIT with unread data: the kernel sends RST from CLOSE_WAIT
        # -> reset_after_fin, reset_by=resp, reset_state=CLOSE_WAIT.
        wire_self_check(res, c, "reset_after_fin", "orig")
        res.check_close("conn", c, {"close": "reset_after_fin", "active_closer": "orig", "reset_by": "resp",
                                    "reset_state": "CLOSE_WAIT", "states": {"orig": "CLOSED", "resp": "CLOSED"},
                                    "anomalies": ["reset_during_teardown"]})
    else:
        # Nothing unread: the exit's implicit close() sends a FIN, an ordinary close.
        wire_self_check(res, c, "normal", "orig")
        res.check_close("conn", c, normal_expect(c, "orig"))
    res.check_anomaly_events("conn", c, {})
    finalize(res)


def test_fin_wait_2_timeout_then_late_fin(scenario):
    s = scenario(thresholds={"fin-wait-2-threshold": "1s", "close-wait-threshold": "30s"})
    s.sysctl("A", "net.ipv4.tcp_fin_timeout", 1)
    a, b = s.puppet("A"), s.puppet("B")
    aep, bep, _ = open_conn(a, b)
    a.must("close", id="c")                       # orphaned in FIN_WAIT_2: dies after ~1 s
    time.sleep(2.5)
    b.must("close", id="s")                       # late FIN: no socket left, hostA answers RST
    time.sleep(0.2)
    res = s.finish()
    c = res.conn(aep, bep)
    wire_self_check(res, c, "reset_after_fin", "orig")
    gone = res.kernel_time_entered("A", aep, bep, "CLOSED")
    late_fin = c.fins("resp")[0].t_us / 1e6
    if gone is None or gone > late_fin or c.first_rst.src != aep:
        raise HarnessError(f"hostA's FIN_WAIT_2 socket should be gone ({gone}) before resp's FIN ({late_fin})")
    # orig's RST answers from no connection (its socket timed out): reset_state CLOSED.
    res.check_close("conn", c, {"close": "reset_after_fin", "active_closer": "orig", "reset_by": "orig",
                                "reset_state": "CLOSED", "states": {"orig": "CLOSED", "resp": "CLOSED"},
                                "durations_ms.close_wait": c.close_wait_ms,
                                "anomalies": ["reset_during_teardown", "fin_wait_2_lingering"]})
    alerts = res.check_alerts("conn", c, [("fin_wait_2_lingering", "firing", "orig"),
                                          ("fin_wait_2_lingering", "resolved", "orig")])
    # The wire cannot show when hostA's socket gave up (only the RST proves it had): report the
    # kernel's own FIN_WAIT_2 time next to finwatch's, for the reader, without failing on it.
    entered = res.kernel_time_entered("A", aep, bep, "FIN_WAIT_2")
    kernel_ms = (gone - entered) * 1000 if entered and gone else None
    fw_ms = alerts[-1].get("duration_ms") if alerts else None
    res.scenario += f" (FIN_WAIT_2: kernel ~{kernel_ms:.0f} ms, finwatch {fw_ms} ms)" if kernel_ms else ""
    res.check_anomaly_events("conn", c, {})
    finalize(res)


def test_last_ack_gives_up(scenario):
    # Capture on hostB's side; everything from hostA is dropped in fwd1 once resp closes, so
    # resp's FIN is never acknowledged on the wire finwatch sees, and hostB gives up.
    s = scenario(capture_point="cap_b", thresholds={"last-ack-threshold": "300ms", "close-wait-threshold": "30s",
                                                    "fin-wait-2-threshold": "30s"})
    s.sysctl("B", "net.ipv4.tcp_orphan_retries", 1)
    a, b = s.puppet("A"), s.puppet("B")
    aep, bep, port = open_conn(a, b)
    a.must("close", id="c")
    assert b.must("recv", id="s", until_eof=True, timeout=3)["eof"]
    s.topo.nft_add(f"ip saddr {A4} tcp dport {port} counter drop")
    b.must("close", id="s")
    deadline = time.time() + 4
    while time.time() < deadline and s.topo.ns_exec(s.topo.ns_b, "ss", "-tanH", f"sport = :{port}").stdout.strip():
        time.sleep(0.05)
    # A later packet moves finwatch's offline clock past the threshold: a refused connect.
    a.call("connect", id="tick", addr=B4, port=next(PORTS), timeout=2)
    time.sleep(0.1)
    res = s.finish()
    c = res.conn(aep, bep)
    seq = res.kernel_states("B", bep, aep)
    if "LAST_ACK" not in seq or seq[-1] != "CLOSED":
        raise HarnessError(f"hostB did not give up in LAST_ACK: {seq}")
    n = c.fin_retransmits("resp")
    if n < 1 or c.fin_acked_at("resp"):
        raise HarnessError(f"wire: resp FIN retransmits {n}, acked {bool(c.fin_acked_at('resp'))}")
    ev = res.check_close("conn", c, {"active_closer": "orig", "reset_by": None, "reset_state": None,
                                     "states": {"orig": "TIME_WAIT", "resp": "LAST_ACK"},
                                     "retransmits": {"orig_fin": 0, "resp_fin": n, "final_ack": 0},
                                     "anomalies": ["fin_retransmit", "last_ack_lingering"]})
    # resp's FIN was never acknowledged on the wire: not a completed (normal) close.
    if ev is not None and ev.get("close") in ("normal", "simultaneous", "<absent>", None):
        res.mismatch("conn", "close", ev.get("close"), "not normal: resp's FIN never acknowledged")
    # Still in LAST_ACK at end of input: the alert fires and stays firing.
    res.check_alerts("conn", c, [("last_ack_lingering", "firing", "resp")])
    res.check_anomaly_events("conn", c, {})
    finalize(res)


@pytest.mark.parametrize("who", ["resp", "orig"], ids=["resp_in_time_wait", "orig_in_time_wait"])
def test_time_wait_reuse(scenario, who):
    s = scenario()
    if who == "orig":
        s.sysctl("A", "net.ipv4.tcp_tw_reuse", 1)  # lets hostA connect out of its own TIME_WAIT
    a, b = s.puppet("A"), s.puppet("B")
    cport = 41000 + (next(PORTS) % 1000)
    aep, bep, port = open_conn(a, b, bind_port=cport)
    first, second, fid, sid = (b, a, "s", "c") if who == "resp" else (a, b, "c", "s")
    first.must("close", id=fid)
    assert second.must("recv", id=sid, until_eof=True, timeout=3)["eof"]
    second.must("close", id=sid)
    time.sleep(1.1 if who == "orig" else 0.2)  # tw_reuse needs the TIME_WAIT timestamp >1 s old
    aep2, _, _ = open_conn(a, b, port=port, bind_port=cport, listen=False)
    assert aep2 == aep
    a.must("close", id="c")
    assert b.must("recv", id="s", until_eof=True, timeout=3)["eof"]
    b.must("close", id="s")
    res = s.finish()
    c1, c2 = res.conn(aep, bep, 0), res.conn(aep, bep, 1)
    wire_self_check(res, c1, "normal", who)
    host, local, peer = ("B", bep, aep) if who == "resp" else ("A", aep, bep)
    # The second incarnation lives a few ms (too short for the poller); TIME_WAIT is a fixed
    # 60 s on Linux, so the new SYN, well within it, met the 4-tuple in TIME_WAIT.
    res.check_kernel("first", host, local, peer, ["TIME_WAIT"])
    if not (c2.syn and c2.syn.t_us - c1.segs[-1].t_us < 50_000_000 and any(x.has(Segment.SYN) and x.has(Segment.ACK) for x in c2.segs)):
        raise HarnessError(f"second incarnation not accepted within TIME_WAIT:\n{c2.describe()}")
    # A new SYN on the 4-tuple while `who` is in TIME_WAIT: time_wait_reuse on the first
    # connection (its close record already written, so as an anomaly event).
    res.check_close("first", c1, normal_expect(c1, who), index=0)
    res.check_anomaly_events("first", c1, {"time_wait_reuse": 1})
    closes = res.fw_events(c1, "close")
    if len(closes) != 2:
        res.mismatch("*", "close events on the 4-tuple", len(closes), 2, "two incarnations")
    else:
        res.expect("second", closes[1], "close", "normal")
        res.expect("second", closes[1], "active_closer", "orig")
        res.expect_ms("second", closes[1], "durations_ms.close_wait", c2.close_wait_ms)
        if closes[0].get("uid") == closes[1].get("uid"):
            res.mismatch("second", "uid", closes[1].get("uid"), "a new uid", "a new connection")
    finalize(res)


def test_opened_before_capture(scenario):
    s = scenario(start_capture=False)
    a, b = s.puppet("A"), s.puppet("B")
    aep, bep, _ = open_conn(a, b)
    s.start_capture()
    a.must("send", id="c", bytes=1000)
    b.must("recv", id="s", max=1000)
    b.must("send", id="s", bytes=300)
    a.must("recv", id="c", max=300)
    a.must("close", id="c")
    assert b.must("recv", id="s", until_eof=True, timeout=3)["eof"]
    b.must("close", id="s")
    res = s.finish()
    c = res.conn(aep, bep)
    if c.handshake_seen:
        raise HarnessError("the SYN was captured")
    # hostA connected (truth from the program, not the wire): orig must be hostA's endpoint.
    want = normal_expect(c, "orig")
    want["handshake_seen"] = False
    want["orig"] = {"ip": aep[0], "port": aep[1]}
    res.check_close("conn", c, want)
    res.check_anomaly_events("conn", c, {})
    finalize(res)


MODES = ["orig_close", "resp_close", "orig_rst", "resp_rst", "resp_unread"]


def test_many_connections(scenario):
    n = 300
    s = scenario(poll_interval=0.2)
    a, b = s.puppet("A"), s.puppet("B")
    port = next(PORTS)
    b.must("listen", id="L", addr=B4, port=port, backlog=1024)
    conns = a.pipeline([{"op": "connect", "id": f"c{i}", "addr": B4, "port": port} for i in range(n)])
    accs = b.pipeline([{"op": "accept", "id": "L", "new": f"s{i}"} for i in range(n)])
    if not all(r["ok"] for r in conns + accs):
        raise HarnessError("connect/accept failed")
    a_by_port = {r["local"][1]: i for i, r in enumerate(conns)}
    pair = {}        # client index -> server socket id
    for j, r in enumerate(accs):
        pair[a_by_port[r["peer"][1]]] = f"s{j}"
    mode = {i: MODES[i % len(MODES)] for i in range(n)}
    a.pipeline([{"op": "send", "id": f"c{i}", "bytes": 100} for i in range(n) if mode[i] == "resp_unread"])
    time.sleep(0.2)
    a.pipeline([{"op": "close", "id": f"c{i}", "linger0": mode[i] == "orig_rst"}
                for i in range(n) if mode[i] in ("orig_close", "orig_rst")])
    time.sleep(0.3)
    b.pipeline([{"op": "close", "id": pair[i], "linger0": mode[i] == "resp_rst"} for i in range(n)])
    time.sleep(0.3)
    a.pipeline([{"op": "close", "id": f"c{i}"} for i in range(n) if mode[i] not in ("orig_close", "orig_rst")])
    res = s.finish(settle=0.5)
    want_class = {"orig_close": ("normal", "orig", None), "resp_close": ("normal", "resp", None),
                  "orig_rst": ("reset", None, "orig"), "resp_rst": ("reset", None, "resp"),
                  "resp_unread": ("reset", None, "resp")}
    bep = (B4, port)
    wrong: dict[str, list] = {}
    for i in range(n):
        aep = (A4, conns[i]["local"][1])
        c = res.conn(aep, bep)
        kind, closer, rby = want_class[mode[i]]
        wire_self_check(res, c, kind, closer)
        closes = res.fw_events(c, "close")
        got = [(e.get("close"), e.get("active_closer"), e.get("reset_by"), e.get("anomalies")) for e in closes]
        got += [("anomaly event", e.get("anomaly")) for e in res.fw_events(c, "anomaly")]
        if got != [(kind, closer, rby, [])]:
            wrong.setdefault(mode[i], []).append((aep[1], got))
    for m, lst in wrong.items():
        res.mismatch(f"{len(lst)} of {sum(1 for x in mode.values() if x == m)} {m} connections",
                     "close records (close, active_closer, reset_by)", f"e.g. port {lst[0][0]}: {lst[0][1]}",
                     [want_class[m] + ([],)], "exactly one close record with the right class, no anomaly")
    total = sum(1 for e in res.fw.events if e.get("type") == "close" and bep in (ep_of(e.get("orig")), ep_of(e.get("resp"))))
    if total != n:
        res.mismatch("*", f"close records on port {port}", total, n, "one per connection, none invented")
    finalize(res)


def test_refused(scenario):
    s = scenario()
    a = s.puppet("A")
    port = next(PORTS)                            # nobody listens here
    r = a.call("connect", id="c", addr=B4, port=port, timeout=3)
    assert r.get("errno") == "ECONNREFUSED", r
    res = s.finish()
    c = next(x for x in res.conns.values() if x.b[1] == port or x.a[1] == port)
    wire_self_check(res, c, "refused")
    # The SYN was answered by an RST from no socket: refused, reset by resp from CLOSED.
    res.check_close("conn", c, {"close": "refused", "active_closer": None, "reset_by": "resp",
                                "reset_state": "CLOSED", "anomalies": []})
    res.check_anomaly_events("conn", c, {})
    finalize(res)


def test_no_answer(scenario):
    s = scenario(capture_point="cap_a")
    s.sysctl("A", "net.ipv4.tcp_syn_retries", 1)
    a = s.puppet("A")
    port = next(PORTS)
    s.topo.nft_add(f"ip daddr {B4} tcp dport {port} counter drop")   # after the capture point
    r = a.call("connect", id="c", addr=B4, port=port, timeout=1.5)
    assert r.get("errno") == "ETIMEDOUT", r
    res = s.finish()
    c = next(x for x in res.conns.values() if x.b[1] == port or x.a[1] == port)
    wire_self_check(res, c, "no_answer")
    if not all(x.has(Segment.SYN) for x in c.segs) or len(c.segs) < 2:
        raise HarnessError(f"expected only SYNs (with a retransmission):\n{c.describe()}")
    res.check_close("conn", c, {"close": "no_answer", "active_closer": None, "reset_by": None,
                                "reset_state": None, "anomalies": []})
    res.check_anomaly_events("conn", c, {})
    finalize(res)
