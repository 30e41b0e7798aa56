"""What the bench's sections share: the reference pair, fresh-process timing, the precisions
this machine runs natively."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from stylekit.base import machine
from stylekit.base.paths import CONTENT_DIR, STYLE_DIR

CONTENT = CONTENT_DIR / "chenonceau.jpg"
STYLE = STYLE_DIR / "starry_night.jpg"
PY = sys.executable


def precisions() -> tuple[str, ...]:
    """The precisions this machine runs natively, for the rows that compare them."""
    return ("fp32", "bf16") if machine.native_bf16() else ("fp32",)


def timed_run(cmd: list[str], cwd: Path | None = None) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (MB) and exit code of a command run in a fresh child process (in `cwd`)."""
    probe = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
             "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
             "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)")
    out = subprocess.run([PY, "-c", probe, *cmd], capture_output=True, text=True, check=True, cwd=cwd).stdout.split()
    return float(out[0]), int(out[1]) / 1024, int(out[2])
