"""The report's experiments: every figure of the assignment, from `jobs.Job`s to labelled sheets.

Each public experiment takes (cnn, device, quick, out_root, progress), makes sure its runs
exist (a finished run whose sidecar settings match is reused, see `jobs.reusable`; the
missing ones are computed with a tqdm bar through `jobs.run_job`), draws its figure(s) as PNG
under `out_root/figures/` and returns an `Experiment`: figures with captions, and the
sidecars of its runs, from which every number in a caption is read.

The experiments choose only *what* to run (images, layers, seeds, init) and how big and how
long (`Scale`); loss weights, optimizer and everything else are `Job`'s defaults.
`run.py` reaches this module through `report_site` (`--ablate`, `--compare-init`, `--report`);
nothing here imports `run.py`.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import matplotlib
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from stylekit.settings import Settings
from stylekit.optim.jobs import Job, losses_path, reusable, run_job
from style_and_content import FeatureExtractor, content_layers_default, style_layers_default
from stylekit.base.paths import CONTENT_DIR, ROOT, STYLE_DIR
from stylekit.base.errors import InputError
from utils import load_image, save_image
from stylekit.base.figures import make_sheet
from stylekit.base.images import open_image
from stylekit.base.files import read_json, sidecar_path, write_json

REPORT_RESULTS = ROOT / "results" / "report"

# What the report shows. Only bundled images (credits in images/SOURCES.md).
P1_CONTENT = CONTENT_DIR / "chenonceau.jpg"
P1_LAYERS = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
# The layer of Part 1's two-noise experiment: Part 3's content layer, so that Part 1 shows
# exactly what the content loss of a transfer asks the picture to keep.
P1_CHOSEN_LAYER = content_layers_default[0]
P2_STYLE = STYLE_DIR / "starry_night.jpg"
P2_SETS = [P1_LAYERS[:n] for n in range(1, len(P1_LAYERS) + 1)]
SEEDS = (0, 1)
GRID_CONTENTS = [CONTENT_DIR / "chenonceau.jpg", CONTENT_DIR / "chelsea.jpg"]
GRID_STYLES = [STYLE_DIR / "starry_night.jpg", STYLE_DIR / "great_wave.jpg"]
COMPARE_PAIR = (GRID_CONTENTS[0], GRID_STYLES[0])   # its content-init run is the grid's
SWEEP_FACTORS = (0.01, 0.1, 1.0, 10.0)              # x Job's default style weight
FAVOURITES = [
    (CONTENT_DIR / "machu_picchu.jpg", STYLE_DIR / "great_wave.jpg"),
    (CONTENT_DIR / "astronaut.jpg", STYLE_DIR / "composition_viii.jpg"),
    (CONTENT_DIR / "china.jpg", STYLE_DIR / "cafe_terrace.jpg"),
    (CONTENT_DIR / "coffee.jpg", STYLE_DIR / "night_cafe.jpg"),
    (CONTENT_DIR / "chelsea.jpg", STYLE_DIR / "composition_viii.jpg"),
]
# How captions name the bundled images.
TITLES = {
    "chenonceau": "Château de Chenonceau", "chelsea": "Chelsea the cat", "astronaut": "Eileen Collins",
    "coffee": "Coffee", "china": "Summer Palace", "machu_picchu": "Machu Picchu",
    "starry_night": "The Starry Night (Van Gogh)", "great_wave": "The Great Wave off Kanagawa (Hokusai)",
    "composition_viii": "Composition VIII (Kandinsky)", "night_cafe": "The Night Café (Van Gogh)",
    "cafe_terrace": "Café Terrace at Night (Van Gogh)", "gravel": "Gravel",
}


def title(path: Path) -> str:
    return TITLES.get(path.stem, path.stem.replace("_", " "))


# Attribution the licence asks for wherever the picture or a derivative is shown.
CREDITS = {"china.jpg": "photo by Daniel Buechele, CC BY 2.0"}


@dataclass(frozen=True)
class Scale:
    """Sizes (longest side, px) and loss-evaluation budgets: all a build chooses."""
    quick: bool
    size: int            # Parts 1-3 except the favourites
    steps_p1: int
    steps_p2: int
    steps_p3: int
    fav_size: int
    fav_steps: int       # at the coarsest scale; finer scales get fewer (engine.scale_schedule)
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
    path: Path                # PNG written under out_root/figures/ (or a run's loss plot)
    caption: str
    alt: str
    kind: str = "photo"       # photo (JPEG on the site) | plot (PNG on the site)


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


@dataclass
class Experiment:
    key: str
    title: str
    figures: list[Figure]
    runs: list[Run]
    numbers: dict = field(default_factory=dict)   # measured values the text quotes


# ---------------------------------------------------------------------------------------
# Running (or reusing) jobs
# ---------------------------------------------------------------------------------------

Progress = Callable[[int, str], object]   # (total evaluations, description) -> tqdm-like bar


def _tqdm_bar(total: int, desc: str):
    import sys
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="eval", dynamic_ncols=True, file=sys.stderr)


class _NoBar:
    def __init__(self, total=0, desc=""):
        pass

    def update(self, n=1):
        pass

    def set_description(self, desc):
        pass

    def refresh(self):
        pass

    def close(self):
        pass


def _bar_factory(progress) -> Progress:
    if progress is True:
        return _tqdm_bar
    if not progress:
        return _NoBar
    return progress


def trace_path(out: Path) -> Path:
    """Per-evaluation wall time and weighted losses of a run this module computed."""
    return out.with_name(out.stem + "_trace.json")


def _available(job: Job, device, need_trace: bool) -> bool:
    return reusable(job, device) is not None and (not need_trace or trace_path(job.out).exists())


def ensure(todo: list[tuple[str, Job]], cnn, device, progress=True, need_trace: bool = False) -> list[Run]:
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
        bar = _bar_factory(progress)(planned, f"{len(missing)} runs")
        try:
            for i, (label, job) in enumerate(missing, 1):
                bar.set_description(f"[{i}/{len(missing)}] {label}")
                trace = {"t": [], "size": [], "terms": []}
                start = time.perf_counter()

                def callback(info, trace=trace, start=start):
                    bar.update(1)
                    trace["t"].append(round(time.perf_counter() - start, 4))
                    trace["size"].append(info.get("size"))
                    trace["terms"].append(info["terms"])

                result = run_job(job, cnn, device, callback=callback)
                if result.status == "interrupted":
                    raise KeyboardInterrupt
                write_json(trace_path(job.out), trace)
                short = sum(n for _, n in job.plan) - result.evals
                if short > 0 and hasattr(bar, "total"):   # converged early
                    bar.total -= short
                    bar.refresh()
        finally:
            bar.close()
    return [Run(label, job, read_json(sidecar_path(job.out)) or {}) for label, job in todo]


# ---------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------

# Pillow's bundled font has no accented letters ("The Night Café" showed a box); matplotlib,
# already a dependency, ships DejaVu Sans, which covers Latin-1 and more.
_LABEL_FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def _font(size: int):
    return ImageFont.truetype(str(_LABEL_FONT), size)


def labelled(img: Image.Image, text: str, cell: int) -> Image.Image:
    """`img` fitted into cell x (cell - strip), with `text` (one or two lines) under it."""
    font_size = max(9, cell // 17)
    lines = text.split("\n") if text else []
    strip = (font_size + 4) * len(lines) + (6 if lines else 0)
    fitted = img.copy()
    fitted.thumbnail((cell, cell - strip), Image.Resampling.LANCZOS)
    out = Image.new("RGB", (cell, fitted.height + strip), "white")
    out.paste(fitted, ((cell - fitted.width) // 2, 0))
    draw = ImageDraw.Draw(out)
    font = _font(font_size)
    y = fitted.height + 4
    for line in lines:
        w = draw.textlength(line, font=font)
        draw.text(((cell - w) / 2, y), line, fill=(20, 20, 20), font=font)
        y += font_size + 4
    return out


def _open(path: Path) -> Image.Image:
    return open_image(path)


def save_figure(sheet: Image.Image, out_root: Path, name: str) -> Path:
    path = out_root / "figures" / f"{name}.png"
    save_image(sheet, path)
    return path


def fmt_num(x) -> str:
    """3 significant figures, scientific notation only when it reads better."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    x = float(x)
    if x == 0:
        return "0"
    if 1000 <= abs(x) < 1e5:
        return f"{x:,.0f}"
    if 1e-3 <= abs(x) < 1000:
        return f"{x:.3g}"
    m, e = f"{x:.2e}".split("e")
    m = m.rstrip("0").rstrip(".")
    return f"{m}e{int(e)}"


