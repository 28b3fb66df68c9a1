"""Scenario plumbing: socket programs, kernel-state pollers, the capture, finwatch, and the
field-by-field comparison of finwatch's events with the truth."""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import wire
from pcapread import read_pcap
from topology import Topology

HERE = Path(__file__).resolve().parent
STATE_NAMES = {"ESTAB": "ESTABLISHED", "FIN-WAIT-1": "FIN_WAIT_1", "FIN-WAIT-2": "FIN_WAIT_2",
               "CLOSE-WAIT": "CLOSE_WAIT", "CLOSING": "CLOSING", "LAST-ACK": "LAST_ACK",
               "TIME-WAIT": "TIME_WAIT", "SYN-SENT": "SYN_SENT", "SYN-RECV": "SYN_RECEIVED",
               "UNCONN": "CLOSED", "GONE": "CLOSED"}


class HarnessError(AssertionError):
    pass


class LineProc:
    """A child speaking JSON lines on stdout; every read is bounded by a timeout."""

    def __init__(self, argv: list[str], name: str):
        self.name = name
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, bufsize=0)
        self.buf = b""

    def readline(self, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    return None
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def write(self, obj: dict) -> None:
        self.proc.stdin.write((json.dumps(obj) + "\n").encode())
        self.proc.stdin.flush()

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)   # by PID: `ip netns exec` execs the program itself
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass


class Puppet(LineProc):
    """puppet.py in a host namespace."""

    def __init__(self, ns: str, name: str):
        super().__init__(["ip", "netns", "exec", ns, sys.executable, str(HERE / "puppet.py")], name)
        if not (self.readline(10) or {}).get("ready"):
            raise HarnessError(f"socket program {name} did not start: {self.proc.stderr.read1(4096) if self.proc.poll() is not None else ''}")

    def call(self, op: str, **kw) -> dict:
        # The program bounds its own blocking calls by kw["timeout"]; the reply gets 5 s more.
        wait = float(kw.get("timeout", 5)) + 5
        self.write({"op": op, **kw})
        rep = self.readline(wait)
        if rep is None:
            raise HarnessError(f"{self.name}: no reply to {op} {kw} within {wait}s")
        return rep

    def must(self, op: str, **kw) -> dict:
        rep = self.call(op, **kw)
        if not rep.get("ok"):
            raise HarnessError(f"{self.name}: {op} {kw} failed: {rep}")
        return rep

    def pipeline(self, cmds: list[dict], timeout: float = 30) -> list[dict]:
        """Many commands at once (for hundreds of connections): write all, then read all."""
        for c in cmds:
            self.write(c)
        out = []
        deadline = time.monotonic() + timeout
        for c in cmds:
            rep = self.readline(max(0.1, deadline - time.monotonic()))
            if rep is None:
                raise HarnessError(f"{self.name}: pipeline stalled at {c}")
            out.append(rep)
        return out


class StatePoller(LineProc):
    """sspoll.py in a host namespace: the kernel's own view of every socket's state."""

    def __init__(self, ns: str, name: str, interval: float, limit: float):
        super().__init__(["ip", "netns", "exec", ns, sys.executable, str(HERE / "sspoll.py"),
                          str(interval), str(limit)], name)
        if not (self.readline(10) or {}).get("ready"):
            raise HarnessError(f"state poller {name} did not start")
        self.changes: list[dict] = []

    def stop(self) -> list[dict]:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            rec = self.readline(max(0.05, deadline - time.monotonic()))
            if rec is None:
                break
            self.changes.append(rec)
        self.kill()
        return self.changes


class Capture:
    def __init__(self, ns: str, iface: str, path: Path):
        self.path = path
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, "tcpdump", "-i", iface, "-w", str(path),
                                      "-U", "--immediate-mode", "-s", "256", "-n", "-Z", "root", "tcp"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, bufsize=0)
        # --immediate-mode: with libpcap's TPACKET_V3 ring, packets otherwise wait for a block
        # timeout (1 s) and those still in the ring when tcpdump is stopped are never written.
        # tcpdump says "listening on" once the capture is active: only then may traffic start.
        deadline = time.monotonic() + 10
        err = b""
        fd = self.proc.stderr.fileno()
        while b"listening on" not in err:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self.stop()
                raise HarnessError(f"tcpdump did not start: {err.decode(errors='replace')}")
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 4096)
                if not chunk:
                    continue
                err += chunk
        self.stderr = err

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        try:
            self.proc.stderr.close()
        except OSError:
            pass


