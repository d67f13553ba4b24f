#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""make bench: kspan's overhead measured side by side in one run.

A: kspan not running. B: kspan running, the server outside its pid filter.
C: kspan tracing the server and exporting every span over OTLP/HTTP
(protobuf, as a DaemonSet sends to a Collector) to a local sink that
discards it; --exporter otlp-json writes OTLP/JSON to /dev/null instead. Modes alternate for several rounds; each figure is the median
ratio with its spread. nginx (one worker) is pinned to CPU 0 and wrk to
CPU 1; kspan is not pinned, so its cost lands on both. The same nginx
worker also serves HTTPS (TLS 1.3, keep-alive) on a second port for M6.

--smoke runs one short round of A and C, over HTTP and HTTPS, and only
checks that every request the server answered became exactly one exported
span, and that every span reached the sink."""
import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KSPAN = ROOT / "build" / "kspan"
HZ = os.sysconf("SC_CLK_TCK")
PACE_MS = 10


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    """utime + stime of a process and its reaped children, in seconds."""
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in f[11:15]) / HZ


def start_nginx(work, name, http, ports, cpu=None, conns=256):
    """One nginx worker with the given http {} block, started in the
    foreground (so that its pid is ours to stop); returns once every port
    in ports accepts."""
    conf = work / f"{name}.conf"
    conf.write_text(f"""
