"""A program that leaks a socket in CLOSE_WAIT, on command, over loopback.

Prints `{"port": P}` once listening on 127.0.0.1:P (P from argv). Then, one command a line on
standard input: `connect` (a client connects and hangs up; the accepted socket stays open: CLOSE_WAIT,
prints `{"stuck": [local_port, peer_port]}`), `close` (the program finally closes it, prints
`{"closed": true}`), `exit`. Standard input closing also ends it, so it never outlives the test.
"""
import json
import socket
import sys


def say(obj):
    print(json.dumps(obj), flush=True)


def main():
    port = int(sys.argv[1])
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(4)
    listener.settimeout(10)
    say({"port": port})
    server = None
    for line in sys.stdin:
        command = line.strip()
        if command == "connect":
            client = socket.create_connection(("127.0.0.1", port), timeout=10)
            server, peer = listener.accept()
            client.close()   # the peer hangs up; this program never closes `server`: CLOSE_WAIT
            say({"stuck": [port, peer[1]]})
        elif command == "close" and server is not None:
            server.close()
            server = None
            say({"closed": True})
        elif command == "exit":
            break


if __name__ == "__main__":
    main()
