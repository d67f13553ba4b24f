# SPDX-License-Identifier: Apache-2.0
"""`kspan conns`: per-connection TCP figures measured across two network
namespaces with a known delay and loss, failed connects with their reasons,
the JSON records field by field and the live view under tmux.

The link between the namespaces is a veth pair with `tc netem` on both ends
when this kernel has sch_netem. Without it (CONFIG_NET_SCH_NETEM unset, as on
the 6.18 development machines) the same delay and loss come from a relay in
this file: each namespace gets a TUN device and a small process moves the
packets between them after the delay, dropping the given share. Either way
the kernel's TCP stack sees a real 40 ms round trip.

Run as a script, `test_conns.py relay NS_A NS_B DELAY_MS LOSS` is that relay.
"""
import ctypes
import fcntl
import heapq
import json
import os
import random
import re
import select
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
KSPAN = Path(os.environ.get("KSPAN_BIN", ROOT / "build" / "kspan"))
PY = "/usr/bin/python3"

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000


def relay_main(ns_a, ns_b, delay_ms, loss):
    """Move packets between a TUN device in ns_a and one in ns_b, each after
    delay_ms, dropping a share `loss` of them. Runs until killed."""
    libc = ctypes.CDLL(None, use_errno=True)
    delay = delay_ms / 1000.0

    def enter(ns):
        fd = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns {ns}: {os.strerror(err)}")
        finally:
            os.close(fd)

    def tun(name):
        fd = os.open("/dev/net/tun", os.O_RDWR)
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), IFF_TUN | IFF_NO_PI))
        os.set_blocking(fd, False)
        return fd

    # Real-time priority: the delay must not grow when the machine is busy.
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    except OSError:
        pass
    enter(ns_a)
    fa = tun("kc0")
    enter(ns_b)
    fb = tun("kc0")
    peer = {fa: fb, fb: fa}
    rng = random.Random(7)
    queue, seq = [], 0
    print("ready", flush=True)
    while True:
        timeout = max(0.0, queue[0][0] - time.monotonic()) if queue else 1.0
        ready, _, _ = select.select([fa, fb], [], [], timeout)
        now = time.monotonic()
        for fd in ready:
            for _ in range(256):
                try:
                    pkt = os.read(fd, 65536)
                except BlockingIOError:
                    break
                if loss and rng.random() < loss:
                    continue
                heapq.heappush(queue, (now + delay, seq, peer[fd], pkt))
                seq += 1
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, out, pkt = heapq.heappop(queue)
            try:
                os.write(out, pkt)
            except OSError:
                pass


if __name__ == "__main__" and len(sys.argv) == 6 and sys.argv[1] == "relay":
    relay_main(sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5]))
    sys.exit(0)

import pytest  # noqa: E402

A_ADDR, B_ADDR = "10.77.1.1", "10.77.1.2"
DROP_ADDR = "10.77.2.1"		# B routes it to a blackhole: SYNs vanish
UNREACH_ADDR = "10.77.3.1"	# B answers ICMP host unreachable
RTT_MS = 40.0


def sh(*cmd, ns=None, check=True):
    full = (["ip", "netns", "exec", ns] if ns else []) + list(cmd)
    r = subprocess.run(full, capture_output=True, text=True, timeout=30)
    if check and r.returncode:
        raise AssertionError(f"{' '.join(full)} failed: {r.stderr.strip()}")
    return r


def netem_works():
    """Try the netem qdisc once, in a namespace of our own."""
    ns = f"kcprobe{os.getpid()}"
    sh("ip", "netns", "add", ns)
    try:
        sh("ip", "link", "add", "p0", "type", "veth", "peer", "name", "p1", ns=ns)
        r = sh("tc", "qdisc", "add", "dev", "p0", "root", "netem", "delay", "1ms",
               ns=ns, check=False)
        return r.returncode == 0
    finally:
        sh("ip", "netns", "del", ns, check=False)


NETEM = None