user root;
worker_processes 1;
daemon off;
pid {work}/{name}.pid;
error_log {work}/{name}.err;
events {{ worker_connections {conns}; }}
http {{
{http}
}}
""")
    pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
    p = subprocess.Popen(pin + ["nginx", "-c", str(conf)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for port in ports:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
    return p


class Nginx:
    def __init__(self, work):
        self.work = work
        self.port = free_port()
        www = work / "www"
        www.mkdir(exist_ok=True)
        (www / "index.html").write_text("<html>kspan bench</html>\n")
        self.log = work / "access.log"
        self.tls_port = free_port()
        cert, key = work / "cert.pem", work / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", str(key), "-out", str(cert), "-days", "1",
                        "-subj", "/CN=localhost"], check=True, capture_output=True)
        self.p = start_nginx(work, "nginx", f"""
  access_log {self.log} combined buffer=256k flush=1s;
  keepalive_requests 1000000;
  client_body_temp_path {work}/b; proxy_temp_path {work}/p; fastcgi_temp_path {work}/f;
  uwsgi_temp_path {work}/u; scgi_temp_path {work}/s;
  server {{ listen 127.0.0.1:{self.port}; root {www}; }}
  server {{
    listen 127.0.0.1:{self.tls_port} ssl; root {www};
    ssl_certificate {cert}; ssl_certificate_key {key}; ssl_protocols TLSv1.3;
  }}""", (self.port, self.tls_port), cpu=0, conns=1024)
        self.url = f"http://127.0.0.1:{self.port}/index.html"
        self.tls_url = f"https://127.0.0.1:{self.tls_port}/index.html"

    def worker(self):
        kids = subprocess.run(["pgrep", "-P", str(self.p.pid)], capture_output=True,
                              text=True).stdout.split()
        return int(kids[0])

    def served(self):
        """Requests answered so far, from the access log (flushed by USR1).
        Status 499 is nginx's note that the client closed first (wrk does
        so when it stops): no response went out, so no span can end."""
        os.kill(self.p.pid, signal.SIGUSR1)  # reopen logs: flushes the buffer
        # The worker flushes when it gets to the signal, and its 1 s flush
        # timer would anyway: wait for that, and for the size to settle (a
        # busy machine delays both; a line counted late would be counted
        # in the next mode).
        start, size = time.monotonic(), -1
        while time.monotonic() - start < 10:
            time.sleep(0.3)
            now = self.log.stat().st_size if self.log.exists() else 0
            if now == size and time.monotonic() - start >= 1.2:
                break
            size = now
        if not self.log.exists():
            return 0
        return sum(1 for line in open(self.log) if '" 499 ' not in line)

    def stop(self):
        self.p.terminate()
        self.p.wait()


class Sink:
    """An OTLP/HTTP endpoint that reads every request and discards it: a
    second nginx, not pinned, answering 200 to any POST (its CPU, like
    kspan's, is taken from the two CPUs the server and wrk run on)."""

    def __init__(self, work):
        self.port = free_port()
        self.p = start_nginx(work, "sink", f"""
  access_log off;
  client_max_body_size 64m;
  client_body_temp_path {work}/sb;
  server {{ listen 127.0.0.1:{self.port}; location / {{ return 200; }} }}""", (self.port,))
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.p.terminate()
        self.p.wait()


class Kspan:
    def __init__(self, pid, work, sink=None, binary=None):
        self.err = open(work / "kspan.err", "w+")
        if sink:
            out = ["--exporter", "otlp", "--otlp-endpoint", sink.url, "--no-metrics"]
        else:
            out = ["--exporter", "otlp-json", "--output", "/dev/null"]
        # Per-process TLS probes: wrk, on this host only for the bench,
        # maps the same libssl and would otherwise take every probe too.
        self.p = subprocess.Popen([str(binary or KSPAN), "--pid", str(pid), "--tls-probes", "process"] + out,
                                  stderr=self.err)
        for _ in range(200):
            self.err.seek(0)
            if "kspan: info: tracing" in self.err.read():
                return
            if self.p.poll() is not None:
                sys.exit("bench: kspan failed to start")
            time.sleep(0.05)

    def stop(self):
        hwm = 0
        for line in open(f"/proc/{self.p.pid}/status"):
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024
        self.p.send_signal(signal.SIGINT)
        self.p.wait(timeout=60)
        self.err.seek(0)
        text = self.err.read()
        counters = {}
        for line in text.splitlines():
            if line.startswith("kspan: info: ") and "=" in line:
                group, _, rest = line[len("kspan: info: "):].partition(": ")
                for kv in rest.split():
                    k, _, v = kv.partition("=")
                    if v.isdigit():
                        counters[f"{group}.{k}"] = int(v)
        # Kept for a span count mismatch: where the requests went.
        self.summary = [ln for ln in text.splitlines()
                        if ln.startswith(tuple(f"kspan: info: {g}:" for g in
                                                ("bpf", "events", "conns", "http1", "spans", "tls",
                                                 "otlp")))]
        return counters, hwm


def wrk(url, seconds, conns, paced=False, work=None):
    """paced: each connection waits PACE_MS between a response and its next
    request (wrk's delay() hook, whole milliseconds), so that the load is
    set by the number of connections, not by how fast the server answers."""
    args = ["taskset", "-c", "1", "wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency"]
    if paced:
        script = work / "pace.lua"
        script.write_text(f"function delay() return {PACE_MS} end\n")
        args += ["-s", str(script)]
    out = subprocess.run(args + [url], capture_output=True, text=True, check=True).stdout
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)\b", out)
        v = float(m.group(1))
        return v * {"us": 1e-6, "ms": 1e-3, "s": 1}[m.group(2)]
    return {"reqs": reqs, "rps": rps, "p50": pct(50), "p99": pct(99)}


def dd_rate(blocks):
    t = time.perf_counter()
    subprocess.run(["dd", "if=/dev/zero", "of=/dev/null", "bs=512", f"count={blocks}"],
                   check=True, capture_output=True)
    return blocks / (time.perf_counter() - t)


def settle(pid, limit=3.0):
    """Wait (at most limit seconds) until pid used no CPU over two 100 ms
    windows: kspan has drained and exported what the load left behind."""
    quiet, last, end = 0, cpu_seconds(pid), time.monotonic() + limit
    while quiet < 2 and time.monotonic() < end:
        time.sleep(0.1)
        now = cpu_seconds(pid)
        quiet = quiet + 1 if now == last else 0
        last = now


def paced_conns(url, rate, work):
    """Connections that, paced, make about rate req/s against A: each
    makes a little under 1000 / PACE_MS req/s (the response time adds to
    the wait), measured once and scaled."""
    conns = max(1, round(rate * PACE_MS / 1000))
    got = wrk(url, 3, conns, paced=True, work=work)["rps"]
    return max(1, round(conns * rate / max(got, 1)))


