"""What machine a figure was measured on: the CPU, its vector extensions, threads, torch."""
from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

# /proc/cpuinfo flag -> the name people know it by, in the order the extensions came.
EXTENSIONS = (("avx2", "AVX2"), ("avx512f", "AVX-512"), ("avx512_bf16", "AVX-512 BF16"), ("amx_tile", "AMX"))


def _cpuinfo() -> tuple[str, set[str]]:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or platform.machine(), set()
    model = next((l.split(":", 1)[1].strip() for l in lines if l.startswith("model name")), platform.machine())
    flags = next((set(l.split(":", 1)[1].split()) for l in lines if l.startswith("flags")), set())
    return model, flags


def native_bf16() -> bool:
    """Whether the CPU runs bf16 matrix work in hardware (AVX-512 BF16 or AMX), not emulated."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def describe() -> dict:
    """The facts a benchmark figure needs beside it."""
    model, flags = _cpuinfo()
    caps = {var: os.environ[var] for var in ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY") if os.environ.get(var)}
    return {"cpu": model, "cores": os.cpu_count(), "threads": torch.get_num_threads(),
            "vector_extensions": [name for flag, name in EXTENSIONS if flag in flags],
            "kernels": torch.backends.cpu.get_cpu_capability(), "capped": caps,
            "native_bf16": native_bf16(), "torch": torch.__version__,
            "precision_auto": "bf16" if native_bf16() else "fp32"}


def summary_line() -> str:
    d = describe()
    ext = ", ".join(d["vector_extensions"]) or "none of AVX2, AVX-512, AMX"
    capped = "".join(f"; capped by {k}={v}" for k, v in d["capped"].items())
    return (f"{d['cpu']}, {d['cores']} cores, {d['threads']} threads; vector extensions: {ext}{capped} "
            f"(torch's kernels: {d['kernels']}); torch {d['torch']}; --precision auto runs {d['precision_auto']} here")


def short_line() -> str:
    """The CPU, its widest vector extensions and the threads, for a caption: 'AMD EPYC (AVX2), 2 threads'."""
    d = describe()
    return f"{d['cpu']} ({', '.join(d['vector_extensions']) or 'no AVX2'}), {d['threads']} threads"