def fmt_weight(x) -> str:
    """A loss weight: 1, 0.5, 1e4, 1e6 (powers of ten the way papers write them)."""
    if x is None:
        return "–"
    x = float(x)
    if x == 0 or 1e-3 <= abs(x) < 1000:
        return f"{x:g}"
    m, e = f"{x:.2e}".split("e")
    m = m.rstrip("0").rstrip(".")
    return f"{m}e{int(e)}"


def layer_span(layers: list[str]) -> str:
    if not layers:
        return "none"
    if len(layers) <= 2:
        return ", ".join(layers)
    return f"{layers[0]} … {layers[-1]} ({len(layers)} layers)"


def settings_text(meta: dict) -> str:
    """The settings of one run in a line, read from its sidecar."""
    s = meta.get("settings", {})
    w, h = meta.get("output_size", [None, None])
    plan = meta.get("plan") or []
    parts = [f"{w}×{h} px"]
    if len(plan) > 1:
        parts.append("coarse to fine " + " → ".join(f"{side}px×{n}" for side, n in plan))
    parts.append(f"{meta.get('evals', '?')} {s.get('optimizer', '').upper()} evaluations")
    parts.append(f"init {s.get('init')}" + (f" (seed {s.get('seed')})" if s.get("init") == "noise" or not s.get("content") else ""))
    if s.get("content_layers"):
        parts.append(f"content {', '.join(s['content_layers'])} × {fmt_weight(s.get('content_weight'))}")
    if s.get("style_layers"):
        parts.append(f"style {layer_span(s['style_layers'])} × {fmt_weight(s.get('style_weight'))}")
    if s.get("tv_weight"):
        parts.append(f"TV × {fmt_weight(s['tv_weight'])}")
    parts.append(s.get("precision", ""))
    parts.append(f"{meta.get('wall_seconds', float('nan')):.1f} s")
    if meta.get("status") not in ("done", "converged"):
        parts.append(f"status: {meta.get('status')}")
    return "; ".join(p for p in parts if p)