def fixed_rate(url, work):
    """The fixed-rate phase's rate, half of A's saturated throughput (the
    median of three 2 s runs: one run alone was off by a quarter), and the
    paced connections that make it."""
    rate = statistics.median(wrk(url, 2, 32)["rps"] for _ in range(3)) / 2
    return rate, paced_conns(url, rate, work)


def fixed_phase(nginx, seconds, pace, work):
    """wrk at the fixed rate, and the server's CPU per request served (a
    mode that falls behind the rate serves fewer requests in the same
    time)."""
    w = nginx.worker()
    c0 = cpu_seconds(w)
    r = wrk(nginx.url, seconds, pace, paced=True, work=work)
    return r, (cpu_seconds(w) - c0) / max(r["reqs"], 1)


def run_mode(mode, nginx, bystander, work, seconds, pace, dd_blocks, sink):
    k = None
    if mode == "B":
        k = Kspan(bystander, work, sink)
    elif mode == "C":
        k = Kspan(nginx.p.pid, work, sink)
    before = nginx.served()
    kcpu0 = cpu_seconds(k.p.pid) if k else 0
    sat = wrk(nginx.url, seconds, 32)
    # M6: the same over HTTPS, wrk's connections kept alive (one TLS
    # handshake each).
    res = {"sat": sat, "tls_sat": wrk(nginx.tls_url, seconds, 32)}
    if pace:
        res["fixed"], res["server_cpu"] = fixed_phase(nginx, seconds, pace, work)
    if dd_blocks:
        # M5 is the cost on another process's syscalls: dd starts once
        # kspan has caught up with the load before it.
        if k:
            settle(k.p.pid)
        res["dd"] = dd_rate(dd_blocks)
    # Every request of the mode, all phases: what kspan saw while running.
    res["served"] = nginx.served() - before
    if k:
        res["kspan_cpu"] = cpu_seconds(k.p.pid) - kcpu0
        res["counters"], res["rss"] = k.stop()
        res["summary"] = k.summary
    return res


def med(xs):
    return statistics.median(xs), min(xs), max(xs)


