"""The bench's `stop` section: how long a run takes to stop after Ctrl-C or SIGTERM.

For each size, a `run.py` optimization (no coarse-to-fine, more steps than it will reach) runs
in a child process beside a second busy process (a user's other work: on 2 cores it halves
the speed). Once it has done a few evaluations the signal is sent at a random point of the
next one; the table gives, counted from the signal, when the best image was on disk, when the
loss plot was, and when the process had exited, with its exit code (130 INT, 143 TERM).
"""
from __future__ import annotations

import json
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from stylekit.base.files import sidecar_path
from stylekit.base.paths import ROOT
from stylekit.optim.jobs import losses_path

BUSY = "while True: pass"
WARM_EVALS = 3   # evaluations done before the signal (the first is slower)


class Child:
    """A run.py child whose progress bar is read as it is written."""

    def __init__(self, cmd: list[str]):
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.err = bytearray()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for chunk in iter(lambda: self.proc.stderr.read1(4096), b""):
            self.err.extend(chunk)

    def evals(self) -> int:
        done = re.findall(rb"\b(\d+)/100000\b", bytes(self.err))
        return int(done[-1]) if done else 0

    def wait_for(self, n: int, limit: float) -> float:
        """Seconds until `n` evaluations are done."""
        start = time.monotonic()
        while self.evals() < n:
            if self.proc.poll() is not None or time.monotonic() - start > limit:
                raise RuntimeError(f"the run ended or stalled before {n} evaluations: "
                                   f"{self.err.decode(errors='replace')[-500:]}")
            time.sleep(0.005)
        return time.monotonic() - start


def one_stop(out: Path, size: int, precision: str, sig: signal.Signals, rng: random.Random) -> dict:
    child = Child([sys.executable, str(ROOT / "run.py"), "--part", "3", "--size", str(size), "--steps", "100000",
                   "--multiscale", "off", "--precision", precision, "--out", str(out)])
    try:
        child.wait_for(WARM_EVALS, 600)
        per_eval = child.wait_for(WARM_EVALS + 1, 600)
        time.sleep(rng.uniform(0, per_eval))   # anywhere in the next evaluation
        sent_wall, sent = time.time(), time.monotonic()
        child.proc.send_signal(sig)
        child.proc.wait(120)
        gone = time.monotonic() - sent
    finally:
        if child.proc.poll() is None:
            child.proc.kill()
            child.proc.wait()
    status = json.loads(sidecar_path(out).read_text())["status"] if sidecar_path(out).exists() else "none"
    return {"eval": per_eval, "code": child.proc.returncode, "status": status, "exit": gone,
            "png": out.stat().st_mtime - sent_wall if out.exists() else float("nan"),
            "plot": losses_path(out).stat().st_mtime - sent_wall if losses_path(out).exists() else float("nan")}


def stop_latency(tmp: Path, sizes=(128, 1024), precisions=("fp32",), trials: int = 4) -> None:
    print("\n## How fast a run stops on Ctrl-C or SIGTERM, beside a busy process")
    print(f"run.py --part 3 without coarse-to-fine; the signal lands at a random point of evaluation "
          f"{WARM_EVALS + 2}, INT and TERM alternately; seconds after the signal, median (max) of {trials}\n")
    print("| size | precision | one evaluation (s) | image on disk | loss plot on disk | process gone | exit codes |")
    print("|---|---|---|---|---|---|---|")
    busy = subprocess.Popen([sys.executable, "-c", BUSY])
    rng = random.Random(0)
    try:
        for size in sizes:
            for precision in precisions:
                rows = []
                for trial in range(trials):
                    sig = (signal.SIGINT, signal.SIGTERM)[trial % 2]
                    rows.append(one_stop(tmp / f"stop_{size}_{precision}_{trial}.png", size, precision, sig, rng))

                def cell(key):
                    values = [r[key] for r in rows]
                    return f"{statistics.median(values):.2f} ({max(values):.2f})"
                codes = ", ".join(sorted({f"{r['code']} {r['status']}" for r in rows}))
                print(f"| {size} | {precision} | {statistics.median(r['eval'] for r in rows):.2f} | {cell('png')} | "
                      f"{cell('plot')} | {cell('exit')} | {codes} |", flush=True)
    finally:
        busy.kill()
        busy.wait()
