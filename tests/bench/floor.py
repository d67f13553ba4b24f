#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""make bench-floor: kspan's cost in the traced server against the least a
capture at the same hooks can cost.

F is kspan built from this tree with tests/bench/floor.patch: its socket
programs check the pid, find the call's buffer and copy its bytes (up to
the capture length) into the ring buffer, and do nothing else (no socket
table, no send timing, no TCP figures, no TLS check; the program on
tcp_sendmsg_locked returns at once). Its userspace drains the ring and
parses nothing. Any tracer that takes the payload in the server's own
socket calls pays at least this.

At make bench's fixed rate (the M2/M4 phase), alternating for several
rounds: A, nothing running; B, kspan with the server outside its pid
filter; F; C, kspan tracing the server as make bench runs it. Printed: the
server's CPU per request (M2) and the p99 latency (M4), as ratios to A
(median [min..max]) and as medians."""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import bench

PATCH = Path(__file__).resolve().parent / "floor.patch"


def build_floor(dest):
    """This tree's tracked files, as they are now, with the floor patch."""
    src = dest / "src"
    src.mkdir()
    subprocess.run(f"git ls-files -z | tar --null -T - -c | tar -x -C '{src}'", shell=True,
                   cwd=bench.ROOT, check=True)
    r = subprocess.run(["git", "apply", str(PATCH)], cwd=src, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"bench-floor: {PATCH.name} no longer applies to this tree; update it "
                 f"by hand:\n{r.stderr}")
    subprocess.run(["make", "-s", f"-j{os.cpu_count()}", "build/kspan"], cwd=src, check=True,
                   stdout=subprocess.DEVNULL)
    return src / "build" / "kspan"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seconds", type=int, default=5)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench-floor: needs root (kspan loads BPF programs)")
    if not bench.KSPAN.exists():
        sys.exit("bench-floor: build/kspan is missing: run make first")
    work = Path(tempfile.mkdtemp(prefix="kspan-floor-"))
    print("bench-floor: building F (kspan with floor.patch)", flush=True)
    floor = build_floor(work)
    nginx = bench.Nginx(work)
    bystander = subprocess.Popen(["sleep", "3600"])
    sink = bench.Sink(work)
    modes = ["A", "B", "F", "C"]
    res = {m: [] for m in modes}
    failures = []
    try:
        rate, pace = bench.fixed_rate(nginx.url, work)
        print(f"bench-floor: fixed rate {rate:.0f} req/s, {pace} connections", flush=True)
        for r in range(a.rounds):
            for m in modes:
                k = None
                if m == "B":
                    k = bench.Kspan(bystander.pid, work, sink)
                elif m in ("F", "C"):
                    k = bench.Kspan(nginx.p.pid, work, sink, floor if m == "F" else None)
                x, cpu = bench.fixed_phase(nginx, a.seconds, pace, work)
                line = (f"round {r + 1} {m}: {x['rps']:.0f} req/s, server {cpu * 1e6:.2f} us "
                        f"a request, p99 {x['p99'] * 1e3:.2f} ms")
                if m == "F":
                    bench.settle(k.p.pid)
                    cnt, _ = k.stop()
                    # The floor really captured: a request and a response
                    # each, at least, and nothing lost.
                    ev, drops = cnt.get("bpf.events", 0), cnt.get("bpf.ringbuf_drops", -1)
                    line += f", events {ev}, drops {drops}"
                    if ev < 2 * x["reqs"] or drops:
                        failures.append(f"round {r + 1} F: {ev} events, {drops} drops for "
                                        f"{x['reqs']} requests")
                elif k:
                    k.stop()
                res[m].append((cpu, x["p99"]))
                print(line, flush=True)
    finally:
        bystander.terminate()
        sink.stop()
        nginx.stop()
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        sys.exit("bench-floor: F did not capture every request: " + "; ".join(failures))
    A = res["A"]
    print(f"\nkspan bench-floor: {a.rounds} rounds x {a.seconds} s per mode at "
          f"{rate:.0f} req/s, median [min..max]")
    print("| mode | server CPU a request | ratio to A | p99 latency | ratio to A |")
    print("|---|---|---|---|---|")
    for m in modes:
        cpu = [x[0] for x in res[m]]
        p99 = [x[1] for x in res[m]]
        rc = bench.fmt([x[0] / y[0] for x, y in zip(res[m], A)])
        rp = bench.fmt([x[1] / y[1] for x, y in zip(res[m], A)])
        print(f"| {m} | {statistics.median(cpu) * 1e6:.2f} us | {rc} | "
              f"{statistics.median(p99) * 1e3:.2f} ms | {rp} |")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench-floor: terminated"))
    main()
