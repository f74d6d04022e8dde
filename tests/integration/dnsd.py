#!/usr/bin/python3
"""A DNS server of TXT records for the DKIM tests (standard library only).

usage: dnsd.py RECORDS.json [--port N] [--ready FILE]

Answers UDP queries on 127.0.0.1:PORT (default 53): a TXT query for a name
in RECORDS.json ({"sel._domainkey.example.org": "v=DKIM1; k=rsa; p=..."})
gets that record (cut into strings of at most 255 octets), any other name
NXDOMAIN. Writes FILE once it listens. Meant for a network namespace of its
own (unshare -n), where OpenDKIM's resolver is pointed at it."""

import argparse
import json
import socket
import struct


def parse_name(pkt, i):
    labels = []
    while pkt[i]:
        n = pkt[i]
        labels.append(pkt[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    return ".".join(labels), i + 1


def answer(pkt, records):
    qid, flags, qd = struct.unpack(">HHH", pkt[:6])
    name, end = parse_name(pkt, 12)
    qtype, qclass = struct.unpack(">HH", pkt[end:end + 4])
    question = pkt[12:end + 4]
    rec = records.get(name.lower().rstrip("."))
    rd = flags & 0x0100
    if rec is None or qtype not in (16, 255):
        rcode = 3 if rec is None else 0
        return struct.pack(">HHHHHH", qid, 0x8400 | rd | rcode, 1, 0, 0, 0) + question
    data = rec.encode()
    strings = b"".join(bytes([len(data[i:i + 255])]) + data[i:i + 255] for i in range(0, len(data), 255))
    rr = b"\xc0\x0c" + struct.pack(">HHIH", 16, 1, 60, len(strings)) + strings
    return struct.pack(">HHHHHH", qid, 0x8400 | rd, 1, 1, 0, 0) + question + rr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("records")
    ap.add_argument("--port", type=int, default=53)
    ap.add_argument("--ready")
    a = ap.parse_args()
    with open(a.records, encoding="utf-8") as f:
        records = {k.lower().rstrip("."): v for k, v in json.load(f).items()}
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", a.port))
    if a.ready:
        with open(a.ready, "w") as f:
            f.write("ready\n")
    while True:
        pkt, peer = s.recvfrom(4096)
        try:
            s.sendto(answer(pkt, records), peer)
        except (IndexError, struct.error):
            pass


if __name__ == "__main__":
    main()
