"""Bell with trained networks: the feed-forward style and texture networks, each beside the
optimization of the same picture (`bells_onepass` shares its helpers). A network's output is not a `Job`: it is kept
with a sidecar of what made it (the model file's hash included) and its timing, and neither
recomputed nor re-timed while those match (`cached_output`), so a rebuild changes nothing."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from stylekit.base.device import resolve_precision
from stylekit.base.files import read_json
from stylekit.base.images import open_image
from stylekit.base.machine import short_line
from stylekit.base.paths import MODELS
from stylekit.base.timing import timed
from stylekit.nets import johnson as ff
from stylekit.optim.jobs import Job
from stylekit.optim.metrics import Distances
from stylekit.report.inputs import CHENONCEAU, KANDINSKY, STARRY, WAVE, title
from stylekit.report.labels import fmt_range, labelled
from stylekit.report.part1_2 import P2_SETS, SEEDS, p2_job
from stylekit.report.runs import Bell, Figure, ensure, in_rows, save_sheet, scale_for
from stylekit.settings import Settings, TrainSettings
from utils import load_image, save_image

FAST_STYLES = (STARRY, WAVE, KANDINSKY)
FAST_CONTENTS = (CHENONCEAU,)
TEXTURE_MODEL = MODELS / "starry_night_texture.pt"


def _tv(recipe: dict) -> str:
    """The TV weight of a recipe, where it trained with one."""
    tv = recipe.get("weights", {}).get("tv", 0)
    return f", TV weight {tv:g}" if tv else ""


def _loss(recipe: dict) -> str:
    """A recipe's content layer and weights, its style loss where it is not the plain Gram MSE,
    and the network it started from."""
    weights, content = recipe.get("weights", {}), recipe.get("content_layers", [])
    text = (f", content at {', '.join(content)} (weight {weights['content']:g}), style weight {weights['style']:g}"
            if content and "content" in weights and "style" in weights else "")
    layers = recipe.get("style_layers", [])
    text += f", style losses relative per layer at {layers[0]}-{layers[-1]}" if recipe.get("style_normalize") and layers else ""
    return text + (", starting from an earlier network's weights" if recipe.get("init") else "")


def _closeness(numbers: list[dict]) -> str:
    """Which of the two comes closer to the paintings, by the pairs' mean style distances, and
    at what distance from the photo."""
    mean = {k: np.mean([n[k] for n in numbers]) for k in ("opt_style", "fast_style", "opt_content", "fast_content")}
    figures = (f"mean style distance {mean['opt_style']:.2f} for the optimization, {mean['fast_style']:.2f} for "
               f"the networks; content distance {mean['opt_content']:.2f} and {mean['fast_content']:.2f}")
    if mean["opt_style"] < mean["fast_style"]:
        return f"the optimization matches the style statistics more closely ({figures})"
    return f"the networks match the style statistics at least as closely as this optimization ({figures})"


def measured_on(numbers: list[dict]) -> str:
    """', MACHINE' when every (cached) time in `numbers` was measured on the one machine it names
    (their "machine"), else nothing: the networks' and the one-pass methods' captions."""
    machines = {n.get("machine") for n in numbers}
    return f", {machines.pop()}" if len(machines) == 1 and None not in machines else ""


def fast_sizes(quick: bool) -> tuple[int, int]:
    """(output size, optimization steps at the coarsest scale)."""
    return (64, 5) if quick else (512, 200)


def opt_job(out_root: Path, content: Path, style: Path, size: int, steps: int) -> Job:
    """The optimization a network's output is set beside (the one-pass bell shares Chenonceau's)."""
    return Job(out=out_root / "fast" / f"opt_{content.stem}_{style.stem}.png", content=content, styles=[style],
               settings=Settings(size=size, steps=steps))


def model_stamp(model: Path) -> dict:
    return {"model": model.name, "bytes": model.stat().st_size, "sha1": hashlib.sha1(model.read_bytes()).hexdigest()}


def cached_output(path: Path, settings: dict, make) -> dict:
    """The numbers of a one-pass output (a network's image and its timing), computed by
    `make() -> (image tensor, numbers)` only when `path` and its sidecar do not already hold
    them for the same `settings` (model file hash included): a rebuild neither re-times nor
    rewrites anything, so the page stays the same."""
    cached = read_json(path.with_suffix(".json"))
    if cached and cached.get("settings") == settings and path.exists():
        return cached["numbers"]
    img, numbers = make()
    save_image(img, path, {"settings": settings, "numbers": numbers})
    return numbers


# ---------------------------------------------------------------------------------------
# Feed-forward networks
# ---------------------------------------------------------------------------------------

def feedforward(cnn, device, quick, out_root, progress) -> Bell | None:
    models = [(st, MODELS / f"{st.stem}.pt") for st in FAST_STYLES if (MODELS / f"{st.stem}.pt").exists()]
    if not models:
        return None
    size, steps = fast_sizes(quick)
    s = scale_for(quick)
    dist = Distances(cnn)
    precision = resolve_precision("auto", device)
    rows, numbers, all_runs = [], [], []
    for content in FAST_CONTENTS:
        jobs = [(f"{content.stem} x {st.stem}", opt_job(out_root, content, st, size, steps)) for st, _ in models]
        runs = ensure(jobs, cnn, device, progress)
        c = load_image(content, size, device)
        row = [labelled(open_image(content), content.name, s.cell)]
        for (st, model), run in zip(models, runs):
            fast_path = out_root / "fast" / f"ff_{content.stem}_{st.stem}.png"
            n = _fast_pair(model, content, st, c, run, fast_path, precision, dist, device, quick)
            numbers.append(n)
            row += [labelled(open_image(run.image), f"optimization {n['opt_seconds']:.0f} s\nstyle {n['opt_style']:.2f}, "
                                                    f"content {n['opt_content']:.2f}", s.cell),
                    labelled(open_image(fast_path), f"network {n['fast_seconds']:.2f} s\nstyle {n['fast_style']:.2f}, "
                                                    f"content {n['fast_content']:.2f}", s.cell)]
        rows.append(row)
        all_runs += runs
    header = [None] + [x for st, _ in models for x in (labelled(open_image(st), title(st).split(" (")[0], s.cell), None)]
    path = save_sheet([header] + rows, out_root, "bell_fast", s.cell)
    figures = [Figure("bell_fast", path, f"Optimization (L-BFGS, {steps} evaluations at the coarsest scale, coarse to "
                      f"fine to {size} px) beside the trained network's single forward pass ({precision}, median of "
                      f"5 after a warm-up), for each trained style. Under each: wall time and the neutral style and "
                      f"content distances (metrics.py; lower is closer).", "optimization vs feed-forward")]
    tex = _textures(cnn, device, quick, out_root, s)
    if tex:
        figures.append(tex[0])
    fast = [n["fast_seconds"] for n in numbers]
    speedup = np.median([n["opt_seconds"] / n["fast_seconds"] for n in numbers])
    recipes = [ff.load_model(model)[1] for _, model in models]
    trained = "; ".join(f"{Path(r['style_image']).stem}: {r['width']} channels, {r['trained_steps']} steps of "
                        f"{'one random' if r['batch'] == 1 else str(r['batch']) + ' random'} {r['train_size']} px "
                        f"crop{'s' if r['batch'] != 1 else ''} with the painting at {r['style_size']} px"
                        f"{_tv(r)}{_loss(r)}" for r in recipes)
    text = (f"run.py --train-fast trains a feed-forward network (Johnson et al. 2016, narrowed for CPUs: "
            f"{'-'.join(str(w) for w in sorted({r['width'] for r in recipes}))} channels in the first layer, "
            f"{TrainSettings.preset('fast').res_blocks} residual blocks, "
            f"instance normalisation, upsample-then-convolve) with the core's content, style and TV loss modules "
            f"on the project's offline training photos; run.py --fast then stylises any photo in one pass. "
            f"The shipped networks were trained as follows ({trained}). "
            f"At {size} px a network takes {fmt_range(fast)} s ({precision}, warm{measured_on(numbers)}), about "
            f"{speedup:.0f}× faster than "
            f"the optimization; {_closeness(numbers)}.")
    if tex:
        text += " " + tex[1]
    return Bell("Feed-forward networks", text, figures, "Johnson et al. 2016; Ulyanov et al. 2016",
                {"pairs": numbers}, all_runs)


def _fast_pair(model, content, style, c, run, fast_path, precision, dist, device, quick) -> dict:
    """The network's output and numbers for one pair, beside the optimization's."""
    def make():
        net, trained = ff.load_model(model, device, kind="style")
        out, seconds = timed(ff.stylize, net, c, precision, repeats=3 if quick else 5)
        style_img, opt_img = load_image(style), load_image(run.image)
        return out, {"content": content.stem, "style": style.stem, "fast_seconds": seconds,
                     "opt_seconds": run.meta.get("wall_seconds"), "trained_steps": trained.get("trained_steps"),
                     "fast_style": dist.style(out, style_img), "fast_content": dist.content(out, c),
                     "opt_style": dist.style(opt_img, style_img), "opt_content": dist.content(opt_img, c),
                     "machine": short_line()}

    settings = {**model_stamp(model), "content": content.name, "size": list(c.shape[-2:]), "precision": precision,
                "optimization": run.meta.get("wall_seconds"), "margin": ff.MARGIN}
    return cached_output(fast_path, settings, make)


def _textures(cnn, device, quick, out_root, s) -> tuple[Figure, str] | None:
    if not TEXTURE_MODEL.exists():
        return None
    precision = resolve_precision("auto", device)
    net, settings = ff.load_model(TEXTURE_MODEL, device, kind="texture")
    size = 64 if quick else 512
    opt = p2_job(s, out_root, STARRY, P2_SETS[-1], SEEDS[0])
    opt_run = ensure([("texture", opt)], cnn, device, progress=False)[0]
    cells = [labelled(open_image(STARRY), "style", s.cell),
             labelled(open_image(opt_run.image), f"optimization\n{opt_run.seconds:.0f} s", s.cell)]
    times = []
    for seed in (1, 2, 3):
        path = out_root / "fast" / f"texture_seed{seed}.png"
        stamp = {**model_stamp(TEXTURE_MODEL), "size": size, "seed": seed, "precision": precision}

        def make(seed=seed):
            img, seconds = timed(ff.texture, net, size, size, seed, precision, repeats=3)
            return img, {"seconds": seconds}

        seconds = cached_output(path, stamp, make)["seconds"]
        times.append(seconds)
        cells.append(labelled(open_image(path), f"network, seed {seed}\n{seconds:.2f} s", s.cell))
    path = save_sheet(in_rows(cells), out_root, "bell_texture_net", s.cell)
    fig = Figure("bell_texture_net", path, f"Texture network (Ulyanov et al. 2016) trained for "
                 f"{settings.get('trained_steps')} steps on The Starry Night: three seeds at {size} px "
                 f"(median of 3 runs each), beside Part 2's optimized texture.", "texture network samples")
    text = (f"run.py --train-texture trains the same network from noise to texture with the Gram loss alone; "
            f"run.py --fast-texture gives a new {size} px texture per --seed in {np.median(times):.2f} s.")
    return fig, text
