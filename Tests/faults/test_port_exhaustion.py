"""Port exhaustion, live: in a network namespace of the test's own, the local port range narrowed
to 50 ports (the sysctl is per namespace) while finwatch runs there; a client opens and closes
connection after connection to one service on the namespace's loopback, closing first, so each
leaves its port in TIME_WAIT. finwatch must read the new range live, warn exactly once when the
40th port (0.8 of 50) is taken, with the figures the kernel would give, and show the gauges."""
from __future__ import annotations

import json
import os
import time

import pytest

from netns import Finwatch, json_lines

RANGE = (40000, 40049)
SERVICE = 5432
CONNECTIONS = 45
LISTEN = "127.0.0.1:9465"   # the namespace's own loopback: no other test's port

# Server and client in one process: each connection sends a line, reads the echo, shuts its side
# down first, and waits for the server's FIN before close(), so it sits in TIME_WAIT (its final
# ACK sent) before the next connect() picks a port.
CLIENT = r"""
import socket, sys, threading
port, count = int(sys.argv[1]), int(sys.argv[2])
server = socket.socket(); server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", port)); server.listen(128)
def serve():
    for _ in range(count):
        conn, _ = server.accept()
        conn.settimeout(10)
        conn.sendall(conn.recv(100))
        conn.recv(100)           # the client's FIN
        conn.close()
threading.Thread(target=serve, daemon=True).start()
ports = []
for _ in range(count):
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    c.settimeout(10)
    ports.append(c.getsockname()[1])
    c.sendall(b"ping\n"); c.recv(100)
    c.shutdown(socket.SHUT_WR)
    assert c.recv(100) == b""    # the server's FIN: this side is in TIME_WAIT now
    c.close()
print(" ".join(map(str, ports)), flush=True)
"""


def scrape(ns, name: str) -> float | None:
    out = ns.exec("python3", "-c",
                  f"import urllib.request; print(urllib.request.urlopen('http://{LISTEN}/metrics', timeout=5).read().decode())",
                  check=False).stdout
    for line in out.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def wait_for(what: str, check, timeout: float, diagnose=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}: {diagnose()}")


def run_clients(finwatch_bin, netns, tmp_path, workers: int):
    """finwatch with `workers` trackers in the namespace; the range narrowed live; the clients
    run. Returns (client ports in order, finwatch's events after it stopped)."""
    ns = netns("ports")
    fw = Finwatch(finwatch_bin, ns, ["--interface", "lo", "--filter", f"port {SERVICE}", "--listen", LISTEN,
                                     "--port-exhaustion-threshold", "0.8", "--stats-interval", "1h",
                                     "--workers", str(workers)], tmp_path)
    try:
        default = tuple(map(int, ns.exec("cat", "/proc/sys/net/ipv4/ip_local_port_range").stdout.split()))
        wait_for("finwatch serves the default range's size",
                 lambda: scrape(ns, "finwatch_ephemeral_ports_available") == default[1] - default[0] + 1, 20,
                 diagnose=fw.stderr)
        # Narrowed while finwatch runs: it must read the change live.
        ns.exec("sysctl", "-q", "-w", f"net.ipv4.ip_local_port_range={RANGE[0]} {RANGE[1]}")
        wait_for("finwatch sees the narrowed range", lambda: scrape(ns, "finwatch_ephemeral_ports_available") == 50, 10,
                 diagnose=fw.stderr)
        assert "local port range changed" in fw.stderr()

        out = ns.exec("python3", "-c", CLIENT, str(SERVICE), str(CONNECTIONS), timeout=60).stdout
        ports = [int(p) for p in out.split()]
        assert len(ports) == CONNECTIONS and all(RANGE[0] <= p <= RANGE[1] for p in ports), ports
        assert len(set(ports)) == CONNECTIONS, "the kernel reused a port within TIME_WAIT"
        # The kernel's truth: every client port is held in TIME_WAIT.
        held = ns.exec("ss", "-Htn", "state", "time-wait", f"( dport = :{SERVICE} )").stdout.splitlines()
        assert len(held) == CONNECTIONS, held

        def all_closed():
            events = json_lines(fw.stdout_path)
            return events if sum(e["type"] == "close" for e in events) == CONNECTIONS else None
        events = wait_for("every close record", all_closed, 15, diagnose=lambda: fw.stdout_path.read_text()[-2000:])
        # One destination: with several workers each holds its share, and the shares add up.
        assert wait_for("the gauge counts every held port",
                        lambda: scrape(ns, "finwatch_ephemeral_ports_used") == CONNECTIONS, 5)
    finally:
        status = fw.stop()
    assert status == 0, fw.stderr()
    return ports, json_lines(fw.stdout_path)


def test_narrowed_range_manyTimeWaits_warnOnceAtTheThreshold(finwatch_bin, netns, tmp_path):
    ports, events = run_clients(finwatch_bin, netns, tmp_path, workers=1)
    warnings = [e for e in events if e["type"] == "anomaly" and e["anomaly"] == "port_exhaustion"]
    assert len(warnings) == 1, json.dumps(warnings)
    [warning] = warnings
    assert warning["side"] == "orig"
    assert warning["count"] == 40, warning
    assert warning["threshold"] == 40
    assert warning["time_wait"] == 39, "the 39 connections before it were in TIME_WAIT"
    assert warning["port_range"] == {"low": RANGE[0], "high": RANGE[1]}
    assert warning["resp"] == {"ip": "127.0.0.1", "port": SERVICE}
    assert warning["orig"]["port"] == ports[39], "the 40th connection carries it"
    opened = {e["uid"]: e for e in events if e["type"] == "close"}
    assert opened[warning["uid"]]["orig"]["port"] == ports[39]


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="--workers 2 needs two cores")
def test_twoWorkers_eachWarnsAtItsShareOfTheThreshold(finwatch_bin, netns, tmp_path):
    """--workers 2: the fanout spreads one destination's connections over both trackers; each
    checks its half of the threshold (20) against its own count, so one warning per worker that
    reached it (docs/alerting.md), never a second from the same worker."""
    ports, events = run_clients(finwatch_bin, netns, tmp_path, workers=2)
    warnings = [e for e in events if e["type"] == "anomaly" and e["anomaly"] == "port_exhaustion"]
    assert 1 <= len(warnings) <= 2, json.dumps(warnings)
    for warning in warnings:
        assert warning["count"] == 20 and warning["threshold"] == 20, warning
        assert warning["port_range"] == {"low": RANGE[0], "high": RANGE[1]}
        assert warning["orig"]["port"] in ports
    assert len({w["uid"] for w in warnings}) == len(warnings)