def credit(*paths: Path | None) -> str:
    notes = [CREDITS[p.name] for p in paths if p is not None and p.name in CREDITS]
    return (" (" + "; ".join(notes) + ")") if notes else ""


def _mean_abs_diff(a: Path, b: Path) -> float:
    """Mean absolute difference of two images in 0-255 units (b resized to a if needed)."""
    ia, ib = _open(a), _open(b)
    if ib.size != ia.size:
        ib = ib.resize(ia.size, Image.Resampling.LANCZOS)
    return float(np.abs(np.asarray(ia, np.float32) - np.asarray(ib, np.float32)).mean())


def _loss(meta: dict, key: str):
    return (meta.get("final_losses") or {}).get(key)


# ---------------------------------------------------------------------------------------
# Part 1: content reconstruction
# ---------------------------------------------------------------------------------------

def _p1_job(s: Scale, root: Path, content: Path, layer: str, seed: int) -> Job:
    return Job(out=root / "part1" / f"{content.stem}_{layer}_noise_seed{seed}.png", content=content, settings=Settings(part=1, size=s.size, steps=s.steps_p1, init="noise", seed=seed, style_weight=0.0, content_layers=[layer]))


def _p1_ablation_jobs(s, root, content=P1_CONTENT):
    return [(f"reconstruct {layer}", _p1_job(s, root, content, layer, SEEDS[0])) for layer in P1_LAYERS]


def part1_ablation(cnn, device, quick: bool = False, out_root: Path = REPORT_RESULTS, progress=True,
                   content: Path = P1_CONTENT) -> Experiment:
    """Reconstruct the content image from noise with the content loss at one layer each."""
    s = scale_for(quick)
    runs = ensure(_p1_ablation_jobs(s, out_root, content), cnn, device, progress)
    cells = [labelled(_open(content), f"content\n{content.name}", s.cell)]
    for layer, run in zip(P1_LAYERS, runs):
        cells.append(labelled(_open(run.image), f"{layer}\nloss {fmt_num(_loss(run.meta, 'content'))}, "
                                                f"{run.meta.get('wall_seconds', 0):.0f} s", s.cell))
    path = save_figure(make_sheet([cells[:3], cells[3:]], cell=s.cell), out_root, "part1_ablation")
    first = runs[0].meta
    caption = (f"Content reconstruction of {content.name} from white noise (seed {SEEDS[0]}) with the "
               f"content loss at a single layer. Under each: the layer, the final (weighted) content loss "
               f"and the optimization time. Settings: {settings_text(first)} for conv1_1; the same size, "
               f"budget and weights for the other layers.")
    numbers = {"loss": {l: _loss(r.meta, "content") for l, r in zip(P1_LAYERS, runs)},
               "seconds": {l: r.meta.get("wall_seconds") for l, r in zip(P1_LAYERS, runs)},
               "diff_to_content": {l: _mean_abs_diff(r.image, content) for l, r in zip(P1_LAYERS, runs)}}
    return Experiment("part1_ablation", "Content loss at different layers",
                      [Figure("part1_ablation", path, caption, f"{content.stem} reconstructed from noise at five layers")],
                      runs, numbers)


