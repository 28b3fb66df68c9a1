#!/usr/bin/env python3
"""Seed corpora for `make fuzz`: every frame of every classic pcap in the repository (the
third-party corpus and the golden replays) as a decode input (one byte picking the link type,
then the frame), and the kept tracker scripts for the tracker and json targets.

Usage: seeds.py OUTDIR   (writes OUTDIR/decode, OUTDIR/tracker, OUTDIR/json)"""
import hashlib, os, shutil, struct, sys

# LinkType.allCases order in Sources/FinwatchCore/Decode/LinkType.swift: the selector byte.
LINK_TYPES = [0, 1, 9, 10, 50, 100, 101, 108, 113, 228, 229, 239, 276]
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def frames(path):
    with open(path, 'rb') as f:
        data = f.read()
    if len(data) < 24:
        return
    magic = data[:4]
    order = {b'\xd4\xc3\xb2\xa1': '<', b'\x4d\x3c\xb2\xa1': '<', b'\xa1\xb2\xc3\xd4': '>', b'\xa1\xb2\x3c\x4d': '>'}.get(magic)
    if order is None:
        return   # pcapng and anything else: libpcap's job, not the seeds'
    link = struct.unpack(order + 'I', data[20:24])[0] & 0x03FFFFFF
    if link not in LINK_TYPES:
        return
    offset = 24
    while offset + 16 <= len(data):
        length = struct.unpack(order + 'I', data[offset + 8:offset + 12])[0]
        if offset + 16 + length > len(data):
            break
        yield LINK_TYPES.index(link), data[offset + 16:offset + 16 + length]
        offset += 16 + length


def main(out):
    decode = os.path.join(out, 'decode')
    os.makedirs(decode, exist_ok=True)
    count = 0
    for root in (os.path.join(REPO, 'Tests', 'Corpus'), os.path.join(REPO, 'Tests', 'finwatchTests', 'Golden')):
        for directory, _, names in os.walk(root):
            for name in sorted(names):
                if not (name.endswith('.pcap') or name.endswith('.cap')):
                    continue
                for selector, frame in frames(os.path.join(directory, name)):
                    blob = bytes([selector]) + frame[:4096]
                    path = os.path.join(decode, hashlib.sha1(blob).hexdigest())
                    if not os.path.exists(path):
                        with open(path, 'wb') as f:
                            f.write(blob)
                        count += 1
    for target in ('decode', 'tracker', 'json'):
        os.makedirs(os.path.join(out, target), exist_ok=True)
        kept = os.path.join(HERE, target)
        for name in os.listdir(kept) if os.path.isdir(kept) else []:
            shutil.copy(os.path.join(kept, name), os.path.join(out, target, name))
        if target != 'decode':   # the json target reads the tracker's scripts
            for name in os.listdir(os.path.join(HERE, 'tracker')):
                shutil.copy(os.path.join(HERE, 'tracker', name), os.path.join(out, target, name))
    print(f'{count} decode seeds from the repository captures in {decode}')


if __name__ == '__main__':
    main(sys.argv[1])
