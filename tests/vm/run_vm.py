#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Boot a second kernel under qemu (software emulation) and run kspan there.

The guest is Debian's 6.1 cloud kernel (build/vm/vmlinuz, fetched by
`make vm-kernel`) with an initramfs built here: busybox, build/kspan and the
shared libraries ldd names, and tests/vm/init as PID 1. The init script runs
`kspan probe --verify`, then one HTTP end-to-end per socket hook (busybox
httpd + wget on loopback, kspan --sock-hook HOOK) and prints everything
between KSPAN-VM markers on the serial console. This script parses the
console and checks it; it then runs the same HTTP exchange on the host
(default hook) and checks that every hook on both kernels gave the same
spans.

Usage: tests/vm/run_vm.py [--requests N] [--hooks fentry,kprobe,tp,fdwalk]
                          [--timeout S] [--no-host]
A hook whose kernel hook the guest lacks (tp before Linux 6.3) must be
refused by kspan with an error; every other hook must give the spans.
Exit status 0 when every check passed.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VMDIR = ROOT / "build" / "vm"
KSPAN = ROOT / "build" / "kspan"
INIT = Path(__file__).resolve().parent / "init"
GUEST_PORT = 8080  # tests/vm/init serves here
PATH_REQUESTED = "/index.html"

# What `kspan -v` prints after "attached <sys hook> + " for each --sock-hook.
SOCK_HOOK_NAMES = {
    "fentry": "fentry tcp_sendmsg/tcp_recvmsg",
    "kprobe": "kprobe tcp_sendmsg/tcp_recvmsg",
    "tp": "tp_btf sock_send_length/sock_recv_length",
    "fdwalk": "fd table walk at syscall exit",
}
# Every program in the BPF object; `kspan probe --verify` must list each.
PROGRAMS = ("sys_enter_btf", "sys_exit_btf", "sys_enter_raw", "sys_exit_raw",
            "tcp_sendmsg_kprobe", "tcp_recvmsg_kprobe", "tcp_sendmsg_fentry",
            "tcp_recvmsg_fentry", "sock_send_length_btf", "sock_recv_length_btf",
            "inet_sock_set_state_btf", "sched_process_fork_btf", "sched_process_exit_btf")

MARK = re.compile(r"^=== KSPAN-VM (BEGIN|END) (.+?) ===$")


class CheckError(AssertionError):
    pass


def check(cond, what):
    if not cond:
        raise CheckError(what)


# ---------------------------------------------------------------- initramfs

class Cpio:
    """A newc ("070701") cpio archive, as the kernel's initramfs reads it."""

    def __init__(self):
        self.data = bytearray()
        self.ino = 1
        self.seen = set()

    def _entry(self, name, mode, body=b"", rdev=(0, 0), nlink=1):
        name = name.lstrip("/") or "."
        fields = (self.ino, mode, 0, 0, nlink, 0, len(body), 0, 0,
                  rdev[0], rdev[1], len(name) + 1, 0)
        self.ino += 1
        self.data += b"070701" + b"".join(b"%08x" % f for f in fields)
        self.data += name.encode() + b"\0"
        self.data += b"\0" * (-len(self.data) % 4)
        self.data += body
        self.data += b"\0" * (-len(self.data) % 4)

    def dir(self, name):
        parts = Path(name.lstrip("/")).parts
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in self.seen:
                self.seen.add(d)
                self._entry(d, 0o040755, nlink=2)

    def file(self, name, body, mode=0o755):
        self.dir(str(Path(name).parent))
        self._entry(name, 0o100000 | mode, body)

    def chardev(self, name, major, minor):
        self.dir(str(Path(name).parent))
        self._entry(name, 0o020600, rdev=(major, minor))

    def finish(self):
        self._entry("TRAILER!!!", 0)
        return bytes(self.data)


def shared_libs(binary):
    """The shared libraries (and the dynamic loader) `ldd` lists."""
    r = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, f"ldd {binary} failed (is it built?): {r.stdout}{r.stderr}")
    out = r.stdout
    libs = []
    for line in out.splitlines():
        m = re.search(r"=>\s*(/\S+)", line) or re.match(r"\s*(/\S+)\s+\(", line)
        if m:
            libs.append(m.group(1))
    return libs


def find_busybox():
    for p in ("/bin/busybox", "/usr/bin/busybox"):
        if os.path.exists(p):
            return p
    raise CheckError("busybox not found: apt-get install busybox-static (make vm-deps)")