def _p1_noise_jobs(s, root, content=P1_CONTENT, layer=P1_CHOSEN_LAYER):
    return [(f"reconstruct {layer} seed {seed}", _p1_job(s, root, content, layer, seed)) for seed in SEEDS]


def part1_two_noises(cnn, device, quick: bool = False, out_root: Path = REPORT_RESULTS, progress=True,
                     content: Path = P1_CONTENT, layer: str = P1_CHOSEN_LAYER) -> Experiment:
    """Two reconstructions at the chosen layer from two noise seeds, beside the content image."""
    s = scale_for(quick)
    runs = ensure(_p1_noise_jobs(s, out_root, content, layer), cnn, device, progress)
    cells = [labelled(_open(content), f"content\n{content.name}", s.cell)]
    for seed, run in zip(SEEDS, runs):
        cells.append(labelled(_open(run.image), f"{layer}, noise seed {seed}\n"
                                                f"loss {fmt_num(_loss(run.meta, 'content'))}", s.cell))
    path = save_figure(make_sheet([cells], cell=s.cell), out_root, "part1_two_noises")
    a, b = runs[0].image, runs[1].image
    numbers = {"layer": layer, "diff_between": _mean_abs_diff(a, b),
               "diff_to_content": [_mean_abs_diff(r.image, content) for r in runs],
               "loss": [_loss(r.meta, "content") for r in runs]}
    caption = (f"Two reconstructions at {layer} from noise seeds {SEEDS[0]} and {SEEDS[1]}, beside the content "
               f"image. Mean absolute pixel difference between the two: {numbers['diff_between']:.1f}/255; "
               f"each to the content: {numbers['diff_to_content'][0]:.1f} and {numbers['diff_to_content'][1]:.1f}. "
               f"Settings: {settings_text(runs[0].meta)}.")
    return Experiment("part1_two_noises", f"Two noises at {layer}",
                      [Figure("part1_two_noises", path, caption, f"two reconstructions at {layer} from different noise")],
                      runs, numbers)


# ---------------------------------------------------------------------------------------
# Part 2: texture synthesis
# ---------------------------------------------------------------------------------------

def p2_job(s: Scale, root: Path, style: Path, layers: list[str], seed: int) -> Job:
    tag = layers[-1] if len(layers) > 1 else layers[0]
    name = f"{style.stem}_upto_{tag}_seed{seed}" if len(layers) > 1 else f"{style.stem}_{tag}_seed{seed}"
    return Job(out=root / "part2" / f"{name}.png", styles=[style], settings=Settings(part=2, size=s.size, steps=s.steps_p2, init="noise", seed=seed, content_weight=0.0, style_layers=list(layers)))


def _set_label(layers: list[str]) -> str:
    return layers[0] if len(layers) == 1 else f"{layers[0]} to {layers[-1]}"


def _p2_ablation_jobs(s, root, style=P2_STYLE):
    return [(f"texture {_set_label(layers)}", p2_job(s, root, style, layers, SEEDS[0])) for layers in P2_SETS]


def part2_ablation(cnn, device, quick: bool = False, out_root: Path = REPORT_RESULTS, progress=True,
                   style: Path = P2_STYLE) -> Experiment:
    """Textures from noise with the style loss on growing sets of layers."""
    s = scale_for(quick)
    runs = ensure(_p2_ablation_jobs(s, out_root, style), cnn, device, progress)
    cells = [labelled(_open(style), f"style\n{style.name}", s.cell)]
    for layers, run in zip(P2_SETS, runs):
        cells.append(labelled(_open(run.image), f"{_set_label(layers)}\nloss {fmt_num(_loss(run.meta, 'style'))}, "
                                                f"{run.meta.get('wall_seconds', 0):.0f} s", s.cell))
    path = save_figure(make_sheet([cells[:3], cells[3:]], cell=s.cell), out_root, "part2_ablation")
    caption = (f"Textures synthesised from white noise (seed {SEEDS[0]}) matching the Gram matrices of "
               f"{style.name} at conv1_1, then conv1_1 and conv2_1, and so on up to all five conv*_1 layers. "
               f"Under each: the layers, the final weighted style loss (summed over the layers used, so "
               f"not comparable across sets) and the time. Settings: {settings_text(runs[-1].meta)} "
               f"for the full set; the same size, budget and weight for the others.")
    numbers = {"loss": [_loss(r.meta, "style") for r in runs],
               "seconds": [r.meta.get("wall_seconds") for r in runs]}
    return Experiment("part2_ablation", "Style loss at different layers",
                      [Figure("part2_ablation", path, caption, f"textures of {style.stem} with growing sets of style layers")],
                      runs, numbers)


