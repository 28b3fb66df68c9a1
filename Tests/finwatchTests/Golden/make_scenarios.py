#!/usr/bin/env python3
"""Writes one small pcap per teardown scenario (LINKTYPE_RAW, deterministic times).

The golden tests replay each through `finwatch --read` and compare the JSON lines with
<name>.jsonl. Regenerate the captures with `python3 make_scenarios.py`; regenerate the
golden files only after checking the new output by hand (see README.md beside this file).
"""
import struct, ipaddress, pathlib

HERE = pathlib.Path(__file__).parent
BASE = 1795572251  # 2026-11-25T02:04:11Z


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


FLAGS = {"F": 1, "S": 2, "R": 4, "P": 8, "A": 16}


class Conn:
    def __init__(self, orig, resp, oport, rport):
        self.o = (ipaddress.ip_address(orig), oport)
        self.r = (ipaddress.ip_address(resp), rport)
        self.ipid = 1

    def seg(self, side, flags, seq, ack=0, payload=0, window=65535):
        src, dst = (self.o, self.r) if side == "o" else (self.r, self.o)
        f = sum(FLAGS[c] for c in flags)
        tcp = struct.pack("!HHIIBBHHH", src[1], dst[1], seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, f, window, 0, 0)
        body = tcp + b"x" * payload
        if src[0].version == 4:
            self.ipid += 1
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), self.ipid, 0x4000, 64, 6, 0,
                             src[0].packed, dst[0].packed)
            ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
            return ip + body
        ip = struct.pack("!IHBB16s16s", 6 << 28, len(body), 6, 64, src[0].packed, dst[0].packed)
        return ip + body


