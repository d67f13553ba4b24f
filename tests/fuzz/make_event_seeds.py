#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Write the seed corpus of fuzz_events: ring-buffer records in the layout
of include/kspan.h, each prefixed by its 2-byte little-endian length."""
import os
import struct
import sys

HDR = "<IIIiQQQ"            # type pid tid fd cookie ts_enter ts_exit
TUPLE = "<16s16sHHHH"
CTX = "<16s8s8sBBB5x"       # struct kspan_ctx
LO = b"\0" * 10 + b"\xff\xff" + bytes([127, 0, 0, 1])


def tup():
    return struct.pack(TUPLE, LO, LO, 8080, 40000, 2, 0)


def ctx(valid=0, remote=0):
    return struct.pack(CTX, bytes(range(1, 17)) if valid else b"", b"\x11" * 8 if valid else b"",
                       b"\x22" * 8 if remote else b"", 1, valid, remote)


def data(cookie, dirn, role, payload, ts, ret=None, kctx=b""):
    ret = len(payload) if ret is None else ret
    ev = struct.pack(HDR, 1, 7, 7, 3, cookie, ts, ts + 10) + tup() + \
        struct.pack("<qIBBBB", ret, len(payload), dirn, 1, role, 0) + b"python3".ljust(16, b"\0") + \
        (kctx or ctx())
    return ev + payload


def conn(cookie, role, ts, typ=2):
    return struct.pack(HDR, typ, 7, 7, 3, cookie, ts, ts + 10) + tup() + \
        struct.pack("<qBB6x", 0, role, 10) + b"python3".ljust(16, b"\0")


def inject(cookie, ts):
    return struct.pack(HDR, 4, 7, 7, -1, cookie, ts, ts) + ctx(1, 1)


SEQS = {
    "server": [conn(5, 2, 1), data(5, 1, 2, b"GET /a/1 HTTP/1.1\r\nHost: x\r\n\r\n", 2, kctx=ctx(1, 1)),
               data(5, 0, 2, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 3), conn(5, 2, 4, 3)],
    "client": [conn(6, 1, 1), data(6, 0, 1, b"POST /p HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 2),
               data(6, 1, 1, b"HTTP/1.1 201 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n", 3)],
    "unknown": [data(9, 1, 0, b"GET / HTTP/1.0\r\n\r\n", 2),
                data(9, 0, 0, b"HTTP/1.0 200 OK\r\n\r\nbody", 3, 100)],
    "injected": [conn(8, 1, 1), inject(8, 2), data(8, 0, 1, b"GET /i HTTP/1.1\r\n\r\n", 3),
                 data(8, 1, 1, b"HTTP/1.1 204 No\r\n\r\n", 4)],
}

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for name, recs in SEQS.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(b"".join(struct.pack("<H", len(r)) + r for r in recs))
