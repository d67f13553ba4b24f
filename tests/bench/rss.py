#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""make bench-rss: kspan's peak RSS in the bench's traced-nginx run (mode C of
make bench: nginx pinned to CPU 0, wrk to CPU 1, kspan tracing nginx and
exporting OTLP/HTTP protobuf to a local sink, or with --exporter otlp-json
OTLP/JSON to /dev/null), with what the resident memory is made of. One
saturation run and one paced run, as in a bench round."""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402


def status(pid):
    out = {}
    for line in open(f"/proc/{pid}/status"):
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            out[k] = int(v.split()[0]) * 1024
    return out


def mappings(pid):
    """Resident bytes by mapping name, largest first."""
    by = {}
    name = None
    for line in open(f"/proc/{pid}/smaps"):
        f = line.split()
        if not f[0].endswith(":"):
            name = f[5] if len(f) > 5 else "[anonymous]"
        elif f[0] == "Rss:":
            by[name] = by.get(name, 0) + int(f[1]) * 1024
    return sorted(by.items(), key=lambda kv: -kv[1])


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--exporter", choices=["otlp", "otlp-json"], default="otlp")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench-rss: needs root (kspan loads BPF programs)")
    work = Path(tempfile.mkdtemp(prefix="kspan-rss-"))
    nginx = bench.Nginx(work)
    sink = bench.Sink(work) if a.exporter == "otlp" else None
    try:
        k = bench.Kspan(nginx.worker(), work, sink)
        time.sleep(1)
        idle = status(k.p.pid)
        sat = bench.wrk(nginx.url, a.seconds, 32)
        fixed = bench.wrk(nginx.url, a.seconds, 16, paced=True, work=work)
        loaded = status(k.p.pid)
        maps = mappings(k.p.pid)
        counters, hwm = k.stop()
    finally:
        if sink:
            sink.stop()
        nginx.stop()
    mib = 2 ** 20
    print(f"requests: {sat['reqs'] + fixed['reqs']} ({sat['rps']:.0f} req/s at saturation)")
    print(f"spans exported: {counters.get('spans.exported')}, "
          f"ring-buffer drops: {counters.get('bpf.ringbuf_drops')}")
    print(f"kspan RSS started: {idle['VmRSS'] / mib:.1f} MiB; under load: "
          f"{loaded['VmRSS'] / mib:.1f} MiB (anonymous {loaded['RssAnon'] / mib:.1f}, "
          f"mapped files and the ring buffer {loaded['RssFile'] / mib:.1f})")
    print(f"kspan peak RSS (VmHWM): {hwm / mib:.1f} MiB (goal: <= 40 MB, 38.1 MiB)")
    print("largest resident mappings under load:")
    for name, n in maps[:6]:
        print(f"  {n / mib:6.1f} MiB  {name}")


if __name__ == "__main__":
    main()