def fmt(xs, unit=""):
    m, lo, hi = med(xs)
    return f"{m:.3f}{unit} [{lo:.3f}..{hi:.3f}]"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--exporter", choices=["otlp", "otlp-json"], default="otlp",
                    help="otlp: OTLP/HTTP protobuf to a local nginx that discards every\n"
                    "request (default); otlp-json: OTLP/JSON to /dev/null")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: needs root (kspan loads BPF programs)")
    if not KSPAN.exists():
        sys.exit("bench: build/kspan is missing: run make first")
    work = Path(tempfile.mkdtemp(prefix="kspan-bench-"))
    nginx = Nginx(work)
    bystander = subprocess.Popen(["sleep", "3600"])
    sink = Sink(work) if a.exporter == "otlp" else None
    failures = []
    try:
        if a.smoke:
            rounds, modes, seconds, rate, pace, dd_blocks = 1, ["A", "C"], 2, None, None, 0
        else:
            rounds, modes, seconds = a.rounds, ["A", "B", "C"], a.seconds
            dd_blocks = 2_000_000
            rate, pace = fixed_rate(nginx.url, work)
            print(f"bench: fixed rate {rate:.0f} req/s (half of A's maximum)", flush=True)
            print(f"bench: {pace} connections, each waiting {PACE_MS} ms between requests",
                  flush=True)
        results = {m: [] for m in modes}
        for r in range(rounds):
            for m in modes:
                res = run_mode(m, nginx, bystander.pid, work, seconds, pace, dd_blocks, sink)
                results[m].append(res)
                line = (f"round {r + 1} {m}: {res['sat']['rps']:.0f} req/s, https "
                        f"{res['tls_sat']['rps']:.0f} req/s, served {res['served']} in all")
                if "counters" in res:
                    c = res["counters"]
                    line += (f", spans {c.get('spans.exported', 0)}, ringbuf drops "
                             f"{c.get('bpf.ringbuf_drops', 0)}")
                print(line, flush=True)
        for res in results.get("C", []):
            spans = res["counters"].get("spans.exported", -1)
            if spans != res["served"]:
                failures.append(f"C: {spans} spans exported for {res['served']} requests served")
                print("\n".join(res["summary"]), flush=True)
            # With the OTLP exporter: every span also reached the sink.
            sent = res["counters"].get("otlp.sent", -1) if sink else spans
            if sent != spans:
                failures.append(f"C: {sent} of {spans} spans sent to the OTLP sink")
                print("\n".join(ln for ln in res["summary"] if ": otlp:" in ln), flush=True)
        if a.smoke:
            if failures:
                sys.exit("bench: SPAN COUNT MISMATCH: " + "; ".join(failures))
            print(f"bench smoke: {results['C'][0]['served']} requests served "
                  f"({results['C'][0]['tls_sat']['reqs']} over HTTPS), "
                  f"as many spans exported, 0 drops" if not
                  results['C'][0]['counters'].get('bpf.ringbuf_drops') else "bench smoke: drops")
            return
        A, B, C = results["A"], results["B"], results["C"]
        ratio = lambda num, den, f: [f(n) / f(d) for n, d in zip(num, den)]  # noqa: E731
        rows = [
            ("M1", "throughput C/A at saturation", fmt(ratio(C, A, lambda x: x["sat"]["rps"])), ">= 0.97"),
            ("M1", "spans exported / requests served",
             fmt([c["counters"].get("spans.exported", 0) / max(c["served"], 1) for c in C]), "= 1.000"),
            ("M1", "ring-buffer drops (C)", str(sum(c["counters"].get("bpf.ringbuf_drops", 0) for c in C)), "0"),
            ("M2", "server CPU per request at fixed rate C/A", fmt(ratio(C, A, lambda x: x["server_cpu"])),
             "<= 1.05"),
            ("M3", "kspan CPU per exported span",
             fmt([c["kspan_cpu"] / max(c["counters"].get("spans.exported", 1), 1) * 1e6 for c in C], " us"),
             "<= 5 us"),
            ("M3", "kspan peak RSS", fmt([c["rss"] / 2**20 for c in C], " MiB"), "<= 40 MB (38.1 MiB)"),
            ("M4", "p50 latency at fixed rate C/A", fmt(ratio(C, A, lambda x: x["fixed"]["p50"])), ""),
            ("M4", "p99 latency at fixed rate C/A", fmt(ratio(C, A, lambda x: x["fixed"]["p99"])), "<= 1.05"),
            ("M5", "dd bs=512 outside the filter B/A", fmt(ratio(B, A, lambda x: x["dd"])), ">= 0.95"),
            ("M5", "dd bs=512 outside the filter C/A", fmt(ratio(C, A, lambda x: x["dd"])), ">= 0.95"),
            ("M6", "HTTPS throughput C/A at saturation", fmt(ratio(C, A, lambda x: x["tls_sat"]["rps"])),
             ">= 0.95"),
        ]
        print(f"\nkspan bench: {rounds} rounds x {seconds} s per mode, exporter {a.exporter}, "
              "median [min..max]")
        print("| metric | what | measured | goal |")
        print("|---|---|---|---|")
        for r in rows:
            print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} |")
        print(f"\nA saturated throughput: {fmt([x['sat']['rps'] for x in A])} req/s, "
              f"HTTPS {fmt([x['tls_sat']['rps'] for x in A])} req/s")
        print(f"fixed rate {rate:.0f} req/s; served: A {fmt([x['fixed']['rps'] for x in A])}, "
              f"C {fmt([x['fixed']['rps'] for x in C])} req/s")
        if failures:
            sys.exit("bench: SPAN COUNT MISMATCH: " + "; ".join(failures))
    finally:
        bystander.terminate()
        if sink:
            sink.stop()
        nginx.stop()


if __name__ == "__main__":
    # SIGTERM (e.g. from a time limit) unwinds through main's finally, so
    # nginx and the bystander never outlive the bench.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench: terminated"))
    main()