def _p2_noise_jobs(s, root, style=P2_STYLE):
    return [(f"texture seed {seed}", p2_job(s, root, style, P2_SETS[-1], seed)) for seed in SEEDS]


def part2_two_noises(cnn, device, quick: bool = False, out_root: Path = REPORT_RESULTS, progress=True,
                     style: Path = P2_STYLE) -> Experiment:
    """Two textures with all five style layers from two noise seeds."""
    s = scale_for(quick)
    runs = ensure(_p2_noise_jobs(s, out_root, style), cnn, device, progress)
    cells = [labelled(_open(style), f"style\n{style.name}", s.cell)]
    for seed, run in zip(SEEDS, runs):
        cells.append(labelled(_open(run.image), f"noise seed {seed}\nloss {fmt_num(_loss(run.meta, 'style'))}", s.cell))
    path = save_figure(make_sheet([cells], cell=s.cell), out_root, "part2_two_noises")
    a, b = runs[0].image, runs[1].image
    numbers = {"diff_between": _mean_abs_diff(a, b), "loss": [_loss(r.meta, "style") for r in runs],
               "mean_colour": [_mean_colour(r.image) for r in runs], "style_colour": _mean_colour(style)}
    caption = (f"Two textures from noise seeds {SEEDS[0]} and {SEEDS[1]} with the style loss at "
               f"{layer_span(P2_SETS[-1])}, beside the style image. Mean absolute pixel difference between "
               f"them: {numbers['diff_between']:.1f}/255; final style losses {fmt_num(numbers['loss'][0])} "
               f"and {fmt_num(numbers['loss'][1])}. Settings: {settings_text(runs[0].meta)}.")
    return Experiment("part2_two_noises", "Two noises, one style",
                      [Figure("part2_two_noises", path, caption, f"two textures of {style.stem} from different noise")],
                      runs, numbers)


def _mean_colour(path: Path) -> list[float]:
    return [round(float(v), 1) for v in np.asarray(_open(path), np.float32).reshape(-1, 3).mean(0)]


# ---------------------------------------------------------------------------------------
# Part 3: style transfer
# ---------------------------------------------------------------------------------------

def p3_job(s: Scale, root: Path, content: Path, style: Path, *, init="content", size=None, steps=None,
            folder="part3", style_weight=None) -> Job:
    tag = "" if style_weight is None else f"_sw{style_weight:g}"
    settings = Settings.preset("assignment", part=3, size=size or s.size, steps=steps or s.steps_p3, init=init,
                               style_weight=style_weight)
    return Job(root / folder / f"{content.stem}_{style.stem}_{init}{tag}.png", settings, content, [style])


def _grid_jobs(s, root):
    return [(f"{c.stem} x {st.stem}", p3_job(s, root, c, st)) for c in GRID_CONTENTS for st in GRID_STYLES]


def part3_grid(cnn, device, quick: bool = False, out_root: Path = REPORT_RESULTS, progress=True) -> Experiment:
    """2 contents x 2 styles, in a 3x3 sheet with the inputs along the top and the left."""
    s = scale_for(quick)
    runs = ensure(_grid_jobs(s, out_root), cnn, device, progress)
    rows = [[None] + [labelled(_open(st), st.name, s.cell) for st in GRID_STYLES]]
    it = iter(runs)
    for c in GRID_CONTENTS:
        rows.append([labelled(_open(c), c.name, s.cell)] +
                    [labelled(_open(next(it).image), "", s.cell) for _ in GRID_STYLES])
    path = save_figure(make_sheet(rows, cell=s.cell), out_root, "part3_grid")
    times = ", ".join(f"{r.meta.get('wall_seconds', 0):.0f}" for r in runs)
    caption = (f"Two content photos (left column) in two styles (top row). Each transfer: "
               f"{settings_text(runs[0].meta)} (that one; the times of all four: {times} s).")
    return Experiment("part3_grid", "2 × 2 grid", [Figure("part3_grid", path, caption, "3x3 grid of style transfers")],
                      runs)


