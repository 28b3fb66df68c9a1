#!/usr/bin/env python3
"""Runs inside a host namespace: polls `ss -tanoi` every INTERVAL seconds for at most MAX
seconds (or until stdin closes) and prints one JSON line per change of a socket's state:
{"t": epoch_seconds, "local": [ip, port], "peer": [ip, port], "state": "FIN-WAIT-2"}; a socket
that disappears is reported as state "GONE"."""
import json
import select
import subprocess
import sys
import time


def split_addr(text):
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    if "%" in host:
        host = host.split("%", 1)[0]
    if host.startswith("::ffff:"):
        host = host[7:]
    return host, int(port) if port.isdigit() else 0


def snapshot():
    out = subprocess.run(["ss", "-tanoiH"], capture_output=True, text=True, timeout=5).stdout
    states = {}
    for line in out.splitlines():
        if not line or line[0].isspace():
            continue   # the -i detail lines start with whitespace
        parts = line.split()
        if len(parts) < 5 or parts[0] == "LISTEN":
            continue
        states[(split_addr(parts[3]), split_addr(parts[4]))] = parts[0]
    return states


def main():
    interval, limit = float(sys.argv[1]), float(sys.argv[2])
    end = time.monotonic() + limit
    prev = {}
    print(json.dumps({"ready": True}), flush=True)
    while time.monotonic() < end:
        t = time.time()
        cur = snapshot()
        for key, st in cur.items():
            if prev.get(key) != st:
                print(json.dumps({"t": t, "local": list(key[0]), "peer": list(key[1]), "state": st}), flush=True)
        for key in prev.keys() - cur.keys():
            print(json.dumps({"t": t, "local": list(key[0]), "peer": list(key[1]), "state": "GONE"}), flush=True)
        prev = cur
        r, _, _ = select.select([sys.stdin], [], [], interval)
        if r and not sys.stdin.readline():
            break


if __name__ == "__main__":
    main()
