#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Write the seed corpus of fuzz_tcpfig: conns records in the layout of
include/kspan_conns.h, reads and writes, and spans, as the target reads
them (see tests/fuzz/fuzz_tcpfig.c)."""
import os
import struct
import sys

MS = 1_000_000
V4 = b"\0" * 10 + b"\xff\xff"
OPEN, ESTABLISHED, FAILED, STATS, CLOSE = 16, 17, 18, 19, 20
F_CONNECT, F_RTT, F_OPENED = 1, 2, 8


def rec(typ, cookie, seq, ts, retrans=0, flags=F_OPENED, connect_us=0, srtt_us=0,
        role=1, tgid=42, err=0):
    tup = struct.pack("<16s16sHHHH", V4 + bytes([10, 0, 0, 1]), V4 + bytes([10, 0, 0, 2]),
                      40000, 8080, 2, 0)
    body = struct.pack("<IIQQQ", typ, tgid, cookie, ts, 1000 * MS) + tup + \
        struct.pack("<QQ", 0, 0) + \
        struct.pack("<10I", flags, connect_us, srtt_us, srtt_us // 4, srtt_us, retrans, 0,
                    retrans, 0, 0) + \
        struct.pack("<iBBH", err, role, 1, seq) + b"python3".ljust(16, b"\0")
    assert len(body) == 152
    return b"\0" + struct.pack("<H", len(body)) + body


def data(cookie, egress, ts):
    return b"\x01" + struct.pack("<BBQ", cookie, egress, ts)


def span(cookie, req, start, end):
    return b"\x02" + struct.pack("<BBQQ", cookie, req, start, end)


SEEDS = {
    "client": [rec(OPEN, 1, 1, 1000 * MS),
               rec(ESTABLISHED, 1, 2, 1040 * MS, flags=F_OPENED | F_CONNECT | F_RTT,
                   connect_us=40000, srtt_us=40000),
               data(1, 1, 1050 * MS), rec(STATS, 1, 3, 1100 * MS, 1, F_OPENED | F_RTT,
                                          srtt_us=50000),
               data(1, 0, 1200 * MS), span(1, 1, 1050 * MS, 1210 * MS),
               rec(CLOSE, 1, 5, 1300 * MS, 1)],
    "failed": [rec(OPEN, 2, 1, 10 * MS), rec(FAILED, 2, 2, 50 * MS, err=111),
               rec(CLOSE, 2, 3, 51 * MS)],
    "server": [rec(ESTABLISHED, 3, 1, 5 * MS, 2, F_OPENED | F_CONNECT | F_RTT, 300, 300, 2, 0),
               data(3, 0, 6 * MS), rec(STATS, 3, 2, 7 * MS, 3, F_RTT, srtt_us=310, role=2),
               data(3, 1, 8 * MS), span(3, 1, 6 * MS, 8 * MS)],
}

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for name, ops in SEEDS.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(b"".join(ops))
