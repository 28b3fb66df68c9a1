"""Processes a test starts and must stop: each one's output goes to a file, each is ended by its
own PID (SIGTERM, then SIGKILL), whatever way the test leaves."""
from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path


class Services:
    """Every process started through `start` is stopped by `stop_all`, newest first."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], **kw) -> subprocess.Popen:
        log = open(self.directory / f"{name}.log", "wb")
        kw.setdefault("stdout", log)
        kw.setdefault("stderr", log if kw["stdout"] is log else subprocess.STDOUT)
        proc = subprocess.Popen(argv, cwd=self.directory, **kw)
        log.close()   # the child holds its own copy
        self.procs.append((name, proc))
        return proc

    def log(self, name: str) -> str:
        path = self.directory / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, proc: subprocess.Popen, grace: float = 10.0) -> int | None:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        return proc.returncode

    def stop_all(self) -> None:
        for _, proc in reversed(self.procs):
            try:
                self.stop(proc)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass


def ephemeral_range() -> tuple[int, int]:
    low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    return int(low), int(high)


def free_port(rng: random.Random | None = None, taken: set[int] | frozenset[int] = frozenset()) -> int:
    """A loopback port free now, not in `taken`, and outside the ephemeral range, so no client
    socket of another test on this host can be using it as its own port."""
    rng = rng or random.Random()
    low, _ = ephemeral_range()
    for _ in range(200):
        port = rng.randrange(20000, min(low, 32768))
        if port in taken:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free loopback port in 200 tries")


def http_get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def http_json(url: str, timeout: float = 2.0):
    status, body = http_get(url, timeout)
    if status != 200:
        raise RuntimeError(f"GET {url}: {status} {body[:200]}")
    return json.loads(body)


def wait_until(what: str, predicate, timeout: float, interval: float = 0.1, diagnose=lambda: ""):
    """predicate() until truthy, at most `timeout` seconds; its value, or AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except (OSError, RuntimeError, ValueError):
            value = None
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s. {diagnose()}")
        time.sleep(interval)


def events(path: Path) -> list[dict]:
    out = []
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass   # a line still being written
    return out
