# SPDX-License-Identifier: Apache-2.0
"""kspan on a second kernel: Debian's 6.1 cloud kernel under qemu (TCG).

One boot per module (about 20 s): tests/vm/run_vm.py builds the initramfs,
the guest runs `kspan probe --verify` and an HTTP end-to-end per socket hook,
and these tests check what it printed. `make vmtest` runs the same checks
outside pytest."""
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "vm"))
import run_vm  # noqa: E402

REQUESTS = 5
HOOKS = ["fentry", "kprobe", "tp", "fdwalk"]

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64",
                                reason="the guest kernel is Debian's cloud-amd64")


@pytest.fixture(scope="module")
def guest():
    assert shutil.which("qemu-system-x86_64"), \
        "qemu-system-x86_64 missing: run 'make deps' (or 'make vm-deps')"
    kernel = run_vm.VMDIR / "vmlinuz"
    if not kernel.exists():
        r = subprocess.run(["make", "--no-print-directory", "vm-kernel"], cwd=ROOT,
                           capture_output=True, text=True, timeout=600,
                           env={**os.environ, "MAKEFLAGS": ""})
        assert r.returncode == 0, f"make vm-kernel failed:\n{r.stdout}{r.stderr}"
    g = run_vm.boot(kernel, run_vm.KSPAN, HOOKS, REQUESTS, timeout=300)
    g.absent = run_vm.absent_tracepoints(g)
    return g


def test_guest_runs_another_kernel_with_btf(guest):
    info = guest.sections["info"]
    uname = next(l for l in info if l.startswith("uname:")).split()[1]
    assert uname.startswith("6.1.") and uname != platform.release()
    assert "btf: yes" in info
    # sock_send_length/sock_recv_length appeared in 6.3: 6.1 has neither.
    assert {"sock_send_length", "sock_recv_length"} <= guest.absent


def test_every_program_passes_the_verifier_in_the_guest(guest):
    res = run_vm.check_probe(guest, HOOKS, guest.absent)
    # fentry and kprobe, refused or unattachable on the host, load here.
    for prog in ("tcp_sendmsg_fentry", "tcp_recvmsg_fentry",
                 "tcp_sendmsg_kprobe", "tcp_recvmsg_kprobe"):
        assert res[prog].startswith("verified"), res[prog]


@pytest.mark.parametrize("hook", HOOKS)
def test_http_spans_with_each_hook(guest, hook):
    spans = run_vm.check_hook(guest, hook, REQUESTS, guest.absent)
    if hook == "tp":
        assert spans is None  # refused: the tracepoint is not in 6.1
    else:
        assert len(spans) == REQUESTS


def test_same_spans_on_both_kernels_and_every_hook(guest):
    ref = run_vm.host_reference(run_vm.KSPAN, REQUESTS)
    want = run_vm.projection(ref[1], ref[2])
    for hook in HOOKS:
        spans = run_vm.check_hook(guest, hook, REQUESTS, guest.absent)
        if spans is not None:
            assert run_vm.projection(spans, run_vm.GUEST_PORT) == want, hook
