#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""make demo: three small services on loopback (frontend -> orders ->
inventory), a client calling the frontend twice a second, and kspan tracing
all of them with the tree exporter. Ctrl-C stops everything."""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PY = "/usr/bin/python3"

SERVICE = r"""
import json, os, random, sys, time, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, downstream = int(sys.argv[1]), sys.argv[2]
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        time.sleep(random.uniform(0.001, 0.01))
        status, body = 200, {"service": os.environ["OTEL_SERVICE_NAME"], "path": self.path}
        if downstream != "-":
            try:
                item = self.path.rsplit("/", 1)[-1]
                with urllib.request.urlopen(f"http://127.0.0.1:{downstream}/items/{item}", timeout=5) as r:
                    body["downstream"] = json.load(r)
            except Exception as e:
                status, body["error"] = 502, str(e)
        elif random.random() < 0.1:
            status = 500
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
"""

CLIENT = r"""
import sys, time, urllib.request
port = int(sys.argv[1])
for i in range(1200):  # at most 10 minutes of traffic
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/orders/{1000 + i}", timeout=5).read()
    except Exception:
        pass
    time.sleep(0.5)
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port):
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"demo: service on port {port} did not start")


def main():
    kspan = ROOT / "build" / "kspan"
    if not kspan.exists():
        sys.exit("demo: build/kspan is missing: run 'make' first")
    procs = []
    try:
        ports = [free_port() for _ in range(3)]
        chain = [("frontend", ports[0], str(ports[1])), ("orders", ports[1], str(ports[2])),
                 ("inventory", ports[2], "-")]
        for name, port, down in reversed(chain):
            env = {**os.environ, "OTEL_SERVICE_NAME": name}
            procs.append(subprocess.Popen([PY, "-c", SERVICE, str(port), down], env=env))
            wait_port(port)
        client = subprocess.Popen([PY, "-c", CLIENT, str(ports[0])],
                                  env={**os.environ, "OTEL_SERVICE_NAME": "demo-client"})
        procs.append(client)
        print(f"demo: frontend :{ports[0]} -> orders :{ports[1]} -> inventory :{ports[2]}, "
              f"client pid {client.pid}; Ctrl-C to stop", file=sys.stderr)
        args = [str(kspan), "--exporter", "tree", *sys.argv[1:]]
        for p in procs:
            args += ["--pid", str(p.pid)]
        k = subprocess.Popen(args)
        try:
            k.wait()
        except KeyboardInterrupt:
            k.send_signal(signal.SIGINT)
            k.wait()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()


if __name__ == "__main__":
    main()
