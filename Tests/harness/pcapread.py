"""A tiny pcap reader (Ethernet/IPv4/IPv6/TCP), independent of finwatch's own decoder, so the
harness's truth about the wire never depends on the program under test."""
from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass


@dataclass(frozen=True)
class Segment:
    t_us: int            # capture timestamp, microseconds since the epoch
    src: tuple[str, int]
    dst: tuple[str, int]
    flags: int
    seq: int
    ack: int
    payload: int         # TCP payload length in bytes

    FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

    def has(self, flag: int) -> bool:
        return bool(self.flags & flag)

    @property
    def flag_text(self) -> str:
        return "".join(ch for bit, ch in [(0x02, "S"), (0x01, "F"), (0x04, "R"), (0x08, "P"), (0x10, "A")]
                       if self.flags & bit)


def read_pcap(path: str) -> list[Segment]:
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return []
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        raise ValueError(f"{path}: not a pcap file (magic {magic.hex()})")
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(end + "I", data[20:24])[0]
    if linktype not in (1, 113, 276):
        raise ValueError(f"{path}: link type {linktype}, only Ethernet (1) and Linux cooked (113, 276) are handled")
    segs: list[Segment] = []
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack(end + "IIII", data[off:off + 16])
        off += 16
        frame = data[off:off + incl]
        off += incl
        t_us = sec * 1_000_000 + (frac // 1000 if nano else frac)
        seg = _decode(frame, t_us, linktype)
        if seg is not None:
            segs.append(seg)
    return segs


def _decode(frame: bytes, t_us: int, linktype: int = 1) -> Segment | None:
    if linktype == 113:                 # Linux cooked v1: protocol at 14, 16-byte header
        if len(frame) < 16:
            return None
        etype, p = struct.unpack("!H", frame[14:16])[0], 16
    elif linktype == 276:               # Linux cooked v2 (`any`): protocol first, 20-byte header
        if len(frame) < 20:
            return None
        etype, p = struct.unpack("!H", frame[0:2])[0], 20
    else:
        if len(frame) < 14:
            return None
        etype, p = struct.unpack("!H", frame[12:14])[0], 14
    while etype in (0x8100, 0x88A8) and len(frame) >= p + 4:   # VLAN tags
        etype = struct.unpack("!H", frame[p + 2:p + 4])[0]
        p += 4
    if etype == 0x0800:
        if len(frame) < p + 20:
            return None
        ihl = (frame[p] & 0x0F) * 4
        total = struct.unpack("!H", frame[p + 2:p + 4])[0]
        proto = frame[p + 9]
        src = str(ipaddress.IPv4Address(frame[p + 12:p + 16]))
        dst = str(ipaddress.IPv4Address(frame[p + 16:p + 20]))
        l4 = p + ihl
        l4_len = total - ihl
    elif etype == 0x86DD:
        if len(frame) < p + 40:
            return None
        plen = struct.unpack("!H", frame[p + 4:p + 6])[0]
        proto = frame[p + 6]
        src = str(ipaddress.IPv6Address(frame[p + 8:p + 24]))
        dst = str(ipaddress.IPv6Address(frame[p + 24:p + 40]))
        l4 = p + 40
        l4_len = plen
        # Extension headers are not expected on this path; anything but TCP is skipped.
    else:
        return None
    if proto != 6 or len(frame) < l4 + 20:
        return None
    sport, dport, seq, ack, off_flags = struct.unpack("!HHIIH", frame[l4:l4 + 14])
    doff = (off_flags >> 12) * 4
    flags = off_flags & 0x1FF
    payload = max(0, l4_len - doff)
    return Segment(t_us, (src, sport), (dst, dport), flags, seq, ack, payload)
