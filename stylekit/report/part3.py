"""The assignment's Part 3 in the report: the 2 x 2 grid, content vs noise initialisation
(with loss curves), the style-weight sweep and the favourites. Same shape as `part1_2`."""
from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from stylekit.base.images import open_image
from stylekit.base.paths import CONTENT_DIR, STYLE_DIR
from stylekit.optim.jobs import Job
from stylekit.optim.metrics import Distances
from stylekit.report.inputs import CHELSEA, CHINA, GRID_CONTENTS, GRID_STYLES, KANDINSKY, NIGHT_CAFE, WAVE, credit, title
from stylekit.report.labels import fmt_num, fmt_weight, labelled, settings_text
from stylekit.report.measures import mean_abs_diff, time_to_reach
from stylekit.report.runs import Experiment, Figure, Run, Scale, ensure, read_trace, save_sheet, scale_for
from stylekit.settings import Settings
from utils import save_image

COMPARE_PAIR = (GRID_CONTENTS[0], GRID_STYLES[0])   # its content-init run is the grid's
SWEEP_FACTORS = (0.01, 0.1, 1.0, 10.0)              # x the assignment's style weight
FAVOURITES = [
    (CONTENT_DIR / "machu_picchu.jpg", WAVE),
    (CONTENT_DIR / "astronaut.jpg", KANDINSKY),
    (CHINA, STYLE_DIR / "cafe_terrace.jpg"),
    (CONTENT_DIR / "coffee.jpg", NIGHT_CAFE),
    (CHELSEA, KANDINSKY),
]


def p3_job(s: Scale, root: Path, content: Path, style: Path, *, init="content", size=None, steps=None,
           folder="part3", style_weight=None) -> Job:
    tag = "" if style_weight is None else f"_sw{style_weight:g}"
    settings = Settings.preset("assignment", part=3, size=size or s.size, steps=steps or s.steps_p3, init=init,
                               style_weight=style_weight)
    return Job(root / folder / f"{content.stem}_{style.stem}_{init}{tag}.png", settings, content, [style])


# ---------------------------------------------------------------------------------------
# The grid
# ---------------------------------------------------------------------------------------

def grid_jobs(s: Scale, root: Path):
    return [(f"{c.stem} x {st.stem}", p3_job(s, root, c, st)) for c in GRID_CONTENTS for st in GRID_STYLES]


def part3_grid(cnn, device, quick: bool, out_root: Path, progress: bool = True) -> Experiment:
    """2 contents x 2 styles, in a 3x3 sheet with the inputs along the top and the left."""
    s = scale_for(quick)
    runs = ensure(grid_jobs(s, out_root), cnn, device, progress)
    rows = [[None] + [labelled(open_image(st), st.name, s.cell) for st in GRID_STYLES]]
    it = iter(runs)
    for c in GRID_CONTENTS:
        rows.append([labelled(open_image(c), c.name, s.cell)] +
                    [labelled(open_image(next(it).image), "", s.cell) for _ in GRID_STYLES])
    path = save_sheet(rows, out_root, "part3_grid", s.cell)
    times = ", ".join(f"{r.seconds:.0f}" for r in runs)
    caption = (f"Two content photos (left column) in two styles (top row). Each transfer: "
               f"{settings_text(runs[0].meta)} (that one; the times of all four: {times} s).")
    return Experiment("part3_grid", "2 × 2 grid", [Figure("part3_grid", path, caption, "3x3 grid of style transfers")],
                      runs)


# ---------------------------------------------------------------------------------------
# Content init vs noise init
# ---------------------------------------------------------------------------------------

def compare_jobs(s: Scale, root: Path, content: Path = COMPARE_PAIR[0], style: Path = COMPARE_PAIR[1]):
    return [(f"{content.stem} x {style.stem} from {init}", p3_job(s, root, content, style, init=init))
            for init in ("content", "noise")]