def write(name, packets):
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))  # LINKTYPE_RAW
    for ms, frame in packets:
        usec_total = int(round(ms * 1000))
        out += struct.pack("<IIII", BASE + usec_total // 1_000_000, usec_total % 1_000_000, len(frame), len(frame))
        out += frame
    (HERE / f"{name}.pcap").write_bytes(bytes(out))


def handshake(c, t=0.0):
    return [(t, c.seg("o", "S", 1000)), (t + 0.1, c.seg("r", "SA", 5000, 1001)), (t + 0.2, c.seg("o", "A", 1001, 5001))]


c = Conn("198.18.1.2", "198.18.2.2", 40022, 80)
write("normal-orig-first", handshake(c) + [
    (5, c.seg("o", "PA", 1001, 5001, payload=100)), (5.2, c.seg("r", "A", 5001, 1101)),
    (10, c.seg("o", "FA", 1101, 5001)), (10.05, c.seg("r", "A", 5001, 1102)),
    (30, c.seg("r", "FA", 5001, 1102)), (30.04, c.seg("o", "A", 1102, 5002))])

c = Conn("198.18.1.2", "198.18.2.2", 40023, 80)
write("simultaneous", handshake(c) + [
    (10, c.seg("o", "FA", 1001, 5001)), (10.01, c.seg("r", "FA", 5001, 1001)),
    (10.05, c.seg("o", "A", 1002, 5002)), (10.06, c.seg("r", "A", 5002, 1002))])

c = Conn("198.18.1.2", "198.18.2.2", 40024, 80)
write("fin-retransmits", handshake(c) + [
    (10, c.seg("o", "FA", 1001, 5001)), (214, c.seg("o", "FA", 1001, 5001)), (622, c.seg("o", "FA", 1001, 5001)),
    (622.1, c.seg("r", "A", 5001, 1002)), (700, c.seg("r", "FA", 5001, 1002)), (700.1, c.seg("o", "A", 1002, 5002))])

c = Conn("198.18.1.2", "198.18.2.2", 40025, 80)
write("lost-final-ack", handshake(c) + [
    (10, c.seg("o", "FA", 1001, 5001)), (10.1, c.seg("r", "FA", 5001, 1002)), (10.2, c.seg("o", "A", 1002, 5002)),
    (215, c.seg("r", "FA", 5001, 1002)), (215.1, c.seg("o", "A", 1002, 5002))])

c = Conn("198.18.1.2", "198.18.2.2", 40026, 80)
write("rst-in-close-wait", handshake(c) + [
    (10, c.seg("o", "FA", 1001, 5001)), (10.1, c.seg("r", "A", 5001, 1002)),
    (1500, c.seg("r", "RA", 5001, 1002))])

c = Conn("198.18.1.2", "198.18.2.2", 40027, 80)
write("syn-in-time-wait", handshake(c) + [
    (10, c.seg("r", "FA", 5001, 1001)), (10.1, c.seg("o", "FA", 1001, 5002)), (10.2, c.seg("r", "A", 5002, 1002)),
    (3000, c.seg("o", "S", 90000)), (3000.1, c.seg("r", "SA", 7000, 90001)), (3000.2, c.seg("o", "A", 90001, 7001)),
    (3010, c.seg("o", "FA", 90001, 7001)), (3010.1, c.seg("r", "FA", 7001, 90002)), (3010.2, c.seg("o", "A", 90002, 7002))])

c = Conn("198.18.1.2", "198.18.2.2", 40028, 80)
write("close-wait-lingering", handshake(c) + [
    (10, c.seg("o", "FA", 1001, 5001)), (10.1, c.seg("r", "A", 5001, 1002)),
    (1500, c.seg("r", "PA", 5001, 1002, payload=10)), (1500.1, c.seg("o", "A", 1002, 5011)),
    (2510, c.seg("r", "FA", 5011, 1002)), (2510.1, c.seg("o", "A", 1002, 5012))])

c = Conn("198.18.1.2", "198.18.2.2", 40029, 81)
write("refused", [(0, c.seg("o", "S", 1000)), (0.05, c.seg("r", "RA", 0, 1001))])

c = Conn("198.18.1.2", "198.18.2.3", 40030, 80)
write("no-answer", [(0, c.seg("o", "S", 1000)), (1000, c.seg("o", "S", 1000)), (3000, c.seg("o", "S", 1000))])

c = Conn("2001:db8:1::2", "2001:db8:2::2", 40031, 443)
write("ipv6-normal-resp-first", handshake(c) + [
    (10, c.seg("r", "FA", 5001, 1001)), (10.02, c.seg("o", "FA", 1001, 5002)), (10.03, c.seg("r", "A", 5002, 1002))])

c = Conn("198.18.1.2", "198.18.2.2", 40032, 80)
write("reset-established", handshake(c) + [
    (5, c.seg("o", "PA", 1001, 5001, payload=10)), (5.1, c.seg("r", "A", 5001, 1011)),
    (8, c.seg("r", "RA", 5001, 1011))])

c = Conn("198.18.1.2", "198.18.2.2", 40033, 80)
d = Conn("198.18.1.2", "198.18.2.2", 40034, 80)
write("end-of-input", handshake(c) + handshake(d, 1) + [
    (10, c.seg("o", "FA", 1001, 5001)), (10.1, c.seg("r", "A", 5001, 1002)),
    (20, d.seg("o", "PA", 1001, 5001, payload=5))])

c = Conn("198.18.1.2", "198.18.2.2", 40035, 5432)
write("mid-stream", [
    (0, c.seg("r", "PA", 7001, 3001, payload=50)), (0.1, c.seg("o", "A", 3001, 7051)),
    (5, c.seg("o", "FA", 3001, 7051)), (5.1, c.seg("r", "FA", 7051, 3002)), (5.2, c.seg("o", "A", 3002, 7052))])

c = Conn("198.18.1.2", "198.18.2.2", 40036, 80)
write("data-after-fin", handshake(c) + [
    (10, c.seg("o", "FA", 1001, 5001)), (11, c.seg("o", "PA", 1002, 5001, payload=20)),
    (12, c.seg("r", "RA", 5001, 1002))])

c = Conn("198.18.1.2", "198.18.2.2", 40037, 80)
write("time-wait-reset", handshake(c) + [
    (10, c.seg("o", "FA", 1001, 5001)), (10.1, c.seg("r", "FA", 5001, 1002)), (10.2, c.seg("o", "A", 1002, 5002)),
    (30, c.seg("r", "R", 5002))])

c = Conn("198.18.1.2", "198.18.2.2", 40038, 80)
write("reset-out-of-window", handshake(c) + [
    (5, c.seg("r", "RA", 5001 + 3_000_000, 1001)),
    (6, c.seg("o", "FA", 1001, 5001)), (6.1, c.seg("r", "FA", 5001, 1002)), (6.2, c.seg("o", "A", 1002, 5002))])

c = Conn("198.18.1.2", "198.18.2.2", 40039, 80)
write("fin-wait-2-lingering", handshake(c) + [
    (10, c.seg("o", "FA", 1001, 5001)), (10.1, c.seg("r", "A", 5001, 1002)),
    (1500, c.seg("r", "PA", 5001, 1002, payload=3)), (1500.1, c.seg("o", "A", 1002, 5004)),
    (2000, c.seg("r", "FA", 5004, 1002)), (2000.1, c.seg("o", "A", 1002, 5005))])

c = Conn("198.18.1.2", "198.18.2.2", 40040, 80)
write("last-ack-lingering", handshake(c) + [
    (10, c.seg("o", "FA", 1001, 5001)), (10.1, c.seg("r", "A", 5001, 1002)),
    (20, c.seg("r", "FA", 5001, 1002)),                                    # resp: LAST_ACK
    (30_500, c.seg("r", "FA", 5001, 1002)),                                # its FIN again, past 30 s
    (30_500.1, c.seg("o", "A", 1002, 5002))])
