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

# h2c: an HTTP/1.1 request upgraded by a 101, then HTTP/2 in the same read.
H2C_REQ = (b"GET /u HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
           b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAEAAQAAAAEAAAEA\r\n\r\n")
H2C_101 = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
H2_SETTINGS = b"\0\0\0\x04\0\0\0\0\0"
H2_RESP = b"\0\0\x01\x01\x04\0\0\0\x01\x88" + b"\0\0\x02\0\x01\0\0\0\x01ok"
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + H2_SETTINGS
# a GET of /h on stream 1: :method GET, :scheme http, :path /h, :authority x
H2_REQ = b"\0\0\x09\x01\x05\0\0\0\x01\x82\x86\x04\x02/h\x41\x01x"

SEQS["h2c"] = [conn(10, 1, 1), data(10, 0, 1, H2C_REQ, 2),
               data(10, 1, 1, H2C_101 + H2_SETTINGS + H2_RESP, 3), data(10, 0, 1, PREFACE, 4)]
# A thread serving an HTTP/1 request calls out over HTTP/2.
SEQS["nested_h2"] = [conn(11, 2, 1), data(11, 1, 2, b"GET /n HTTP/1.1\r\nHost: y\r\n\r\n", 2),
                     conn(12, 1, 3), data(12, 0, 1, PREFACE + H2_REQ, 4),
                     data(12, 1, 1, H2_SETTINGS + H2_RESP, 5),
                     data(11, 0, 2, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 6)]

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for name, recs in SEQS.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(b"".join(struct.pack("<H", len(r)) + r for r in recs))
