"""The report's runs: how big and how long (`Scale`), where results go, what a section hands
the renderer (`Experiment`, `Bell`, `Figure`), and `ensure`, which reuses a finished run whose
sidecar settings match (`jobs.reusable`) and computes the missing ones through `jobs.run_job`
under one progress bar, keeping a per-evaluation trace of each.

Sections choose only *what* to run (images, layers, seeds, init) and the `Scale`; loss
weights, optimizer and everything else are the "assignment" preset's (`Settings`' defaults).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from stylekit.base.figures import make_sheet
from stylekit.base.files import read_json, sidecar_path, write_json
from stylekit.base.paths import RESULTS
from stylekit.base.progress import Progress
from stylekit.optim.jobs import Job, losses_path, reusable, run_job
from utils import save_image

# Full-size results and their sidecars (a quick build keeps its own under its output folder).
REPORT_RESULTS = RESULTS / "report"


@dataclass(frozen=True)
class Scale:
    """Sizes (longest side, px) and loss-evaluation budgets: all a build chooses."""
    quick: bool
    size: int            # Parts 1-3 except the favourites
    steps_p1: int
    steps_p2: int
    steps_p3: int
    fav_size: int
    fav_steps: int       # at the coarsest scale; finer scales get fewer (settings.scale_schedule)
    cell: int            # sheet cell in px


FULL = Scale(quick=False, size=256, steps_p1=250, steps_p2=300, steps_p3=300,
             fav_size=512, fav_steps=200, cell=256)
QUICK = Scale(quick=True, size=48, steps_p1=5, steps_p2=5, steps_p3=5,
              fav_size=48, fav_steps=5, cell=96)


def scale_for(quick: bool) -> Scale:
    return QUICK if quick else FULL


@dataclass
class Figure:
    key: str                  # unique, used for the site's file name
    path: Path                # PNG written under out_root/figures/ (or a run's loss plot, a GIF)
    caption: str
    alt: str
    kind: str = "photo"       # photo (JPEG on the site) | plot (PNG) | animation (GIF, as it is)


@dataclass
class Run:
    label: str
    job: Job
    meta: dict                # the sidecar

    @property
    def image(self) -> Path:
        return self.job.out

    @property
    def loss_plot(self) -> Path:
        return losses_path(self.job.out)

    @property
    def seconds(self) -> float:
        return self.meta.get("wall_seconds", 0)

    def loss(self, key: str):
        """A final weighted loss term from the sidecar (None if the run has none)."""
        return (self.meta.get("final_losses") or {}).get(key)


@dataclass
class Experiment:
    """One experiment of the assignment's parts: its figures and the runs behind them."""
    key: str
    title: str
    figures: list[Figure]
    runs: list[Run]
    numbers: dict = field(default_factory=dict)   # measured values the text quotes


@dataclass
class Bell:
    """One bell or whistle: a title, a paragraph whose numbers come from this build, figures."""
    title: str
    text: str
    figures: list[Figure]
    points: str = ""
    numbers: dict = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)   # the optimizations it shows


# ---------------------------------------------------------------------------------------
# Running (or reusing) jobs
# ---------------------------------------------------------------------------------------

def trace_path(out: Path) -> Path:
    """Per-evaluation wall time and weighted losses of a run `ensure` computed."""
    return out.with_name(out.stem + "_trace.json")


def read_trace(run: Run) -> tuple[list[float], list[dict]]:
    """(seconds since the start, weighted loss terms) per evaluation; empty without a trace."""
    trace = read_json(trace_path(run.job.out)) or {}
    return trace.get("t", []), trace.get("terms", [])


def _available(job: Job, device, need_trace: bool) -> bool:
    return reusable(job, device) is not None and (not need_trace or trace_path(job.out).exists())


def ensure(todo: list[tuple[str, Job]], cnn, device, progress: bool = True, need_trace: bool = False) -> list[Run]:
    """Reuse the finished runs among `todo` ((label, Job) pairs), compute the others.

    One progress bar counts the planned loss evaluations of every missing run. A run that
    ends in NaN keeps its sidecar (status 'nan') and is shown as such; Ctrl-C stops the lot.
    """
    unique: dict[Path, tuple[str, Job]] = {}
    for label, job in todo:
        unique.setdefault(job.out.resolve(), (label, job))
    missing = [(label, job) for label, job in unique.values() if not _available(job, device, need_trace)]
    if missing:
        planned = sum(sum(n for _, n in job.plan) for _, job in missing)
        with Progress(planned, f"{len(missing)} runs", enabled=bool(progress)) as bar:
            for i, (label, job) in enumerate(missing, 1):
                bar.describe(f"[{i}/{len(missing)}] {label}")
                _compute(job, cnn, device, bar)
    return [Run(label, job, read_json(sidecar_path(job.out)) or {}) for label, job in todo]


def _compute(job: Job, cnn, device, bar: Progress) -> None:
    trace = {"t": [], "size": [], "terms": []}
    start = time.perf_counter()

    def callback(info):
        bar.update(1)
        trace["t"].append(round(time.perf_counter() - start, 4))
        trace["size"].append(info.get("size"))
        trace["terms"].append(info["terms"])

    result = run_job(job, cnn, device, callback=callback)
    if result.status == "interrupted":
        raise KeyboardInterrupt
    write_json(trace_path(job.out), trace)
    short = sum(n for _, n in job.plan) - result.evals
    if short > 0:   # converged early
        bar.shrink(short)


# ---------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------

def save_figure(sheet: Image.Image, out_root: Path, name: str) -> Path:
    path = out_root / "figures" / f"{name}.png"
    save_image(sheet, path)
    return path


def save_sheet(rows: list[list[Image.Image | None]], out_root: Path, name: str, cell: int, gap: int = 6) -> Path:
    """A contact sheet of `rows` (None: an empty cell), saved as figures/`name`.png."""
    return save_figure(make_sheet(rows, cell=cell, gap=gap), out_root, name)


def in_rows(cells: list, per_row: int | None = None) -> list[list]:
    per_row = per_row or len(cells)
    return [cells[i:i + per_row] for i in range(0, len(cells), per_row)]
