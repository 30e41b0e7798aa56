"""Bells with trained networks: the feed-forward style and texture networks, and AdaIN, each
beside the optimization of the same picture. A network's output is not a `Job`: it is kept
with a sidecar of what made it (the model file's hash included) and its timing, and neither
recomputed nor re-timed while those match (`cached_output`), so a rebuild changes nothing."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from stylekit.base.device import resolve_precision
from stylekit.base.files import read_json
from stylekit.base.images import open_image
from stylekit.base.paths import MODELS
from stylekit.base.timing import timed
from stylekit.nets import johnson as ff
from stylekit.optim.jobs import Job
from stylekit.optim.metrics import Distances
from stylekit.report.inputs import CHELSEA, CHENONCEAU, CHINA, KANDINSKY, NIGHT_CAFE, STARRY, WAVE, title
from stylekit.report.labels import labelled
from stylekit.report.part1_2 import P2_SETS, SEEDS, p2_job
from stylekit.report.runs import Bell, Figure, ensure, in_rows, save_sheet, scale_for
from stylekit.settings import OnePassSettings, Settings, TrainSettings
from utils import load_image, save_image

FAST_STYLES = (STARRY, WAVE, KANDINSKY)
FAST_CONTENTS = (CHENONCEAU,)
TEXTURE_MODEL = MODELS / "starry_night_texture.pt"
ADAIN_DECODER = MODELS / "adain_decoder.pt"
ADAIN_RUN = OnePassSettings.preset("adain")   # this section shows AdaIN; its style scale
# What the shipped decoder's pictures look like, written after looking at them: update it
# with the decoder.
ADAIN_QUALITY = ("the photo's shapes survive in the painting's colours, but the decoder is under-trained: "
                 "a fine lattice of artefacts in textured areas, and no real brush strokes.")
ADAIN_CONTENTS = (CHENONCEAU, CHELSEA, CHINA)
ADAIN_STYLES = (STARRY, WAVE, KANDINSKY, NIGHT_CAFE)
ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)


def _fast_sizes(quick: bool) -> tuple[int, int]:
    """(output size, optimization steps at the coarsest scale)."""
    return (64, 5) if quick else (512, 200)


def _opt_job(out_root: Path, content: Path, style: Path, size: int, steps: int) -> Job:
    """The optimization a network's output is set beside (AdaIN shares the feed-forward one's)."""
    return Job(out=out_root / "fast" / f"opt_{content.stem}_{style.stem}.png", content=content, styles=[style],
               settings=Settings(size=size, steps=steps))


def _model_stamp(model: Path) -> dict:
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
    size, steps = _fast_sizes(quick)
    s = scale_for(quick)
    dist = Distances(cnn)
    precision = resolve_precision("auto", device)
    rows, numbers, all_runs = [], [], []
    for content in FAST_CONTENTS:
        jobs = [(f"{content.stem} x {st.stem}", _opt_job(out_root, content, st, size, steps)) for st, _ in models]
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
    trained = "; ".join(f"{Path(r['style_image']).stem}: {r['trained_steps']} steps of {r['batch']} random "
                        f"{r['train_size']} px crops with the painting at {r['style_size']} px" for r in recipes)
    text = (f"run.py --train-fast trains a feed-forward network (Johnson et al. 2016, narrowed for CPUs: "
            f"{TrainSettings.preset('fast').width}-channel first layer, {TrainSettings.preset('fast').res_blocks} residual blocks, "
            f"instance normalisation, upsample-then-convolve) with the core's content, style and TV loss modules "
            f"on the project's offline training photos; run.py --fast then stylises any photo in one pass. "
            f"The shipped networks were trained as follows ({trained}). "
            f"At {size} px a network takes {min(fast):.2f}–{max(fast):.2f} s, about {speedup:.0f}× faster than "
            f"the optimization; the optimization still matches the style statistics more closely (mean style "
            f"distance {np.mean([n['opt_style'] for n in numbers]):.2f} vs "
            f"{np.mean([n['fast_style'] for n in numbers]):.2f}), as expected from a network that must serve "
            f"every photo.")
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
                     "opt_style": dist.style(opt_img, style_img), "opt_content": dist.content(opt_img, c)}

    settings = {**_model_stamp(model), "content": content.name, "size": list(c.shape[-2:]), "precision": precision,
                "optimization": run.meta.get("wall_seconds")}
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
        stamp = {**_model_stamp(TEXTURE_MODEL), "size": size, "seed": seed, "precision": precision}

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


# ---------------------------------------------------------------------------------------
# AdaIN
# ---------------------------------------------------------------------------------------

def adain_bell(cnn, device, quick, out_root, progress) -> Bell | None:
    if not ADAIN_DECODER.exists():
        return None
    from stylekit.nets.adain import infer as adain_infer, model as adain_model
    s = scale_for(quick)
    size, steps = _fast_sizes(quick)
    precision = resolve_precision("auto", device)
    decoder, trained = adain_infer.load_decoder(ADAIN_DECODER, device)
    encoder = adain_model.Encoder(cnn)
    stamp = _model_stamp(ADAIN_DECODER)
    dist = Distances(cnn)
    folder = out_root / "adain"

    def one(name: str, content: Path, styles: list[Path], **options) -> tuple[Path, dict]:
        c = load_image(content, size, device)
        st = [adain_infer.load_style(p, round(size * ADAIN_RUN.style_scale), device) for p in styles]

        def make():
            out, seconds = timed(adain_infer.stylize, encoder, decoder, c, st, precision=precision,
                                    repeats=3 if quick else 5, **options)
            # Distances as for the optimization below: to the style at the output's size.
            return out, {"seconds": seconds, "style": dist.style(out, load_image(styles[0], size, device)),
                         "content": dist.content(out, c)}

        path = folder / f"{name}.png"
        settings = {**stamp, "content": content.name, "styles": [p.name for p in styles], "size": size,
                    "style_scale": ADAIN_RUN.style_scale, "precision": precision, **options}
        return path, cached_output(path, settings, make)

    # Contents x unseen styles.
    header = [None] + [labelled(open_image(st), title(st).split(" (")[0], s.cell) for st in ADAIN_STYLES]
    rows, grid = [header], []
    for content in ADAIN_CONTENTS:
        row = [labelled(open_image(content), content.name, s.cell)]
        for st in ADAIN_STYLES:
            path, n = one(f"grid_{content.stem}_{st.stem}", content, [st])
            grid.append(n)
            row.append(labelled(open_image(path), f"{n['seconds']:.2f} s; style {n['style']:.2f}", s.cell))
        rows.append(row)
    grid_path = save_sheet(rows, out_root, "bell_adain_grid", s.cell)
    # Alpha sweep and interpolation between two styles.
    sweep = [labelled(open_image(one(f"alpha_{a:g}", CHENONCEAU, [STARRY], alpha=a)[0]), f"alpha {a:g}", s.cell)
             for a in ALPHAS]
    mix = [labelled(open_image(one(f"mix_{w:g}", CHENONCEAU, [STARRY, WAVE], weights=[w, 1 - w])[0]),
                    f"{w:g} Starry + {1 - w:g} Wave", s.cell) for w in (1.0, 0.75, 0.5, 0.25, 0.0)]
    sweep_path = save_sheet(in_rows(sweep + mix, len(ALPHAS)), out_root, "bell_adain_controls", s.cell)
    # Against the optimization of the same pair (the feed-forward comparison's run).
    opt = ensure([("optimization", _opt_job(out_root, CHENONCEAU, STARRY, size, steps))], cnn, device, progress)[0]
    opt_img = load_image(opt.image)
    c = load_image(CHENONCEAU, size, device)
    opt_n = {"style": dist.style(opt_img, load_image(STARRY, size, device)), "content": dist.content(opt_img, c)}
    pair = grid[0]
    seconds = [n["seconds"] for n in grid]
    styles_seen = len(trained.get("style_files", [])) or trained.get("style_count")
    paper_share = trained.get("steps", 0) * trained.get("batch", 0) / (160_000 * 8)
    text = (f"run.py --adain stylises with any painting in one pass (Huang and Belongie 2017): the photo's "
            f"VGG-19 relu4_1 features take the painting's per-channel mean and standard deviation, and a trained "
            f"decoder turns them back into an image. --alpha blends the features towards the photo's, several "
            f"--style images with --style-blend interpolate their statistics, --mask gives each style its region and "
            f"--preserve-color works as for optimization. The decoder (half the paper's channels) was trained here "
            f"on this machine's CPU for {trained.get('steps')} steps of {trained.get('batch')} pairs of "
            f"{trained.get('size')} px crops: the project's {trained.get('data', 'training').split('/')[-1]} photos against {styles_seen} paintings and "
            f"patterns from the offline packages, none of them the paintings shown here. That is {paper_share:.1%} "
            f"of the pairs of the authors' training script (160,000 steps of 8 pairs of 256 px crops), and "
            f"it shows: {ADAIN_QUALITY} At {size} px (the style encoded at "
            f"{round(size * ADAIN_RUN.style_scale)} px, the default) a transfer takes {min(seconds):.2f}–{max(seconds):.2f} s ({precision}); "
            f"on Chenonceau × The Starry Night its style distance is {pair['style']:.2f} and content distance "
            f"{pair['content']:.2f}, against {opt_n['style']:.2f} and {opt_n['content']:.2f} for the optimization "
            f"({opt.seconds:.0f} s).")
    figures = [Figure("bell_adain_grid", grid_path, f"AdaIN, contents × paintings the decoder never saw, at {size} px "
                      f"(alpha 1). Under each: the median time of {3 if quick else 5} runs and the neutral style "
                      f"distance.", "AdaIN grid"),
               Figure("bell_adain_controls", sweep_path, "Top: the content–style trade-off alpha (0: the decoder's "
                      "rendering of the photo's own features). Bottom: interpolating The Starry Night and The Great "
                      "Wave.", "AdaIN alpha sweep and interpolation")]
    return Bell("AdaIN: arbitrary style in one pass", text, figures, "Huang and Belongie 2017",
                {"grid": grid, "optimization": opt_n}, [opt])