@dataclass
class FinwatchRun:
    argv: list[str]
    returncode: int
    events: list[dict]
    stderr: str
    bad_lines: list[str]


def run_finwatch(binary: str, pcap: Path, thresholds: dict[str, str]) -> FinwatchRun:
    argv = [binary, "--read", str(pcap)]
    for k in ("close-wait-threshold", "fin-wait-2-threshold", "last-ack-threshold", "time-wait"):
        argv += [f"--{k}", thresholds[k]]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return FinwatchRun(argv, -1, [], "timed out after 60 s", [])
    events, bad = [], []
    for line in p.stdout.splitlines():
        if not line.strip():
            continue
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            bad.append(line)
    return FinwatchRun(argv, p.returncode, events, p.stderr, bad)


@dataclass
class Mismatch:
    scenario: str
    conn: str
    field: str
    finwatch: object
    truth: object
    why: str = ""


def ep_of(obj: dict | None) -> tuple[str, int] | None:
    if not isinstance(obj, dict):
        return None
    return (str(obj.get("ip")), int(obj.get("port", -1)))


@dataclass
class Result:
    scenario: str
    conns: dict
    kernel: dict[str, list[dict]]
    fw: FinwatchRun
    pcap: Path
    mismatches: list[Mismatch] = field(default_factory=list)
    expected_anomalies: dict[str, set] = field(default_factory=dict)

    # -- truth access ------------------------------------------------------------------------
    def conn(self, a: tuple[str, int], b: tuple[str, int], incarnation: int = 0) -> wire.WireConn:
        key = frozenset([tuple(a), tuple(b)])
        c = self.conns.get(key if incarnation == 0 else (key, incarnation))
        if c is None:
            raise HarnessError(f"{self.scenario}: no segments of {a}<->{b} (#{incarnation}) in {self.pcap}")
        return c

    def kernel_states(self, host: str, local: tuple[str, int], peer: tuple[str, int]) -> list[str]:
        """Distinct successive states the kernel showed for this socket (ss names mapped to RFC names)."""
        seq: list[str] = []
        for ch in self.kernel.get(host, []):
            if (ch["local"][0], ch["local"][1]) == tuple(local) and (ch["peer"][0], ch["peer"][1]) == tuple(peer):
                st = STATE_NAMES.get(ch["state"], ch["state"])
                if not seq or seq[-1] != st:
                    seq.append(st)
        return seq

    def kernel_time_entered(self, host: str, local, peer, state: str) -> float | None:
        for ch in self.kernel.get(host, []):
            if (ch["local"][0], ch["local"][1]) == tuple(local) and (ch["peer"][0], ch["peer"][1]) == tuple(peer) \
                    and STATE_NAMES.get(ch["state"], ch["state"]) == state:
                return ch["t"]
        return None

    # -- finwatch access ---------------------------------------------------------------------
    def fw_events(self, c: wire.WireConn, typ: str) -> list[dict]:
        want = {c.a, c.b}
        return [e for e in self.fw.events if e.get("type") == typ and {ep_of(e.get("orig")), ep_of(e.get("resp"))} == want]

    def fw_close(self, c: wire.WireConn, label: str, index: int = 0) -> dict | None:
        closes = self.fw_events(c, "close")
        if len(closes) <= index:
            self.mismatch(label, "close event", f"{len(closes)} close events", f"at least {index + 1}",
                          "every connection gets exactly one close record")
            return None
        return closes[index]

    # -- comparison --------------------------------------------------------------------------
    def mismatch(self, conn: str, fld: str, got, want, why: str = "") -> None:
        self.mismatches.append(Mismatch(self.scenario, conn, fld, got, want, why))

    def expect(self, conn: str, ev: dict | None, fld: str, want, why: str = "") -> None:
        if ev is None:
            return
        got = ev
        for part in fld.split("."):
            got = got.get(part, "<absent>") if isinstance(got, dict) else "<absent>"
        if got != want:
            self.mismatch(conn, fld, got, want, why)

    def expect_ms(self, conn: str, ev: dict | None, fld: str, want: float | None, tol: float = 0.0015, why: str = "") -> None:
        if ev is None:
            return
        got = ev
        for part in fld.split("."):
            got = got.get(part, "<absent>") if isinstance(got, dict) else "<absent>"
        if want is None:
            if got is not None:
                self.mismatch(conn, fld, got, None, why)
            return
        if not isinstance(got, (int, float)) or abs(got - want) > tol:
            self.mismatch(conn, fld, got, round(want, 3), why)

    def check_close(self, label: str, c: wire.WireConn, want: dict, index: int = 0) -> dict | None:
        """Compare one connection's close record with the expected values (derived from truth)."""
        self.expected_anomalies[label] = set(want.get("anomalies", []))
        ev = self.fw_close(c, label, index)
        if ev is None:
            return None
        self.expect(label, ev, "orig", {"ip": c.orig[0], "port": c.orig[1]}, "orig = SYN sender (or inferred)")
        self.expect(label, ev, "handshake_seen", c.handshake_seen, "SYN present in the capture")
        for k, v in want.items():
            if k == "durations_ms.close_wait":
                self.expect_ms(label, ev, k, v, why="passive FIN - first FIN at the capture point")
            elif k == "anomalies":
                got = ev.get("anomalies")
                if not isinstance(got, list) or sorted(set(got)) != sorted(set(v)):
                    self.mismatch(label, "anomalies", got, sorted(set(v)))
            else:
                self.expect(label, ev, k, v)
        self.check_derived(label, c, ev)
        return ev

    def check_derived(self, label: str, c: wire.WireConn, ev: dict) -> None:
        """sequence, packets and the phase durations, recomputed from the wire up to the packet
        that caused the close record (its `ts`)."""
        end = wire.parse_ts(ev.get("ts"))
        if end is None:
            self.mismatch(label, "ts", ev.get("ts"), "RFC 3339 UTC with microseconds")
            return
        for k, v in wire.derived_fields(c, end).items():
            if k.startswith("durations_ms."):
                self.expect_ms(label, ev, k, v, why="measured on the wire")
            elif k == "sequence":
                got = ev.get("sequence")
                ok = isinstance(got, list) and len(got) == len(v) and all(
                    isinstance(g, dict) and g.get("from") == w["from"] and g.get("flags") == w["flags"]
                    and isinstance(g.get("ms"), (int, float)) and abs(g["ms"] - w["ms"]) <= 0.0015
                    for g, w in zip(got, v))
                if not ok:
                    short = lambda q: [f"{x.get('from')}:{x.get('flags')}@{x.get('ms')}" for x in q] if isinstance(q, list) else q
                    self.mismatch(label, "sequence", short(got), short([{**w, "ms": round(w["ms"], 3)} for w in v]))
            else:
                self.expect(label, ev, k, v, "counted on the wire up to the close record")

    def check_anomaly_events(self, label: str, c: wire.WireConn, want: dict[str, int]) -> list[dict]:
        """Anomaly events for the connection. `want`: events that must be there, each that many
        times (those after the close record, which cannot be in its `anomalies` list); what the
        wire shows in TIME_WAIT after the final ACK is added to it where `want` does not name it
        (a race of the kernel's own, not of the scenario: see `WireConn.time_wait_aftermath`).
        An event named in the close record's expected `anomalies` may also appear (the contract
        leaves open whether those are events too); any other name is an invented anomaly."""
        want = {**c.time_wait_aftermath(), **want}
        evs = self.fw_events(c, "anomaly")
        got: dict[str, int] = {}
        for e in evs:
            got[e.get("anomaly")] = got.get(e.get("anomaly"), 0) + 1
        allowed = self.expected_anomalies.get(label, set())
        extra = {k: v for k, v in got.items() if k not in want and k not in allowed}
        missing = {k: v for k, v in want.items() if got.get(k) != v}
        if extra or missing:
            self.mismatch(label, "anomaly events", got, want if not allowed else f"{want} (+ optionally {sorted(allowed)})")
        return evs

    def check_alerts(self, label: str, c: wire.WireConn, want: list[tuple[str, str, str]]) -> list[dict]:
        """want: [(alert, status, side)] in order."""
        evs = self.fw_events(c, "alert")
        got = [(e.get("alert"), e.get("status"), e.get("side")) for e in evs]
        if got != want:
            self.mismatch(label, "alert events", got, want)
        return evs

    def check_kernel(self, label: str, host: str, local, peer, must_contain: list[str]) -> None:
        """Harness self-check: the kernel really went through the states the scenario is built on."""
        seq = self.kernel_states(host, local, peer)
        it = iter(seq)
        if not all(any(s == x for x in it) for s in must_contain):
            raise HarnessError(f"{self.scenario}/{label}: scenario did not happen as designed: kernel states of "
                               f"{host} {local}->{peer} were {seq}, expected to pass {must_contain}")

    def report(self) -> str:
        lines = [f"{len(self.mismatches)} mismatch(es) in {self.scenario} (pcap: {self.pcap}):"]
        for m in self.mismatches:
            lines.append(f"  [{m.conn}] {m.field}: finwatch said {m.finwatch!r}, truth said {m.truth!r}"
                         + (f"  ({m.why})" if m.why else ""))
        if self.fw.returncode != 0 or self.fw.bad_lines:
            lines.append(f"  finwatch exit {self.fw.returncode}; stderr: {self.fw.stderr.strip()[:400]}")
        return "\n".join(lines)