def build_initramfs(kspan, dest):
    busybox = find_busybox()
    r = subprocess.run(["ldd", busybox], capture_output=True, text=True, timeout=30)
    check(r.returncode != 0 or "statically linked" in r.stdout,
          f"{busybox} is not static: install busybox-static")
    c = Cpio()
    for d in ("dev", "proc", "sys", "tmp", "bin", "www"):
        c.dir(d)
    c.chardev("dev/console", 5, 1)
    c.chardev("dev/null", 1, 3)
    c.file("init", INIT.read_bytes())
    c.file("bin/busybox", Path(busybox).read_bytes())
    c.file("bin/kspan", Path(kspan).read_bytes())
    libs = shared_libs(kspan)
    for lib in libs:
        c.file(lib, Path(os.path.realpath(lib)).read_bytes())
    blob = c.finish()
    tmp = dest.with_suffix(".tmp")
    tmp.write_bytes(blob)
    tmp.replace(dest)
    return libs, len(blob)


# ---------------------------------------------------------------- the guest

class Guest:
    """One boot: the console text, its sections, and how long it took."""

    def __init__(self, rc, elapsed, text, console):
        self.rc, self.elapsed, self.text, self.console = rc, elapsed, text, console
        self.sections = sections(text)

    def tail(self, n=40):
        return "\n".join(self.text.splitlines()[-n:])


def boot(kernel, kspan, hooks, requests, timeout, smp=1, log=print):
    """Build the initramfs, boot it and wait for the guest to power off.
    Files are per run (concurrent runs in one tree do not clash); the last
    console is kept as build/vm/console.log."""
    VMDIR.mkdir(parents=True, exist_ok=True)
    initrd = VMDIR / f"initramfs-{os.getpid()}.cpio"
    console = VMDIR / f"console-{os.getpid()}.log"
    append = (f"console=ttyS0 panic=-1 loglevel=1 "
              f"kspan_vm.hooks={','.join(hooks)} kspan_vm.requests={requests}")
    cmd = ["qemu-system-x86_64", "-accel", "tcg", "-m", "1024", "-smp", str(smp),
           "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio",
           "-no-reboot", "-kernel", str(kernel), "-initrd", str(initrd),
           "-append", append]
    try:
        libs, size = build_initramfs(kspan, initrd)
        log(f"vmtest: initramfs {size // 1024} KiB: busybox, {kspan}, {' '.join(libs)}")
        log(f"vmtest: booting {kernel} under qemu TCG (timeout {timeout} s)")
        t0 = time.monotonic()
        with open(console, "wb") as out:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT)
            try:
                rc = p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                rc = None
        elapsed = time.monotonic() - t0
    finally:
        initrd.unlink(missing_ok=True)
    last = VMDIR / "console.log"
    console.replace(last)
    text = last.read_bytes().decode("utf-8", "replace").replace("\r", "")
    g = Guest(rc, elapsed, text, last)
    log(f"vmtest: guest ran {elapsed:.1f} s, qemu exit {rc}; console in {last}")
    check(rc is not None, f"guest did not power off within {timeout} s; console tail:\n{g.tail()}")
    check("=== KSPAN-VM DONE ===" in text, f"guest did not finish; console tail:\n{g.tail()}")
    return g


def sections(console_text):
    """{name: [lines]} for every BEGIN/END block on the console."""
    out, cur, name = {}, None, None
    for line in console_text.splitlines():
        m = MARK.match(line.strip())
        if m and m.group(1) == "BEGIN":
            name, cur = m.group(2), []
        elif m and m.group(1) == "END" and cur is not None and m.group(2) == name:
            out[name] = cur
            cur = None
        elif cur is not None:
            cur.append(line)
    return out


# ---------------------------------------------------------------- spans

def _attr_value(v):
    for k in ("stringValue", "boolValue", "doubleValue"):
        if k in v:
            return v[k]
    return int(v["intValue"])