class Net:
    """Namespaces A (clients) and B (servers) with delay_ms each way and a
    share `loss` of packets lost each way."""

    def __init__(self, delay_ms=20, loss=0.0):
        global NETEM
        if NETEM is None:
            NETEM = netem_works()
        self.delay_ms, self.loss = delay_ms, loss
        tag = f"{os.getpid()}{random.randrange(1 << 20):05x}"
        self.a, self.b = f"kca{tag}", f"kcb{tag}"
        self.relay = None

    def __enter__(self):
        try:
            sh("ip", "netns", "add", self.a)
            sh("ip", "netns", "add", self.b)
            if NETEM:
                self._veth()
            else:
                self._tun()
            for ns in (self.a, self.b):
                sh("ip", "link", "set", "lo", "up", ns=ns)
            # Traffic for the two test prefixes goes to B, which drops one
            # and answers "host unreachable" for the other.
            sh("ip", "route", "add", "10.77.2.0/23", "via", B_ADDR, ns=self.a)
            sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=self.b)
            sh("ip", "route", "add", "blackhole", "10.77.2.0/24", ns=self.b)
            sh("ip", "route", "add", "unreachable", "10.77.3.0/24", ns=self.b)
        except BaseException:
            self.__exit__()
            raise
        return self

    def _veth(self):
        sh("ip", "link", "add", "kc0", "netns", self.a, "type", "veth",
           "peer", "name", "kc0", "netns", self.b)
        for ns, mine, peer in ((self.a, A_ADDR, B_ADDR), (self.b, B_ADDR, A_ADDR)):
            sh("ip", "addr", "add", f"{mine}/24", "dev", "kc0", ns=ns)
            sh("ip", "link", "set", "kc0", "up", ns=ns)
            args = ["delay", f"{self.delay_ms}ms"]
            if self.loss:
                args += ["loss", f"{self.loss * 100:g}%"]
            sh("tc", "qdisc", "add", "dev", "kc0", "root", "netem", *args, ns=ns)

    def _tun(self):
        self.relay = subprocess.Popen(
            [PY, __file__, "relay", self.a, self.b, str(self.delay_ms), str(self.loss)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.relay.stdout.readline()
        if line.strip() != "ready":
            raise AssertionError(f"relay failed: {self.relay.stderr.read()}")
        for ns, mine, peer in ((self.a, A_ADDR, B_ADDR), (self.b, B_ADDR, A_ADDR)):
            sh("ip", "addr", "add", mine, "peer", peer, "dev", "kc0", ns=ns)
            sh("ip", "link", "set", "kc0", "up", ns=ns)

    def __exit__(self, *exc):
        if self.relay and self.relay.poll() is None:
            self.relay.kill()
            self.relay.wait()
        for ns in (self.a, self.b):
            sh("ip", "netns", "del", ns, check=False)

    def popen(self, ns, code, *args):
        return subprocess.Popen(["ip", "netns", "exec", ns, PY, "-c", code, *map(str, args)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)


# A server in B: "echo" answers each line; "bulk N" reads N bytes then sends
# one byte back. It prints its port, then serves connections until killed.
SERVER = r"""
import socket, sys, threading
mode, addr = sys.argv[1], sys.argv[2]
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
def serve(c):
    with c:
        if mode == "echo":
            f = c.makefile("rb")
            for line in f:
                c.sendall(line)
        else:
            want, got = int(sys.argv[3]), 0
            while got < want:
                d = c.recv(65536)
                if not d:
                    return
                got += len(d)
            c.sendall(b"k")
            c.recv(1)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""

# A client in A. It prints its pid and waits for a line on stdin before it
# connects (so kspan can be started with --pid first), prints its local
# port, runs, prints "done" and waits for another line before closing (so
# `ss` can read the socket first).
CLIENT = r"""
import os, socket, sys
mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
print(os.getpid(), flush=True)
sys.stdin.readline()
c = socket.socket()
if mode == "fail":
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_SYNCNT, 1)
    try:
        c.connect((host, port))
        print("connected", flush=True)
    except OSError as e:
        print(f"error {e.errno}", flush=True)
    c.close()
    sys.exit(0)
c.connect((host, port))
print(c.getsockname()[1], flush=True)
if mode == "echo":
    f = c.makefile("rb")
    for i in range(int(sys.argv[4])):
        c.sendall(b"ping %d\n" % i)
        f.readline()
else:
    n = int(sys.argv[4]); chunk = b"x" * 65536
    while n > 0:
        c.sendall(chunk[:n]); n -= min(n, len(chunk))
    assert c.recv(1) == b"k"
print("done", flush=True)
sys.stdin.readline()
c.close()
"""


class Conns:
    """`kspan conns --json` writing to a file."""

    def __init__(self, tmp_path, *args):
        self.out = tmp_path / f"conns-{time.monotonic_ns()}.jsonl"
        self.errfile = tmp_path / f"conns-{time.monotonic_ns()}.err"
        self.args = [str(KSPAN), "conns", "--json", "--interval", "0.2", *map(str, args)]
        self.proc = None

    def __enter__(self):
        self.err = open(self.errfile, "w")
        with open(self.out, "w") as out:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=self.err)
        end = time.time() + 30
        while time.time() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"kspan conns exited: {self.errfile.read_text()}")
            if "kspan: info: watching" in self.errfile.read_text():
                return self
            time.sleep(0.05)
        raise TimeoutError("kspan conns did not start")

    def stop(self):
        if self.proc.poll() is None:
            time.sleep(0.5)		# let the last records be read
            self.proc.send_signal(signal.SIGINT)
        rc = self.proc.wait(timeout=30)
        self.err.close()
        return rc

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.stop()

    def records(self, port=None):
        recs = [json.loads(l) for l in self.out.read_text().splitlines() if l.strip()]
        if port is not None:
            recs = [r for r in recs if port in (r["local_port"], r["remote_port"])]
        return recs


def within(value, target, share):
    return abs(value - target) <= share * target


def start_server(net, mode, *args):
    srv = net.popen(net.b, SERVER, mode, B_ADDR, *args)
    line = srv.stdout.readline()
    assert line.strip().isdigit(), srv.stderr.read()
    return srv, int(line)


def stop(p):
    if p.poll() is None:
        p.kill()
    p.wait(timeout=10)


def by_cookie(recs):
    out = {}
    for r in recs:
        out.setdefault(r["cookie"], []).append(r)
    return out


EVENTS = {"open", "established", "failed", "stats", "close"}
FIELDS = {"event", "ts_ns", "cookie", "pid", "comm", "role", "network_type",
          "local_address", "local_port", "remote_address", "remote_port", "state",
          "connect_us", "srtt_us", "rttvar_us", "min_rtt_us", "retrans", "syn_retrans",
          "kernel_total_retrans", "rst_sent", "rst_recv", "bytes_in", "bytes_out",
          "age_us", "reason", "errno"}


def test_conns_is_wired():
    r = subprocess.run([str(KSPAN), "conns", "--help"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0 and "--sort" in r.stdout, \
        "build/kspan has no 'conns' command: main.c must dispatch to conns_main()"
    r = subprocess.run([str(KSPAN), "conns", "--sort", "speed"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2 and "unknown --sort 'speed'" in r.stderr


def test_delay_connect_rtt_and_json(tmp_path):
    """40 ms round trip: connect time and srtt on both ends within 20%, and
    every field of every record of the client and the server connection,
    with the pid filter on."""
    with Net(delay_ms=20) as net:
        srv, port = start_server(net, "echo")
        cli = net.popen(net.a, CLIENT, "echo", B_ADDR, port, 20)
        try:
            cli_pid = int(cli.stdout.readline())
            with Conns(tmp_path, "--pid", cli_pid, "--pid", srv.pid, "--port", port) as k:
                cli.stdin.write("go\n")
                cli.stdin.flush()
                cli_port = int(cli.stdout.readline())
                assert cli.stdout.readline().strip() == "done"
                cli.stdin.write("close\n")
                cli.stdin.flush()
                cli.wait(timeout=30)
                time.sleep(0.5)
                k.stop()
        finally:
            stop(cli)
            stop(srv)
    recs = k.records(port)
    assert recs, k.errfile.read_text()
    for r in recs:
        assert set(r) == FIELDS, r
        assert r["event"] in EVENTS
        assert r["network_type"] == "ipv4"
    conns = by_cookie(recs)
    assert len(conns) == 2, conns
    client = next(v for v in conns.values() if v[0]["role"] == "client")
    server = next(v for v in conns.values() if v[0]["role"] == "server")
    # `ip netns exec` runs the script in a child whose pid we printed.
    events = [r["event"] for r in client]
    assert events[0] == "open" and events[1] == "established" and events[-1] == "close"
    assert set(events[2:-1]) <= {"stats"}
    for r in client:
        assert r["pid"] == cli_pid and r["comm"] == "python3"
        assert r["remote_address"] == B_ADDR and r["remote_port"] == port
        assert r["local_address"] == A_ADDR
        assert r["reason"] is None and r["errno"] == 0
        assert r["rst_sent"] == 0 and r["rst_recv"] == 0
        assert r["retrans"] == 0 and r["syn_retrans"] == 0 and r["kernel_total_retrans"] == 0
        assert r["cookie"] > 0 and r["ts_ns"] > 0
    op, est, cl = client[0], client[1], client[-1]
    assert op["state"] == "SYN_SENT" and op["connect_us"] is None and op["srtt_us"] is None
    assert op["bytes_in"] is None and op["age_us"] == 0
    assert est["state"] == "ESTABLISHED" and est["local_port"] == cli_port
    assert within(est["connect_us"] / 1000, RTT_MS, 0.2), est
    assert within(est["srtt_us"] / 1000, RTT_MS, 0.2), est
    assert est["min_rtt_us"] == est["srtt_us"]	# one sample so far
    assert est["age_us"] == est["connect_us"]
    assert cl["state"] == "CLOSE" and cl["local_port"] == cli_port
    assert cl["connect_us"] == est["connect_us"]
    assert within(cl["srtt_us"] / 1000, RTT_MS, 0.2), cl
    assert within(cl["min_rtt_us"] / 1000, RTT_MS, 0.2), cl
    assert cl["rttvar_us"] < cl["srtt_us"]
    # 20 lines of "ping N\n" out and back; ss counts SYN and FIN as a byte.
    sent = sum(len(b"ping %d\n" % i) for i in range(20))
    assert cl["bytes_out"] == sent + 2 and cl["bytes_in"] == sent + 1
    assert cl["age_us"] >= 20 * RTT_MS * 1000 * 0.8
    assert [r["ts_ns"] for r in client] == sorted(r["ts_ns"] for r in client)

    # The accepted side: reported once the owner (the server) accepted it.
    events = [r["event"] for r in server]
    assert events[0] == "established" and events[-1] == "close"
    for r in server:
        assert r["pid"] == srv.pid and r["comm"] == "python3"
        assert r["local_address"] == B_ADDR and r["local_port"] == port
        assert r["remote_address"] == A_ADDR and r["remote_port"] == cli_port
    sest, scl = server[0], server[-1]
    # Server handshake: SYN-ACK out, ACK back: one round trip.
    assert within(sest["connect_us"] / 1000, RTT_MS, 0.2), sest
    assert within(scl["srtt_us"] / 1000, RTT_MS, 0.2), scl
    # The child socket starts after the SYN: only the FIN counts here.
    assert scl["bytes_in"] == sent + 1 and scl["bytes_out"] == sent + 1


def ss_total_retrans(ns, port):
    r = sh("ss", "-tin", "dport", "=", f":{port}", ns=ns)
    m = re.search(r"retrans:\d+/(\d+)", r.stdout)
    return int(m.group(1)) if m else 0


def test_loss_retransmits_match_the_kernel(tmp_path):
    """5% loss each way and a bulk upload: the retransmits kspan counts are
    within 10% of the kernel's own total for the socket, read by ss just
    before the close."""
    size = 1_500_000
    with Net(delay_ms=20, loss=0.05) as net:
        srv, port = start_server(net, "bulk", size)
        cli = net.popen(net.a, CLIENT, "bulk", B_ADDR, port, size)
        try:
            int(cli.stdout.readline())
            with Conns(tmp_path, "--port", port) as k:
                cli.stdin.write("go\n")
                cli.stdin.flush()
                cli_port = int(cli.stdout.readline())
                assert cli.stdout.readline().strip() == "done"
                kernel = ss_total_retrans(net.a, port)
                cli.stdin.write("close\n")
                cli.stdin.flush()
                cli.wait(timeout=30)
                time.sleep(0.5)
                k.stop()
        finally:
            stop(cli)
            stop(srv)
    recs = [r for r in k.records(port) if r["role"] == "client"
            and r["local_port"] == cli_port]
    close = [r for r in recs if r["event"] == "close"]
    assert len(close) == 1, recs
    cl = close[0]
    assert kernel > 0, "5% loss produced no retransmit: is the link lossy?"
    assert within(cl["retrans"], kernel, 0.10), (cl, kernel)
    # A lost ACK of the tail can still cost a retransmit after ss looked.
    assert kernel <= cl["kernel_total_retrans"] <= kernel + 3
    assert within(cl["retrans"], cl["kernel_total_retrans"], 0.10), cl
    assert cl["bytes_out"] == size + 2
    # Stats records went out while the transfer ran, with rising counts.
    stats = [r["retrans"] for r in recs if r["event"] == "stats"]
    assert stats and stats == sorted(stats)


def test_failures_have_reasons(tmp_path):
    """Refused (closed port: RST), timeout (SYNs dropped) and unreachable
    (ICMP host unreachable), each as a failed record with its reason."""
    with Net(delay_ms=20) as net, Conns(tmp_path, "--port", 9) as k:
        results = {}
        for name, host in (("refused", B_ADDR), ("timeout", DROP_ADDR),
                           ("unreachable", UNREACH_ADDR)):
            cli = net.popen(net.a, CLIENT, "fail", host, 9)
            pid = int(cli.stdout.readline())
            cli.stdin.write("go\n")
            cli.stdin.flush()
            cli.stdin.close()
            results[name] = (pid, host, cli)
        outs = {}
        for name, (_, _, p) in results.items():
            outs[name] = p.stdout.read()
            p.wait(timeout=30)
        time.sleep(0.5)
        k.stop()
    assert "error 111" in outs["refused"]
    assert "error 110" in outs["timeout"]
    assert "error 113" in outs["unreachable"]
    recs = k.records(9)
    for name, errno_ in (("refused", 111), ("timeout", 110), ("unreachable", 113)):
        pid, host, _ = results[name]
        mine = [r for r in recs if r["pid"] == pid]
        events = [r["event"] for r in mine]
        # SYN retransmits may send a stats record before the failure.
        assert events[0] == "open" and events[-2:] == ["failed", "close"], (name, mine)
        assert set(events[1:-2]) <= {"stats"}
        failed = mine[-2]
        assert failed["reason"] == name and failed["errno"] == errno_
        assert failed["remote_address"] == host and failed["remote_port"] == 9
        assert failed["connect_us"] is None and failed["srtt_us"] is None
        assert failed["role"] == "client" and failed["comm"] == "python3"
        if name == "refused":
            assert failed["rst_recv"] == 1 and failed["syn_retrans"] == 0
            assert within(failed["age_us"] / 1000, RTT_MS, 0.2), failed
        elif name == "timeout":
            # TCP_SYNCNT=1: SYN retransmits (as many as the kernel counts),
            # then ETIMEDOUT after ~3 s.
            assert failed["syn_retrans"] >= 1
            assert failed["retrans"] == failed["syn_retrans"] == failed["kernel_total_retrans"]
            assert failed["local_port"] > 0
            assert 2_500_000 <= failed["age_us"] <= 5_000_000, failed
        else:
            assert within(failed["age_us"] / 1000, RTT_MS, 0.2), failed
        assert mine[-1]["reason"] == name	# close keeps the failure


def tmux(*args, check=True):
    return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=30,
                          check=check)


def test_live_view_under_tmux(tmp_path):
    """The table redrawn in place: header and a row per connection, sorted."""
    if subprocess.run(["which", "tmux"], capture_output=True).returncode:
        pytest.fail("tmux is not installed (make deps installs it)")
    session = f"kconns{os.getpid()}"
    with Net(delay_ms=20) as net:
        srv, port = start_server(net, "echo")
        cli = net.popen(net.a, CLIENT, "echo", B_ADDR, port, 5)
        try:
            int(cli.stdout.readline())
            tmux("new-session", "-d", "-s", session, "-x", "220", "-y", "40",
                 f"{KSPAN} conns --interval 0.3 --port {port} --sort connect; sleep 30")
            try:
                time.sleep(2)
                cli.stdin.write("go\n")
                cli.stdin.flush()
                cli_port = int(cli.stdout.readline())
                assert cli.stdout.readline().strip() == "done"
                time.sleep(1.5)
                screen = tmux("capture-pane", "-p", "-t", session).stdout
            finally:
                tmux("kill-session", "-t", session, check=False)
        finally:
            stop(cli)
            stop(srv)
    lines = screen.splitlines()
    assert lines[0].startswith("kspan conns: 2 connections, sorted by connect"), screen
    assert lines[1].split() == ["PID/COMM", "LOCAL", "REMOTE", "STATE", "CONN_MS", "SRTT",
                                "RTTVAR", "MINRTT", "RETR", "RST", "IN", "OUT", "AGE"]
    rows = [l.split() for l in lines[2:] if l.strip()]
    assert len(rows) == 2, screen
    by_local = {r[1]: r for r in rows}
    c = by_local[f"{A_ADDR}:{cli_port}"]
    s = by_local[f"{B_ADDR}:{port}"]
    assert c[2] == f"{B_ADDR}:{port}" and s[2] == f"{A_ADDR}:{cli_port}"
    for row in (c, s):
        assert row[0].endswith("/python3")
        assert row[3] == "ESTABLISHED"
        assert within(float(row[4]), RTT_MS, 0.2), screen
        assert within(float(row[5]), RTT_MS, 0.2), screen
        assert row[8] == "0" and row[9] == "0", screen
    # Sorted by connect time, highest first; only one screen (drawn in place).
    assert float(rows[0][4]) >= float(rows[1][4])
    assert screen.count("PID/COMM") == 1
