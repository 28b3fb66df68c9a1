"""Network namespaces and processes for the fault tests. Every name starts with fwf-<pid>- so
a crashed run's leftovers are found (and only they are removed); processes are ended by PID."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

PREFIX = "fwf-"


def run(*argv: str, check: bool = True, timeout: float = 20.0) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} -> {proc.returncode}: {proc.stderr.strip()}")
    return proc


def remove_stale() -> None:
    for line in run("ip", "netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if not name.startswith(PREFIX):
            continue
        owner = name[len(PREFIX):].split("-")[0]
        if owner.isdigit() and int(owner) != os.getpid() and Path(f"/proc/{owner}").exists():
            continue   # another live run's namespace
        Namespace.delete(name)


class Namespace:
    def __init__(self, tag: str):
        self.name = f"{PREFIX}{os.getpid()}-{tag}"
        run("ip", "netns", "add", self.name)
        self.exec("ip", "link", "set", "lo", "up")

    def exec(self, *argv: str, check: bool = True, timeout: float = 20.0) -> subprocess.CompletedProcess:
        return run("ip", "netns", "exec", self.name, *argv, check=check, timeout=timeout)

    def popen(self, argv: list[str], **kw) -> subprocess.Popen:
        return subprocess.Popen(["ip", "netns", "exec", self.name, *argv], **kw)

    @staticmethod
    def delete(name: str) -> None:
        for pid in run("ip", "netns", "pids", name, check=False).stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)   # only processes inside our own namespace
            except (ProcessLookupError, ValueError):
                pass
        run("ip", "netns", "delete", name, check=False)

    def destroy(self) -> None:
        Namespace.delete(self.name)


def veth(a: Namespace, a_name: str, a_ip: str, b: Namespace, b_name: str, b_ip: str) -> None:
    """A veth pair between two namespaces, up, with a /24 on each end (198.18.0.0/15 only)."""
    a.exec("ip", "link", "add", a_name, "type", "veth", "peer", "name", b_name, "netns", b.name)
    a.exec("ip", "addr", "add", f"{a_ip}/24", "dev", a_name)
    b.exec("ip", "addr", "add", f"{b_ip}/24", "dev", b_name)
    a.exec("ip", "link", "set", a_name, "up")
    b.exec("ip", "link", "set", b_name, "up")


# A TCP server and client in one process, run inside a namespace: `count` connections to
# host:port, each sends a line, reads the echo, and closes (client first), `pause` seconds apart.
CONNECTIONS = r"""
import socket, sys, threading, time
host, port, count, pause = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
server = socket.socket(); server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((host, port)); server.listen(512)
def serve():
    for _ in range(count):
        conn, _ = server.accept()
        data = conn.recv(100); conn.sendall(data)
        conn.recv(100)          # the client's FIN
        conn.close()
t = threading.Thread(target=serve, daemon=True); t.start()
for i in range(count):
    c = socket.create_connection((host, port), timeout=5)
    c.sendall(b"ping\n"); c.recv(100); c.close()
    if pause: time.sleep(pause)
t.join(timeout=30)
print("done", count, flush=True)
"""


def connections(ns: Namespace, host: str, port: int, count: int, pause: float = 0.0, timeout: float = 60.0) -> None:
    out = ns.exec("python3", "-c", CONNECTIONS, host, str(port), str(count), str(pause), timeout=timeout).stdout
    assert f"done {count}" in out, out


class Finwatch:
    """finwatch started inside a namespace; output and errors to files; ended by its PID."""

    def __init__(self, binary: str, ns: Namespace, args: list[str], workdir: Path, stdout=None):
        self.stderr_path = workdir / "finwatch.err"
        self.stdout_path = workdir / "finwatch.out"
        self._err = open(self.stderr_path, "w")
        self._out = stdout if stdout is not None else open(self.stdout_path, "w")
        self.proc = ns.popen([binary, *args], stdout=self._out, stderr=self._err, stdin=subprocess.DEVNULL)

    def wait_for_stderr(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.stderr():
                return True
            if self.proc.poll() is not None:
                return text in self.stderr()
            time.sleep(0.05)
        return False

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def stop(self, timeout: float = 10.0) -> int:
        self.signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        self._err.close()
        if hasattr(self._out, "close"):
            self._out.close()


def json_lines(path: Path) -> list[dict]:
    """Every line of a JSON-lines file, each required to be one whole JSON object."""
    text = path.read_text()
    assert text == "" or text.endswith("\n"), f"a partial last line in {path}"
    return [json.loads(line) for line in text.splitlines()]
