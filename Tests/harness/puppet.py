#!/usr/bin/env python3
"""A socket program driven line by line: JSON commands on stdin, one JSON reply per command.

Run inside a namespace (``ip netns exec hostX python3 puppet.py``). Holding sockets in a
long-lived process lets a scenario put the kernel in exactly the state it wants (CLOSE_WAIT with
or without unread data, a half-close with data still flowing, ...) and keep it there until told.
Every blocking call has a timeout so the program never hangs the harness.
"""
import errno
import json
import select
import socket
import struct
import sys
import time

socks: dict[str, socket.socket] = {}


def addr_of(sock_addr):
    return [sock_addr[0], sock_addr[1]]


def err_name(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0, str(exc)) if isinstance(exc, OSError) and exc.errno else type(exc).__name__


def op_listen(c):
    fam = socket.AF_INET6 if c.get("family") == 6 else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((c["addr"], c["port"]))
    s.listen(c.get("backlog", 1024))
    socks[c["id"]] = s
    return {"local": addr_of(s.getsockname())}


def op_accept(c):
    ls = socks[c["id"]]
    ls.settimeout(c.get("timeout", 5))
    s, peer = ls.accept()
    s.settimeout(None)
    socks[c["new"]] = s
    return {"peer": addr_of(peer), "local": addr_of(s.getsockname())}


def op_connect(c):
    fam = socket.AF_INET6 if c.get("family") == 6 else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    if c.get("reuseaddr"):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if c.get("bind_port"):
        s.bind((c["bind_addr"], c["bind_port"]))
    s.settimeout(c.get("timeout", 5))
    t0 = time.time()
    try:
        s.connect((c["addr"], c["port"]))
    except (OSError, socket.timeout) as exc:
        name = "ETIMEDOUT" if isinstance(exc, socket.timeout) else err_name(exc)
        s.close()
        return {"ok": False, "errno": name, "elapsed": time.time() - t0}
    s.settimeout(None)
    socks[c["id"]] = s
    return {"ok": True, "local": addr_of(s.getsockname()), "peer": addr_of(s.getpeername())}


def op_send(c):
    s = socks[c["id"]]
    n = c.get("bytes", 100)
    s.sendall(b"x" * n)
    return {"sent": n}


def op_send_chunks(c):
    s = socks[c["id"]]
    total = 0
    for _ in range(min(c.get("count", 1), 1000)):
        s.sendall(b"y" * c.get("size", 1000))
        total += c.get("size", 1000)
        time.sleep(c.get("interval", 0.0))
    return {"sent": total}


def op_recv(c):
    """Read what is there (up to max bytes) within timeout; report EOF and errors as seen."""
    s = socks[c["id"]]
    deadline = time.time() + c.get("timeout", 2)
    got, eof = 0, False
    want = c.get("max", 1 << 30)
    until_eof = c.get("until_eof", False)
    try:
        while got < want and time.time() < deadline:
            r, _, _ = select.select([s], [], [], max(0.0, deadline - time.time()))
            if not r:
                break
            data = s.recv(65536)
            if not data:
                eof = True
                break
            got += len(data)
            if not until_eof and got >= want:
                break
    except OSError as exc:
        return {"ok": False, "errno": err_name(exc), "got": got}
    return {"ok": True, "got": got, "eof": eof}


def op_shutdown(c):
    socks[c["id"]].shutdown(socket.SHUT_WR if c.get("how", "wr") == "wr" else socket.SHUT_RDWR)
    return {}


def op_linger0(c):
    socks[c["id"]].setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return {}


def op_close(c):
    ids = c.get("ids") or [c["id"]]
    at = c.get("at")
    filler = c.get("filler")
    u = None
    if filler:
        fam = socket.AF_INET6 if ":" in filler["addr"] else socket.AF_INET
        u = socket.socket(fam, socket.SOCK_DGRAM)
    if at is not None:
        # Synchronised trigger on the shared CLOCK_REALTIME (the same in every network
        # namespace): sleep to 20 ms before, then spin, so the FINs leave within microseconds
        # of each other without two spinning programs starving the 2-core machine.
        lead = (filler or {}).get("lead", 0.0)
        pause = at - lead - 0.02 - time.time()
        if 0 < pause < 10:
            time.sleep(pause)
        limit = time.time() + 10
        while time.time() < at - lead and time.time() < limit:
            pass
    if u is not None:
        # Unrelated datagrams queued ahead of the FIN in a rate-limited forwarding hop: the FIN
        # waits behind them, which gives the path the delay a crossing needs (no netem here).
        for _ in range(min(filler.get("count", 1), 100)):
            u.sendto(b"z" * filler.get("size", 1000), (filler["addr"], filler.get("port", 9)))
        u.close()
        while at is not None and time.time() < at and time.time() < limit:
            pass
    stamps = []
    for i in ids:
        s = socks.pop(i)
        if c.get("linger0"):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        if c.get("shutdown_first"):
            s.shutdown(socket.SHUT_WR)
        stamps.append(time.time())
        s.close()
    return {"t": stamps}


def op_info(c):
    s = socks[c["id"]]
    return {"local": addr_of(s.getsockname()), "peer": addr_of(s.getpeername())}


OPS = {"listen": op_listen, "accept": op_accept, "connect": op_connect, "send": op_send,
       "send_chunks": op_send_chunks, "recv": op_recv, "shutdown": op_shutdown,
       "linger0": op_linger0, "close": op_close, "info": op_info}


def main():
    out = sys.stdout
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "exit":
            break
        try:
            rep = OPS[cmd["op"]](cmd)
            rep.setdefault("ok", True)
        except Exception as exc:  # report, never die: the harness decides what a failure means
            rep = {"ok": False, "errno": err_name(exc) if isinstance(exc, OSError) else type(exc).__name__,
                   "error": str(exc)}
        out.write(json.dumps(rep) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