DEFAULT_THRESHOLDS = {"close-wait-threshold": "1s", "fin-wait-2-threshold": "1s",
                      "last-ack-threshold": "1s", "time-wait": "60s"}


class Scenario:
    """One scenario: capture + kernel pollers + socket programs, then finwatch over the pcap."""

    def __init__(self, topo: Topology, name: str, workdir: Path, finwatch: str, capture_point: str = "cap_a",
                 poll_interval: float = 0.02, poll_limit: float = 60, thresholds: dict | None = None,
                 start_capture: bool = True):
        self.topo, self.name, self.workdir, self.finwatch = topo, name, workdir, finwatch
        self.capture_point = capture_point
        self.thresholds = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
        self.pcap = workdir / f"{name}.pcap"
        self.puppets: list[Puppet] = []
        self.capture: Capture | None = None
        self.pollers: dict[str, StatePoller] = {}
        self.sysctl_restore: list[tuple[str, str, str]] = []
        self.undo: list = []
        try:
            self.pollers["A"] = StatePoller(topo.ns_a, "ss-A", poll_interval, poll_limit)
            self.pollers["B"] = StatePoller(topo.ns_b, "ss-B", poll_interval, poll_limit)
            if start_capture:
                self.start_capture()
        except BaseException:
            self.close()      # nothing half-started survives a failed start
            raise

    def start_capture(self) -> None:
        ns, iface = self.topo.capture_points[self.capture_point]
        self.capture = Capture(ns, iface, self.pcap)

    def puppet(self, host: str) -> Puppet:
        p = Puppet(self.topo.ns_a if host == "A" else self.topo.ns_b, f"{self.name}-{host}{len(self.puppets)}")
        self.puppets.append(p)
        return p

    def on_close(self, fn) -> None:
        """Undo something the scenario changed (a qdisc, ...) when it ends, failed or not."""
        self.undo.append(fn)

    def sysctl(self, host: str, key: str, value) -> None:
        ns = {"A": self.topo.ns_a, "B": self.topo.ns_b}[host]
        other = self.topo.ns_b if host == "A" else self.topo.ns_a
        before = self.topo.sysctl_get(other, key)
        self.sysctl_restore.append((ns, key, self.topo.sysctl_get(ns, key)))
        self.topo.sysctl(ns, key, value)
        # Only per-namespace sysctls may be used: if the other host saw the change, this kernel
        # keeps the knob global and the harness would be changing the machine's own TCP.
        if self.topo.sysctl_get(other, key) != before and str(value) != before:
            raise HarnessError(f"{key} is not per network namespace on this kernel; not using it")

    def close(self) -> None:
        """Tear down everything the scenario started (always called, also on failure)."""
        for p in self.puppets:
            p.kill()
        for p in self.pollers.values():
            if p.proc.poll() is None:
                p.stop()
        if self.capture:
            self.capture.stop()
        self.topo.nft_flush()
        for fn in reversed(self.undo):
            fn()
        self.undo.clear()
        for ns, key, val in reversed(self.sysctl_restore):
            self.topo.sysctl(ns, key, val)
        self.sysctl_restore.clear()

    def finish(self, settle: float = 0.3) -> Result:
        time.sleep(settle)   # let trailing segments reach the capture and the pollers see the end
        kernel = {h: p.stop() for h, p in self.pollers.items()}
        if self.capture:
            self.capture.stop()
        segs = read_pcap(str(self.pcap))
        fw = run_finwatch(self.finwatch, self.pcap, self.thresholds)
        (self.workdir / f"{self.name}.finwatch.jsonl").write_text("\n".join(json.dumps(e) for e in fw.events) + "\n")
        (self.workdir / f"{self.name}.kernel.json").write_text(json.dumps(kernel))
        res = Result(self.name, wire.connections(segs), kernel, fw, self.pcap)
        if fw.returncode != 0:
            res.mismatch("*", "exit status", fw.returncode, 0, fw.stderr.strip()[:300])
        for line in fw.bad_lines[:3]:
            res.mismatch("*", "output line", line[:200], "a JSON object")
        return res
