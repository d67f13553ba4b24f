# SPDX-License-Identifier: Apache-2.0
"""C unit tests (cmocka, built with ASan and UBSan) and a short pass of every
libFuzzer target over its seed corpus."""
import os
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT

UNIT = sorted((ROOT / "build" / "test").glob("test_*"))
FUZZ = sorted((ROOT / "build" / "fuzz").glob("fuzz_*"))
FUZZ_SECONDS = int(os.environ.get("KSPAN_FUZZ_SECONDS", "15"))


def test_unit_binaries_were_built():
    sources = sorted(p.stem for p in (ROOT / "tests" / "unit").glob("test_*.c"))
    assert sources and sources == [p.name for p in UNIT]
    fuzzers = sorted(p.stem for p in (ROOT / "tests" / "fuzz").glob("fuzz_*.c"))
    assert fuzzers and fuzzers == [p.name for p in FUZZ]


@pytest.mark.parametrize("binary", UNIT, ids=lambda p: p.name)
def test_unit(binary):
    r = subprocess.run([str(binary)], capture_output=True, text=True, errors="replace", timeout=300,
                       env={**os.environ, "ASAN_OPTIONS": "detect_leaks=1"})
    print(r.stdout[-4000:], r.stderr[-4000:])
    assert r.returncode == 0
    assert "[  PASSED  ]" in r.stdout + r.stderr
    assert "[  FAILED  ]" not in r.stdout + r.stderr


@pytest.mark.parametrize("binary", FUZZ, ids=lambda p: p.name)
def test_fuzz_smoke(binary, tmp_path):
    name = binary.name[len("fuzz_"):]
    seeds = ROOT / "tests" / "fuzz" / "corpus" / name
    assert seeds.is_dir() and any(seeds.iterdir()), f"no seed corpus in {seeds}"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    # Inputs that once crashed stay in the corpus as regression seeds.
    regressions = ROOT / "tests" / "fuzz" / "regressions" / name
    extra = [str(regressions)] if regressions.is_dir() else []
    r = subprocess.run([str(binary), f"-max_total_time={FUZZ_SECONDS}", "-timeout=10",
                        f"-artifact_prefix={tmp_path}/", str(corpus), str(seeds), *extra],
                       capture_output=True, text=True, errors="replace",
                       timeout=FUZZ_SECONDS + 120)
    print(r.stderr[-3000:])
    assert r.returncode == 0
    assert "Done" in r.stderr
