# SPDX-License-Identifier: Apache-2.0
"""A few seconds of the benchmark: every request nginx answered under load
becomes exactly one exported span, with no ring-buffer drop. (Ratios are
for `make bench`, never asserted here.)"""
import subprocess

from conftest import ROOT


def test_bench_smoke_counts_match():
    r = subprocess.run(["/usr/bin/python3", str(ROOT / "tests" / "bench" / "bench.py"), "--smoke"],
                       capture_output=True, text=True, timeout=300)
    print(r.stdout, r.stderr)
    assert r.returncode == 0
    assert "as many spans exported, 0 drops" in r.stdout


def test_bench_floor_patch_applies():
    """make bench-floor builds this tree with floor.patch: a change to the
    capture path that the patch no longer fits fails here, not in a bench
    run."""
    r = subprocess.run(["git", "apply", "--check", str(ROOT / "tests" / "bench" / "floor.patch")],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
