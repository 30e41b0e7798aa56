"""stylekit.base.machine: every benchmark figure says which machine it was measured on."""
import os
import subprocess
import sys

from conftest import ROOT
from stylekit.base import machine

CAPPED = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}


def test_description_names_the_cpu_its_extensions_and_torch():
    d = machine.describe()
    assert d["cpu"] and d["cores"] >= 1 and d["threads"] >= 1 and d["torch"]
    known = [name for _, name in machine.EXTENSIONS]
    assert all(e in known for e in d["vector_extensions"])
    assert d["precision_auto"] == ("bf16" if d["native_bf16"] else "fp32")
    line = machine.summary_line()
    assert d["cpu"] in line and d["precision_auto"] in line and f"{d['threads']} threads" in line


def run_capped(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=CAPPED, capture_output=True, text=True,
                          check=True, timeout=120).stdout


def test_a_cpu_capped_to_avx2_is_described_as_such_and_runs_fp32():
    out = run_capped("from stylekit.base import machine; print(machine.summary_line())")
    assert "capped by ONEDNN_MAX_CPU_ISA=AVX2" in out and "kernels: AVX2" in out
    assert "--precision auto runs fp32 here" in out


def test_bench_skips_the_bf16_rows_where_bf16_is_emulated():
    assert run_capped("from stylekit.cli.bench import precisions; print(precisions())").strip() == "('fp32',)"
    if machine.native_bf16():
        from stylekit.cli.bench import precisions
        assert precisions() == ("fp32", "bf16")