def plot_compare(runs: list[Run], path: Path) -> Path:
    """Weighted content and style loss of each run per evaluation, and total loss over wall time."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4), dpi=100)
    colours = {"content": "tab:blue", "noise": "tab:orange"}
    for run in runs:
        init = run.job.settings.init
        t, terms = read_trace(run)
        if not terms:
            continue
        steps = range(1, len(terms) + 1)
        for key, style in (("content", "-"), ("style", "--")):
            ax1.plot(steps, [max(r.get(key, float("nan")), 1e-12) for r in terms], style,
                     color=colours.get(init), linewidth=1.3, label=f"{init} init: {key}")
        ax2.plot(t, [r["total"] for r in terms], color=colours.get(init), linewidth=1.5,
                 label=f"{init} init ({run.seconds:.1f} s)")
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


def part3_compare_init(cnn, device, quick: bool, out_root: Path, progress: bool = True,
                       content: Path = COMPARE_PAIR[0], style: Path = COMPARE_PAIR[1]) -> Experiment:
    """The same transfer started from the content image and from white noise."""
    s = scale_for(quick)
    runs = ensure(compare_jobs(s, out_root, content, style), cnn, device, progress, need_trace=True)
    cells = [labelled(open_image(content), f"content\n{content.name}", s.cell),
             labelled(open_image(style), f"style\n{style.name}", s.cell)]
    for run in runs:
        cells.append(labelled(open_image(run.image), f"{run.job.settings.init} init, {run.seconds:.0f} s\n"
                                                     f"total loss {fmt_num(run.loss('total'))}", s.cell))
    sheet = save_sheet([cells], out_root, "part3_compare_init", s.cell)
    plot = plot_compare(runs, out_root / "figures" / "part3_compare_init_losses.png")
    from_content, from_noise = runs
    numbers = {init: {"seconds": r.meta.get("wall_seconds"), "evals": r.meta.get("evals"),
                      "content": r.loss("content"), "style": r.loss("style"),
                      "total": r.loss("total"), "diff_to_content": mean_abs_diff(r.image, content)}
               for init, r in zip(("content", "noise"), runs)}
    numbers["time_to_match"] = time_to_reach(from_noise, from_content.loss("total"))
    numbers["content_run_reaches_noise_final"] = time_to_reach(from_content, from_noise.loss("total"))
    # Neutral distances (plain VGG-19, not the optimized objective): see metrics.py.
    dist = Distances(cnn)
    for init, r in zip(("content", "noise"), runs):
        numbers[init].update(dist.of_files(r.image, content, style))
    caption = (f"{content.name} in the style of {style.name}, started from the content image and from white "
               f"noise (seed {from_noise.job.settings.seed}); everything else equal. Content init: "
               f"{settings_text(from_content.meta)}. Noise init: {settings_text(from_noise.meta)}.")
    plot_caption = ("Loss curves of the two runs above (weighted terms, log scale). Left: content and style "
                    "terms per loss evaluation; right: total loss against wall-clock time.")
    return Experiment("part3_compare_init", "Content init vs noise init",
                      [Figure("part3_compare_init", sheet, caption, "content-initialised and noise-initialised transfers"),
                       Figure("part3_compare_init_losses", plot, plot_caption, "loss curves of both runs", kind="plot")],
                      runs, numbers)


# ---------------------------------------------------------------------------------------
# Style weight
# ---------------------------------------------------------------------------------------

def sweep_jobs(s: Scale, root: Path, content: Path = COMPARE_PAIR[0], style: Path = COMPARE_PAIR[1]):
    default = Settings().style_weight
    out = []
    for f in SWEEP_FACTORS:
        sw = default * f
        job = p3_job(s, root, content, style) if f == 1.0 else p3_job(s, root, content, style, folder="sweep",
                                                                       style_weight=sw)
        out.append((f"style weight {fmt_weight(sw)}", job))
    return out


def part3_style_weight_sweep(cnn, device, quick: bool, out_root: Path, progress: bool = True) -> Experiment:
    """The default transfer with the style weight scaled by 0.01, 0.1, 1 and 10."""
    s = scale_for(quick)
    runs = ensure(sweep_jobs(s, out_root), cnn, device, progress)
    cells = []
    for f, run in zip(SWEEP_FACTORS, runs):
        cells.append(labelled(open_image(run.image), f"style weight {fmt_weight(run.meta['settings']['style_weight'])}"
                                                     f"{' (default)' if f == 1.0 else ''}\ncontent {fmt_num(run.loss('content'))}, "
                                                     f"style {fmt_num(run.loss('style'))}", s.cell))
    path = save_sheet([cells], out_root, "part3_sweep", s.cell)
    content, style = COMPARE_PAIR
    caption = (f"{content.name} in the style of {style.name} with the style weight at 0.01×, 0.1×, 1× and 10× "
               f"the default, content weight fixed; under each: the final weighted content and style losses. "
               f"Settings otherwise: {settings_text(runs[2].meta)}.")
    numbers = {"factors": list(SWEEP_FACTORS), "weights": [r.meta["settings"]["style_weight"] for r in runs],
               "content": [r.loss("content") for r in runs], "style": [r.loss("style") for r in runs]}
    return Experiment("part3_sweep", "Style weight", [Figure("part3_sweep", path, caption, "style weight sweep")], runs,
                      numbers)


# ---------------------------------------------------------------------------------------
# Favourites
# ---------------------------------------------------------------------------------------

def fav_jobs(s: Scale, root: Path):
    return [(f"favourite {c.stem} x {st.stem}", p3_job(s, root, c, st, size=s.fav_size, steps=s.fav_steps,
                                                        folder="favourites"))
            for c, st in FAVOURITES]


def part3_favourites(cnn, device, quick: bool, out_root: Path, progress: bool = True) -> Experiment:
    """More transfers of bundled images, larger. Two figures each: the result, and its inputs."""
    s = scale_for(quick)
    runs = ensure(fav_jobs(s, out_root), cnn, device, progress)
    figures = []
    thumb = max(64, s.cell * 3 // 4)
    for (c, st), run in zip(FAVOURITES, runs):
        key = f"fav_{c.stem}_{st.stem}"
        in_path = save_sheet([[open_image(c), open_image(st)]], out_root, key + "_inputs", thumb, gap=4)
        figures.append(Figure(key, run.image, f"{title(c)} × {title(st)}{credit(c)}. Below: the two inputs. "
                              f"{settings_text(run.meta)}.", f"{title(c)} in the style of {title(st)}"))
        figures.append(Figure(key + "_inputs", in_path, f"Inputs: {c.name} and {st.name}.",
                              f"inputs {c.stem} and {st.stem}"))
    return Experiment("part3_favourites", "Favourites", figures, runs)
