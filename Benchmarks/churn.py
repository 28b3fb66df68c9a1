#!/usr/bin/env python3
"""Loopback connection churn for the soak (Benchmarks/soak.sh): as many connections as one
Python process can open and close, ended in mixed ways, one in seven left in CLOSE_WAIT on the
server for HOLD seconds (a program that is slow to call close()). Bounded by DURATION seconds.

    churn.py DURATION PORT [HOLD]
"""
import random
import socket
import struct
import sys
import threading
import time

DURATION = float(sys.argv[1])
PORT = int(sys.argv[2])
HOLD = float(sys.argv[3]) if len(sys.argv) > 3 else 20.0

server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", PORT))
server.listen(1024)
held = []  # (since, socket) left in CLOSE_WAIT, oldest first


def serve():
    server.settimeout(0.5)
    end = time.monotonic() + DURATION + 5
    while time.monotonic() < end:
        try:
            connection, _ = server.accept()
        except socket.timeout:
            continue
        mode = connection.recv(1)
        if mode == b"r":  # abort: RST
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.close()
        elif mode == b"h":  # the client half-closed; this side sits in CLOSE_WAIT a while
            held.append((time.monotonic(), connection))
        else:
            connection.close()
        while held and time.monotonic() - held[0][0] > HOLD:
            held.pop(0)[1].close()
    for _, connection in held:
        connection.close()


threading.Thread(target=serve, daemon=True).start()
end = time.monotonic() + DURATION
opened = 0
while time.monotonic() < end:
    mode = random.choice(b"nnnnrrh")
    client = socket.socket()
    try:
        client.connect(("127.0.0.1", PORT))
        client.send(bytes([mode]))
        if mode == ord("h"):
            client.shutdown(socket.SHUT_WR)
        else:
            client.settimeout(2)
            try:
                client.recv(16)
            except OSError:
                pass
    except OSError:
        pass
    client.close()
    opened += 1
    if opened % 50 == 0:
        time.sleep(0.02)  # leave the accept thread a share of the GIL
print(f"connections {opened}")