def _compare_jobs(s, root, content=COMPARE_PAIR[0], style=COMPARE_PAIR[1]):
    return [(f"{content.stem} x {style.stem} from {init}", p3_job(s, root, content, style, init=init))
            for init in ("content", "noise")]


def _trace_totals(path: Path):
    trace = read_json(path) or {}
    t = trace.get("t", [])
    terms = trace.get("terms", [])
    return t, terms


def plot_compare(runs: list[Run], path: Path) -> Path:
    """Weighted content and style loss of each run per evaluation, and total loss over wall time."""
    import io
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4), dpi=100)
    colours = {"content": "tab:blue", "noise": "tab:orange"}
    for run in runs:
        init = run.job.settings.init
        t, terms = _trace_totals(trace_path(run.job.out))
        if not terms:
            continue
        steps = range(1, len(terms) + 1)
        for key, style in (("content", "-"), ("style", "--")):
            ax1.plot(steps, [max(r.get(key, float("nan")), 1e-12) for r in terms], style,
                     color=colours.get(init), linewidth=1.3, label=f"{init} init: {key}")
        ax2.plot(t, [r["total"] for r in terms], color=colours.get(init), linewidth=1.5,
                 label=f"{init} init ({run.meta.get('wall_seconds', 0):.1f} s)")
    for ax in (ax1, ax2):
        ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    ax1.set_xlabel("loss evaluation")
    ax1.set_ylabel("weighted loss")
    ax1.set_title("content (solid) and style (dashed) terms", fontsize=9)
    ax2.set_xlabel("wall time (s)")
    ax2.set_ylabel("total loss")
    ax2.set_title("total loss against time", fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    buf.seek(0)
    with Image.open(buf) as img:
        save_image(img.convert("RGB"), path)
    return path


def part3_compare_init(cnn, device, quick: bool = False, out_root: Path = REPORT_RESULTS, progress=True,
                       content: Path = COMPARE_PAIR[0], style: Path = COMPARE_PAIR[1]) -> Experiment:
    """The same transfer started from the content image and from white noise."""
    s = scale_for(quick)
    runs = ensure(_compare_jobs(s, out_root, content, style), cnn, device, progress, need_trace=True)
    cells = [labelled(_open(content), f"content\n{content.name}", s.cell),
             labelled(_open(style), f"style\n{style.name}", s.cell)]
    for run in runs:
        m = run.meta
        cells.append(labelled(_open(run.image), f"{run.job.settings.init} init, {m.get('wall_seconds', 0):.0f} s\n"
                                                f"total loss {fmt_num(_loss(m, 'total'))}", s.cell))
    sheet = save_figure(make_sheet([cells], cell=s.cell), out_root, "part3_compare_init")
    plot = plot_compare(runs, out_root / "figures" / "part3_compare_init_losses.png")
    c, n = (r.meta for r in runs)
    numbers = {init: {"seconds": r.meta.get("wall_seconds"), "evals": r.meta.get("evals"),
                      "content": _loss(r.meta, "content"), "style": _loss(r.meta, "style"),
                      "total": _loss(r.meta, "total"), "diff_to_content": _mean_abs_diff(r.image, content)}
               for init, r in zip(("content", "noise"), runs)}
    numbers["time_to_match"] = _time_to_reach(runs[1], _loss(c, "total"))
    numbers["content_run_reaches_noise_final"] = _time_to_reach(runs[0], _loss(n, "total"))
    # Neutral distances (plain VGG-19, not the optimized objective): see metrics.py.
    from stylekit.optim.metrics import Distances
    dist = Distances(cnn)
    for init, r in zip(("content", "noise"), runs):
        numbers[init].update(dist.of_files(r.image, content, style))
    caption = (f"{content.name} in the style of {style.name}, started from the content image and from white "
               f"noise (seed {runs[1].job.settings.seed}); everything else equal. Content init: {settings_text(c)}. "
               f"Noise init: {settings_text(n)}.")
    plot_caption = ("Loss curves of the two runs above (weighted terms, log scale). Left: content and style "
                    "terms per loss evaluation; right: total loss against wall-clock time.")
    return Experiment("part3_compare_init", "Content init vs noise init",
                      [Figure("part3_compare_init", sheet, caption, "content-initialised and noise-initialised transfers"),
                       Figure("part3_compare_init_losses", plot, plot_caption, "loss curves of both runs", kind="plot")],
                      runs, numbers)


def _time_to_reach(run: Run, target) -> float | None:
    """Wall time at which `run`'s total loss first fell to `target` (None if it never did)."""
    if target is None:
        return None
    t, terms = _trace_totals(trace_path(run.job.out))
    for ti, row in zip(t, terms):
        if row["total"] <= target:
            return ti
    return None


def _sweep_jobs(s, root, content=COMPARE_PAIR[0], style=COMPARE_PAIR[1]):
    default = Settings().style_weight
    out = []
    for f in SWEEP_FACTORS:
        sw = default * f
        job = p3_job(s, root, content, style) if f == 1.0 else p3_job(s, root, content, style, folder="sweep",
                                                                       style_weight=sw)
        out.append((f"style weight {fmt_weight(sw)}", job))
    return out


def part3_style_weight_sweep(cnn, device, quick: bool = False, out_root: Path = REPORT_RESULTS,
                             progress=True) -> Experiment:
    """The default transfer with the style weight scaled by 0.01, 0.1, 1 and 10."""
    s = scale_for(quick)
    runs = ensure(_sweep_jobs(s, out_root), cnn, device, progress)
    cells = []
    for f, run in zip(SWEEP_FACTORS, runs):
        m = run.meta
        cells.append(labelled(_open(run.image), f"style weight {fmt_weight(m['settings']['style_weight'])}"
                                                f"{' (default)' if f == 1.0 else ''}\ncontent {fmt_num(_loss(m, 'content'))}, "
                                                f"style {fmt_num(_loss(m, 'style'))}", s.cell))
    path = save_figure(make_sheet([cells], cell=s.cell), out_root, "part3_sweep")
    content, style = COMPARE_PAIR
    caption = (f"{content.name} in the style of {style.name} with the style weight at 0.01×, 0.1×, 1× and 10× "
               f"the default, content weight fixed; under each: the final weighted content and style losses. "
               f"Settings otherwise: {settings_text(runs[2].meta)}.")
    numbers = {"factors": list(SWEEP_FACTORS), "weights": [r.meta["settings"]["style_weight"] for r in runs],
               "content": [_loss(r.meta, "content") for r in runs], "style": [_loss(r.meta, "style") for r in runs]}
    return Experiment("part3_sweep", "Style weight", [Figure("part3_sweep", path, caption, "style weight sweep")], runs,
                      numbers)


def _fav_jobs(s, root):
    return [(f"favourite {c.stem} x {st.stem}", p3_job(s, root, c, st, size=s.fav_size, steps=s.fav_steps,
                                                        folder="favourites"))
            for c, st in FAVOURITES]


def part3_favourites(cnn, device, quick: bool = False, out_root: Path = REPORT_RESULTS, progress=True) -> Experiment:
    """More transfers of bundled images, larger. Two figures each: the result, and its inputs."""
    s = scale_for(quick)
    runs = ensure(_fav_jobs(s, out_root), cnn, device, progress)
    figures = []
    thumb = max(64, s.cell * 3 // 4)
    for (c, st), run in zip(FAVOURITES, runs):
        key = f"fav_{c.stem}_{st.stem}"
        inputs = make_sheet([[_open(c), _open(st)]], cell=thumb, gap=4)
        in_path = save_figure(inputs, out_root, key + "_inputs")
        figures.append(Figure(key, run.image, f"{title(c)} × {title(st)}{credit(c)}. Below: the two inputs. "
                              f"{settings_text(run.meta)}.", f"{title(c)} in the style of {title(st)}"))
        figures.append(Figure(key + "_inputs", in_path, f"Inputs: {c.name} and {st.name}.",
                              f"inputs {c.stem} and {st.stem}"))
    return Experiment("part3_favourites", "Favourites", figures, runs)


# ---------------------------------------------------------------------------------------
# Implementation details
# ---------------------------------------------------------------------------------------

def gram_scales(cnn, device, quick: bool = False, style: Path = P2_STYLE) -> list[dict]:
    """For each default style layer at the report's size: C, H*W, and by how much the style
    loss shrinks when the Gram matrix is divided by C*H*W (ours) instead of H*W or nothing."""
    s = scale_for(quick)
    img = load_image(style, s.size, device)
    with torch.no_grad():
        feats = FeatureExtractor(cnn, style_layers_default)(img)
    rows = []
    for name, f in feats.items():
        _, c, h, w = f.shape
        rows.append({"layer": name, "channels": c, "positions": f"{h}×{w} = {h * w}",
                     "vs_hw": float(c) ** 2, "vs_none": float(c * h * w) ** 2})
    return rows


def job_defaults() -> dict:
    """The assignment preset's settings (the ones the other experiments do not choose)."""
    keep = ("size", "steps", "init", "content_weight", "style_weight", "tv_weight", "content_layers",
            "style_layers", "style_scale", "optimizer", "lr", "precision", "multiscale", "weights")
    defaults = Settings.preset("assignment")
    return {name: getattr(defaults, name) for name in keep}


# ---------------------------------------------------------------------------------------
# All of them
# ---------------------------------------------------------------------------------------

EXPERIMENTS = {
    "part1_ablation": (part1_ablation, _p1_ablation_jobs),
    "part1_two_noises": (part1_two_noises, _p1_noise_jobs),
    "part2_ablation": (part2_ablation, _p2_ablation_jobs),
    "part2_two_noises": (part2_two_noises, _p2_noise_jobs),
    "part3_grid": (part3_grid, _grid_jobs),
    "part3_compare_init": (part3_compare_init, _compare_jobs),
    "part3_sweep": (part3_style_weight_sweep, _sweep_jobs),
    "part3_favourites": (part3_favourites, _fav_jobs),
}


def all_jobs(quick: bool, out_root: Path) -> list[tuple[str, Job]]:
    s = scale_for(quick)
    return [pair for _, plan in EXPERIMENTS.values() for pair in plan(s, out_root)]


def run_all(cnn, device, quick: bool = False, out_root: Path = REPORT_RESULTS, progress=True,
            only: list[str] | None = None) -> dict[str, Experiment]:
    """Every experiment (or those named in `only`): the missing runs first, under one bar."""
    names = list(EXPERIMENTS) if only is None else only
    s = scale_for(quick)
    todo = [pair for name in names for pair in EXPERIMENTS[name][1](s, out_root)]
    ensure(todo, cnn, device, progress, need_trace=False)
    # The comparison also needs the per-evaluation trace; runs reused from elsewhere lack it.
    if "part3_compare_init" in names:
        ensure(_compare_jobs(s, out_root), cnn, device, progress, need_trace=True)
    return {name: EXPERIMENTS[name][0](cnn, device, quick, out_root, progress) for name in names}


def check_cli(args) -> None:
    """The combinations `run.py` accepts for --ablate and --compare-init."""
    if getattr(args, "ablate", False) and args.part not in (1, 2):
        raise InputError("--ablate goes with --part 1 or --part 2")
    if getattr(args, "compare_init", False) and args.part != 3:
        raise InputError("--compare-init goes with --part 3")
    if getattr(args, "ablate", False) and getattr(args, "compare_init", False):
        raise InputError("--ablate and --compare-init are separate experiments: pick one")
    if getattr(args, "grid", False):
        raise InputError("--grid is its own experiment: leave it out with --ablate / --compare-init / --report")
    if getattr(args, "weights", "original") != "original":
        raise InputError("the report's experiments use the original VGG-19 weights (leave out --weights)")


def from_cli(args, cnn, device, out_root: Path | None = None) -> list[Experiment]:
    """`run.py --part 1|2 --ablate` and `run.py --part 3 --compare-init`, at the report's
    settings (sizes and budgets of `FULL`) and into the report's results folder, so that a
    later `--report` reuses them. --content / --style choose the images."""
    check_cli(args)
    out_root = REPORT_RESULTS if out_root is None else out_root
    content = args.content[0] if args.content else None
    style = args.style[0] if args.style else None
    if args.ablate and args.part == 1:
        return [part1_ablation(cnn, device, False, out_root, content=content or P1_CONTENT),
                part1_two_noises(cnn, device, False, out_root, content=content or P1_CONTENT)]
    if args.ablate and args.part == 2:
        return [part2_ablation(cnn, device, False, out_root, style=style or P2_STYLE),
                part2_two_noises(cnn, device, False, out_root, style=style or P2_STYLE)]
    return [part3_compare_init(cnn, device, False, out_root, content=content or COMPARE_PAIR[0],
                               style=style or COMPARE_PAIR[1])]