def parse_spans(lines):
    spans = []
    for line in lines:
        if not line.strip():
            continue
        req = json.loads(line)
        for rs in req["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                for sp in ss["spans"]:
                    a = {x["key"]: _attr_value(x["value"]) for x in sp.get("attributes", [])}
                    spans.append({"name": sp["name"], "kind": sp["kind"],
                                  "status": sp.get("status", {}).get("code", 0),
                                  "attrs": a})
    return spans


def projection(spans, port):
    """What must be identical across hooks and kernels: everything but ids,
    times, pids, the client's ephemeral port and the values of measured TCP
    times (their presence counts)."""
    out = []
    for s in spans:
        a = dict(s["attrs"])
        check(a.get("server.port") == port, f"server.port {a.get('server.port')} != {port}")
        check(a.get("client.port") == a.get("network.peer.port"),
              f"client.port != network.peer.port in {a}")
        for k in ("server.port", "client.port", "network.peer.port"):
            a.pop(k, None)
        for k in ("kspan.tcp.srtt_us", "kspan.tcp.connect_us"):
            if k in a:
                check(a[k] > 0, f"{k} {a[k]} is not a time")
                a[k] = "measured"
        out.append(json.dumps({"name": s["name"], "kind": s["kind"],
                               "status": s["status"], "attrs": a}, sort_keys=True))
    return sorted(out)


def check_spans(spans, requests, where):
    check(len(spans) == requests, f"{where}: {len(spans)} spans, expected {requests}")
    for s in spans:
        a = s["attrs"]
        check(s["kind"] == 2, f"{where}: kind {s['kind']} is not SERVER")
        check(a.get("http.request.method") == "GET", f"{where}: method {a.get('http.request.method')}")
        check(a.get("url.path") == PATH_REQUESTED, f"{where}: path {a.get('url.path')}")
        check(a.get("http.response.status_code") == 200,
              f"{where}: status {a.get('http.response.status_code')}")
        check(s["name"] == "GET " + PATH_REQUESTED, f"{where}: name {s['name']}")


def summary(spans):
    return [f"{s['attrs'].get('http.request.method')} {s['attrs'].get('url.path')} "
            f"{s['attrs'].get('http.response.status_code')} "
            f"{'SERVER' if s['kind'] == 2 else s['kind']}" for s in spans]


# ---------------------------------------------------------------- checks

def absent_tracepoints(g):
    """The tracepoints named by kspan's tp_btf programs (and the sock ones)
    that the guest kernel lacks, from its tracefs."""
    info = g.sections.get("info")
    check(info is not None, f"no info section on the console (did init run?):\n{g.tail()}")
    check("btf: yes" in info, "guest kernel has no /sys/kernel/btf/vmlinux")
    tps = g.sections.get("tracepoints")
    check(tps is not None, "no tracepoints section on the console")
    return {l.split()[0] for l in tps if l.endswith(" absent")}


def hook_expected(hook, absent):
    """False for a hook whose kernel hook is missing: kspan must refuse it."""
    return not (hook == "tp" and {"sock_send_length", "sock_recv_length"} & absent)


VERIFY_LINE = re.compile(r"^(\w+)\s+(\w+)\s+([\w.]+)/([\w.]+)\b")


def check_probe(g, hooks, absent):
    """`kspan probe --verify`: every program verified, except a tp_btf
    program whose tracepoint this kernel lacks; every expected hook works.
    Returns {program: its line}."""
    probe = g.sections.get("probe")
    check(probe is not None, "no probe section on the console")
    res = {}
    for l in probe:
        m = VERIFY_LINE.match(l)
        if m:
            res[m.group(2)] = l
            if m.group(1) == "verified":
                continue
            check(m.group(3) == "tp_btf" and m.group(4) in absent,
                  f"program {m.group(2)} not verified on the guest:\n  {l}\n"
                  f"(tracepoints absent here: {sorted(absent)})")
    for prog in PROGRAMS:
        check(prog in res, f"probe --verify did not list {prog}")
    for hook in hooks:
        line = next((l for l in probe if SOCK_HOOK_NAMES[hook] in l and
                     not l.startswith("chosen")), "")
        if hook_expected(hook, absent):
            check(line.endswith("works"), f"probe: hook {hook} does not work: {line!r}")
        else:
            check("unavailable" in line, f"probe: hook {hook} should be unavailable: {line!r}")
    if all(l.startswith("verified") for l in res.values()):
        check("exit: 0" in probe, "probe --verify verified every program but did not exit 0")
    return res


def check_hook(g, hook, requests, absent):
    """One HTTP end-to-end in the guest. Returns its spans."""
    err = g.sections.get(f"stderr {hook}")
    check(err is not None, f"{hook}: no stderr section (kspan hung or init died?)")
    spans = parse_spans(g.sections.get(f"spans {hook}", []))
    text = "\n".join(err[-30:])
    if not hook_expected(hook, absent):
        # kspan -v shows libbpf naming the missing tracepoint.
        check("exit: 0" not in err, f"{hook}: kspan started with a hook this kernel lacks:\n{text}")
        check(any("sock_send_length" in l or "sock_recv_length" in l for l in err),
              f"{hook}: kspan refused the hook without naming the tracepoint:\n{text}")
        check(not spans, f"{hook}: spans from a hook that cannot attach")
        return None
    want = f"+ {SOCK_HOOK_NAMES[hook]}"
    check(any(l.startswith("kspan: debug: attached ") and l.endswith(want) for l in err),
          f"{hook}: kspan did not attach with {SOCK_HOOK_NAMES[hook]}:\n{text}")
    check("exit: 0" in err, f"{hook}: kspan did not exit 0:\n{text}")
    check_spans(spans, requests, f"guest {hook}")
    return spans


# ---------------------------------------------------------------- the host

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def host_reference(kspan, requests):
    """The same exchange on this host's kernel with kspan's default hook."""
    busybox = find_busybox()
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="kspan-vmtest-"))
    www = tmp / "www"
    www.mkdir()
    (www / "index.html").write_text("hello from the vmtest guest\n")
    url = f"http://127.0.0.1:{port}{PATH_REQUESTED}"
    httpd = subprocess.Popen([busybox, "httpd", "-f", "-p", f"127.0.0.1:{port}", "-h", str(www)])
    k = None
    try:
        for _ in range(50):
            if subprocess.run([busybox, "wget", "-q", "-O", "/dev/null", url]).returncode == 0:
                break
            time.sleep(0.1)
        out, errf = tmp / "spans.jsonl", tmp / "kspan.err"
        with open(errf, "w") as ef:
            k = subprocess.Popen([str(kspan), "-v", "--pid", str(httpd.pid), "--exporter",
                                  "otlp-json", "--output", str(out), "--linger-ms", "200",
                                  "--duration", "60"], stdout=subprocess.DEVNULL, stderr=ef)
        for _ in range(200):
            if k.poll() is not None or "kspan: info: tracing" in errf.read_text():
                break
            time.sleep(0.05)
        check(k.poll() is None, "host kspan exited early:\n" + errf.read_text())
        for _ in range(requests):
            subprocess.run([busybox, "wget", "-q", "-O", "/dev/null", url], check=True, timeout=30)
        time.sleep(1)
        k.send_signal(signal.SIGINT)
        rc = k.wait(timeout=30)
        err = errf.read_text()
        check(rc == 0, f"host kspan exited {rc}:\n{err}")
        attached = next((l for l in err.splitlines() if l.startswith("kspan: debug: attached")), "?")
        spans = parse_spans(out.read_text().splitlines() if out.exists() else [])
        check_spans(spans, requests, "host")
        return attached, spans, port
    finally:
        if k is not None and k.poll() is None:
            k.kill()
            k.wait()
        httpd.terminate()
        httpd.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- main

