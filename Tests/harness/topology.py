"""Network-namespace topology for the ground-truth harness.

hostA --veth-- fwd1 (IPv4/IPv6 router) --veth-- fwd2 (bridge br0) --veth-- hostB

Every name carries the prefix ``fwh-<pid>-`` so leftovers of a crashed run are recognisable
(and removable) by ``cleanup_stale``.  Nothing here touches the host's own namespace: veth pairs
are created directly inside the test namespaces and nft rules live only in fwd1.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

PREFIX = "fwh-"

A4, B4 = "198.18.1.2", "198.18.2.2"
A6, B6 = "2001:db8:1::2", "2001:db8:2::2"
GW_A4, GW_B4 = "198.18.1.1", "198.18.2.1"
GW_A6, GW_B6 = "2001:db8:1::1", "2001:db8:2::1"


class TopologyError(RuntimeError):
    pass


def run(*argv: str, check: bool = True, timeout: float = 10.0, input: str | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, input=input)
    if check and proc.returncode != 0:
        raise TopologyError(f"{' '.join(argv)} -> {proc.returncode}: {proc.stderr.strip()}")
    return proc


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _delete_netns(name: str) -> None:
    # Processes left in a namespace of ours were started by an earlier harness run: end them by
    # PID (never by name) so the namespace can really go away.
    pids = run("ip", "netns", "pids", name, check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    run("ip", "netns", "delete", name, check=False)


def cleanup_stale() -> list[str]:
    """Remove namespaces named fwh-<pid>-* whose creating pytest process is gone."""
    removed = []
    out = run("ip", "netns", "list", check=False).stdout
    for line in out.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.match(rf"^{PREFIX}(\d+)-", name)
        if m and not _pid_alive(int(m.group(1))):
            _delete_netns(name)
            removed.append(name)
    return removed


@dataclass
class Topology:
    tag: str = field(default_factory=lambda: f"{PREFIX}{os.getpid()}")
    has_ethtool: bool = False
    offload_note: str = ""

    def __post_init__(self) -> None:
        self.ns_a = f"{self.tag}-A"
        self.ns_f1 = f"{self.tag}-F1"
        self.ns_f2 = f"{self.tag}-F2"
        self.ns_b = f"{self.tag}-B"
        self.namespaces = [self.ns_a, self.ns_f1, self.ns_f2, self.ns_b]
        # Capture points. cap_a: fwd1's port towards hostA (sees A->B before fwd1's forward hook,
        # B->A after it). cap_b: fwd2's bridge port towards hostB (sees B->A before fwd1, A->B
        # after it). Drops happen only in fwd1's forward chain, so the capture point decides
        # whether a dropped segment is "seen then lost" or "lost before the watcher".
        self.capture_points = {"cap_a": (self.ns_f1, "f1a"), "cap_b": (self.ns_f2, "f2b")}

    # -- helpers -----------------------------------------------------------------------------
    def ns_exec(self, ns: str, *argv: str, check: bool = True, timeout: float = 10.0) -> subprocess.CompletedProcess:
        return run("ip", "netns", "exec", ns, *argv, check=check, timeout=timeout)

    def sysctl(self, ns: str, key: str, value: str | int) -> None:
        self.ns_exec(ns, "sysctl", "-q", "-w", f"{key}={value}")

    def sysctl_get(self, ns: str, key: str) -> str:
        return self.ns_exec(ns, "sysctl", "-n", key).stdout.strip()

    # -- lifecycle ---------------------------------------------------------------------------
    def create(self) -> None:
        for ns in self.namespaces:
            run("ip", "netns", "add", ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
        # veth pairs created inside our namespaces only: the host namespace never sees them.
        run("ip", "-n", self.ns_a, "link", "add", "a0", "type", "veth", "peer", "name", "f1a", "netns", self.ns_f1)
        run("ip", "-n", self.ns_f1, "link", "add", "f1b", "type", "veth", "peer", "name", "f2a", "netns", self.ns_f2)
        run("ip", "-n", self.ns_f2, "link", "add", "f2b", "type", "veth", "peer", "name", "b0", "netns", self.ns_b)
        run("ip", "-n", self.ns_f2, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", self.ns_f2, "link", "set", "f2a", "master", "br0")
        run("ip", "-n", self.ns_f2, "link", "set", "f2b", "master", "br0")
        # No IPv6 DAD delays, no router solicitations: addresses usable at once.
        for ns in self.namespaces:
            self.sysctl(ns, "net.ipv6.conf.all.accept_dad", 0)
            self.sysctl(ns, "net.ipv6.conf.default.accept_dad", 0)
        self.sysctl(self.ns_f1, "net.ipv4.ip_forward", 1)
        self.sysctl(self.ns_f1, "net.ipv6.conf.all.forwarding", 1)
        addrs = [
            (self.ns_a, "a0", f"{A4}/24", f"{A6}/64"),
            (self.ns_f1, "f1a", f"{GW_A4}/24", f"{GW_A6}/64"),
            (self.ns_f1, "f1b", f"{GW_B4}/24", f"{GW_B6}/64"),
            (self.ns_b, "b0", f"{B4}/24", f"{B6}/64"),
        ]
        for ns, dev, v4, v6 in addrs:
            run("ip", "-n", ns, "addr", "add", v4, "dev", dev)
            run("ip", "-n", ns, "-6", "addr", "add", v6, "dev", dev, "nodad")
        for ns, dev in [(self.ns_a, "a0"), (self.ns_f1, "f1a"), (self.ns_f1, "f1b"),
                        (self.ns_f2, "f2a"), (self.ns_f2, "f2b"), (self.ns_f2, "br0"), (self.ns_b, "b0")]:
            run("ip", "-n", ns, "link", "set", dev, "up")
        run("ip", "-n", self.ns_a, "route", "add", "default", "via", GW_A4)
        run("ip", "-n", self.ns_a, "-6", "route", "add", "default", "via", GW_A6)
        run("ip", "-n", self.ns_b, "route", "add", "default", "via", GW_B4)
        run("ip", "-n", self.ns_b, "-6", "route", "add", "default", "via", GW_B6)
        self._disable_offloads()
        run("ip", "netns", "exec", self.ns_f1, "nft", "-f", "-", input=(
            "table inet fwh {\n"
            "  chain drops { type filter hook forward priority 0; policy accept; }\n"
            "}\n"))
        self._wait_reachable()

    def _disable_offloads(self) -> None:
        devs = [(self.ns_a, "a0"), (self.ns_f1, "f1a"), (self.ns_f1, "f1b"),
                (self.ns_f2, "f2a"), (self.ns_f2, "f2b"), (self.ns_b, "b0")]
        self.has_ethtool = run("sh", "-c", "command -v ethtool", check=False).returncode == 0
        if self.has_ethtool:
            for ns, dev in devs:
                self.ns_exec(ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off", check=False)
            self.offload_note = "ethtool -K tso/gso/gro off on every veth"
        else:
            # Without ethtool: gso_max_segs 1 on the senders' devices makes TCP build one
            # MSS-sized segment per skb, so what crosses the wire is what the kernel sent.
            for ns, dev in [(self.ns_a, "a0"), (self.ns_b, "b0")]:
                run("ip", "-n", ns, "link", "set", dev, "gso_max_segs", "1")
            self.offload_note = "ethtool missing: gso_max_segs=1 on a0/b0 instead of ethtool -K"

    def _wait_reachable(self) -> None:
        # No ping on the CI image: a TCP connect to a closed port that comes back refused proves
        # the path (and neighbour discovery) works both ways, for each family.
        probe = ("import socket,sys\n"
                 "for fam,addr in ((socket.AF_INET,%r),(socket.AF_INET6,%r)):\n"
                 "    s=socket.socket(fam); s.settimeout(1)\n"
                 "    try: s.connect((addr,9))\n"
                 "    except ConnectionRefusedError: pass\n"
                 "    except OSError as e: sys.exit(f'{addr}: {e}')\n") % (B4, B6)
        last = None
        for _ in range(10):
            last = self.ns_exec(self.ns_a, sys.executable, "-c", probe, check=False)
            if last.returncode == 0:
                return
            time.sleep(0.2)
        raise TopologyError(f"hostA cannot reach hostB: {last.stderr.strip() if last else ''}")

    def destroy(self) -> None:
        for ns in reversed(self.namespaces):
            _delete_netns(ns)

    # -- nft in fwd1 only --------------------------------------------------------------------
    def nft_add(self, rule: str) -> None:
        """Append a rule to fwd1's forward chain (the only place the harness drops segments)."""
        self.ns_exec(self.ns_f1, "nft", "add", "rule", "inet", "fwh", "drops", *rule.split())

    def nft_flush(self) -> None:
        self.ns_exec(self.ns_f1, "nft", "flush", "chain", "inet", "fwh", "drops", check=False)

    def nft_counters(self) -> list[int]:
        out = self.ns_exec(self.ns_f1, "nft", "list", "chain", "inet", "fwh", "drops").stdout
        return [int(m) for m in re.findall(r"counter packets (\d+)", out)]