def find_kernel(path):
    if path:
        return Path(path)
    k = VMDIR / "vmlinuz"
    check(k.exists(), f"no {k}: run 'make vm-kernel' (fetches Debian's 6.1 cloud kernel)")
    return k


def run(args, log=print):
    """Every check; raises CheckError on the first failure."""
    g = boot(find_kernel(args.kernel), args.kspan, args.hooks, args.requests,
             args.timeout, args.smp, log)
    absent = absent_tracepoints(g)
    uname = next((l for l in g.sections["info"] if l.startswith("uname:")), "?")
    log(f"vmtest: guest {uname}; tracepoints absent: {sorted(absent) or 'none'}")
    log("vmtest: kspan probe --verify in the guest:")
    for l in g.sections.get("probe", []):
        log("  | " + l)
    check_probe(g, args.hooks, absent)
    projections = {}
    for hook in args.hooks:
        spans = check_hook(g, hook, args.requests, absent)
        if spans is None:
            err = [l for l in g.sections[f"stderr {hook}"] if "sock_send_length" in l]
            log(f"vmtest: guest {hook}: refused as expected: {err[0]}")
            continue
        projections[f"guest {hook}"] = projection(spans, GUEST_PORT)
        log(f"vmtest: guest {hook}: {len(spans)} spans: " + "; ".join(summary(spans)))
    if not args.no_host:
        attached, spans, port = host_reference(args.kspan, args.requests)
        projections["host"] = projection(spans, port)
        log(f"vmtest: host ({attached[len('kspan: debug: attached '):]}): {len(spans)} spans: "
            + "; ".join(summary(spans)))
    names = list(projections)
    check(names, "no hook produced spans")
    for n in names[1:]:
        check(projections[n] == projections[names[0]],
              f"spans differ between {names[0]} and {n}:\n  {projections[names[0]]}\n  {projections[n]}")
    log(f"vmtest: identical spans across {', '.join(names)}")
    return g


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernel", help="bzImage to boot (default build/vm/vmlinuz)")
    ap.add_argument("--kspan", default=str(KSPAN))
    ap.add_argument("--hooks", default="fentry,kprobe,tp,fdwalk",
                    type=lambda s: [h for h in s.split(",") if h])
    ap.add_argument("--requests", type=int, default=5)
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--smp", type=int, default=1)
    ap.add_argument("--no-host", action="store_true",
                    help="skip the reference run on the host kernel")
    a = ap.parse_args(argv)
    for h in a.hooks:
        if h not in SOCK_HOOK_NAMES:
            ap.error(f"unknown hook {h}")
    return a


def main():
    args = parse_args()
    t0 = time.monotonic()
    try:
        run(args)
    except CheckError as e:
        print(f"vmtest: FAILED: {e}", file=sys.stderr)
        return 1
    print(f"vmtest: passed in {time.monotonic() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
