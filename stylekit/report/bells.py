"""The report's bells & whistles: colour, masks, histogram loss, blends, video, trained networks.

Same shape as `experiments.py` (runs reused when their sidecar settings match, figures drawn
under `out_root/figures/`), one function per extension, each returning a `Bell`: a title, a
paragraph whose numbers are read from this build's results, and its figures. `report_site`
lists them at the top of the page and gives each a subsection.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from stylekit.optim import color
from stylekit.report import experiments as ex
from stylekit.nets import feedforward as ff
from stylekit.video import stylize as video
from stylekit.base.device import resolve_precision
from stylekit.report.experiments import Figure, ensure, fmt_num, labelled, scale_for, settings_text, title
from stylekit.settings import Settings
from stylekit.optim.jobs import Job
from stylekit.optim.metrics import Distances
from style_and_content import FeatureExtractor, HistogramLoss
from stylekit.base.paths import CONTENT_DIR, ROOT, STYLE_DIR
from utils import load_image, save_image
from stylekit.base.figures import make_sheet
from stylekit.base.images import open_image
from stylekit.base.files import read_json, write_json

MODELS = ROOT / "models"
CHENONCEAU = CONTENT_DIR / "chenonceau.jpg"
STARRY, WAVE, KANDINSKY = STYLE_DIR / "starry_night.jpg", STYLE_DIR / "great_wave.jpg", STYLE_DIR / "composition_viii.jpg"
FAST_STYLES = (STARRY, WAVE, KANDINSKY)
FAST_CONTENTS = (CHENONCEAU,)
TEXTURE_MODEL = MODELS / "starry_night_texture.pt"


@dataclass
class Bell:
    title: str
    text: str
    figures: list[Figure]
    points: str = ""
    numbers: dict = field(default_factory=dict)
    runs: list = field(default_factory=list)      # experiments.Run of the optimizations it shows


def _sheet(cells: list[Image.Image], out_root: Path, name: str, cell: int, per_row: int | None = None) -> Path:
    per_row = per_row or len(cells)
    rows = [cells[i:i + per_row] for i in range(0, len(cells), per_row)]
    return ex.save_figure(make_sheet(rows, cell=cell), out_root, name)


# ---------------------------------------------------------------------------------------
# Colour preservation
# ---------------------------------------------------------------------------------------

def chroma_distance(out: Path, content: Path) -> float:
    """Mean |I,Q(out) - I,Q(content)| (YIQ, RGB in [0, 1]): how far the colours moved."""
    o = load_image(out)
    c = torch.nn.functional.interpolate(load_image(content), size=o.shape[-2:], mode="bilinear", align_corners=False)
    return (color.rgb_to_yiq(o)[:, 1:] - color.rgb_to_yiq(c)[:, 1:]).abs().mean().item()


def colour(cnn, device, quick, out_root, progress) -> Bell:
    s = scale_for(quick)
    plain = ex.p3_job(s, out_root, CHENONCEAU, STARRY)     # the grid's run, reused
    jobs = [("plain", plain)] + [
        (mode, Job(out=out_root / "bells" / f"colour_{mode}.png", content=CHENONCEAU, styles=[STARRY], settings=Settings(size=s.size, steps=s.steps_p3, preserve_color=mode))) for mode in color.MODES]
    runs = ensure(jobs, cnn, device, progress)
    dist = {label: chroma_distance(run.image, CHENONCEAU) for (label, _), run in zip(jobs, runs)}
    cells = [labelled(open_image(CHENONCEAU), "content", s.cell), labelled(open_image(STARRY), "style", s.cell)]
    cells += [labelled(open_image(run.image), f"{label}\nchroma distance {dist[label]:.3f}", s.cell)
              for (label, _), run in zip(jobs, runs)]
    path = _sheet(cells, out_root, "bell_colour", s.cell, per_row=5)
    text = (f"--preserve-color luminance transfers the style on the luminance channel only (the painting's "
            f"luminance first given the photo's mean and spread) and puts the photo's YIQ chroma back; "
            f"--preserve-color histogram first gives the painting the photo's colour mean and covariance "
            f"(Gatys et al. 2017, section 5). The mean distance of the output's I and Q channels to the "
            f"photo's falls from {dist['plain']:.3f} (plain transfer) to {dist['luminance']:.3f} (luminance: "
            f"the chroma is the photo's, up to rounding) and {dist['histogram']:.3f} (histogram: the palette is "
            f"the photo's, the strokes still recolour locally).")
    caption = (f"Château de Chenonceau × The Starry Night: plain, luminance-only and colour-histogram transfers. "
               f"Each: {settings_text(runs[1].meta)}.")
    return Bell("Colour preservation", text, [Figure("bell_colour", path, caption, "colour preservation")],
                "luminance and histogram matching", {"chroma_distance": dist}, runs)


# ---------------------------------------------------------------------------------------
# Spatial control
# ---------------------------------------------------------------------------------------

def sky_mask(photo: Path, out: Path) -> Path:
    """White where the photo shows sky: bright, bluish or grey pixels connected to the top
    edge (a flood from the top row), smoothed. Good enough for a sky/ground split."""
    img = np.asarray(open_image(photo).convert("RGB"), np.float32)
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    skyish = ((b >= r - 8) & ((r + g + b) / 3 > 150)).astype(np.uint8)
    count, labels = cv2.connectedComponents(skyish, connectivity=4)
    top = set(np.unique(labels[0][skyish[0] > 0]).tolist())
    mask = np.isin(labels, list(top)).astype(np.uint8) * 255
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    mask = cv2.medianBlur(mask, 7)
    mask = np.where(mask > 127, 255, 0).astype(np.uint8)
    if not out.exists() or not np.array_equal(np.asarray(Image.open(out)), mask):
        save_image(Image.fromarray(mask), out)
    return out


def masks(cnn, device, quick, out_root, progress) -> Bell:
    s = scale_for(quick)
    mask = sky_mask(CHENONCEAU, out_root / "bells" / "chenonceau_sky_mask.png")
    one = Job(out=out_root / "bells" / "mask_sky_starry.png", content=CHENONCEAU, styles=[STARRY], mask=mask, settings=Settings(size=s.size, steps=s.steps_p3))
    two = Job(out=out_root / "bells" / "mask_kandinsky_starry.png", content=CHENONCEAU, styles=[KANDINSKY, STARRY], mask=mask, settings=Settings(size=s.size, steps=s.steps_p3))
    runs = ensure([("sky only", one), ("two styles", two)], cnn, device, progress)
    out = np.asarray(open_image(runs[0].image), np.float32)
    m = np.asarray(open_image(mask).convert("L").resize(out.shape[1::-1], Image.Resampling.NEAREST)) > 127
    photo = np.asarray(open_image(CHENONCEAU).convert("RGB").resize(out.shape[1::-1], Image.Resampling.LANCZOS), np.float32)
    diff = np.abs(out - photo).mean(axis=2)
    inside, outside = float(diff[m].mean()), float(diff[~m].mean())
    cells = [labelled(open_image(CHENONCEAU), "content", s.cell), labelled(open_image(mask), "mask (white: sky)", s.cell),
             labelled(open_image(runs[0].image), "Starry Night in the sky only", s.cell),
             labelled(open_image(runs[1].image), "ground: Kandinsky, sky: Van Gogh", s.cell)]
    path = _sheet(cells, out_root, "bell_masks", s.cell)
    text = (f"--mask uses guided Gram matrices (Gatys et al. 2017, section 4): the content loss applies "
            f"everywhere, each style's Gram matrix is taken only inside its region, with the mask pooled to "
            f"every layer's resolution. The mask here was made from the photo itself (bright, bluish pixels "
            f"connected to the top edge). With one style, the sky moves {inside:.0f}/255 away from the photo on "
            f"average and the ground only {outside:.0f}/255; with two styles (black region: first style, white: "
            f"second) the castle and river take Kandinsky's palette and shapes, the sky Van Gogh's swirls.")
    caption = f"Spatial control on Château de Chenonceau. Each: {settings_text(runs[0].meta)}."
    return Bell("Spatial control with masks", text, [Figure("bell_masks", path, caption, "masked style transfer")],
                "guided Gram matrices, several styles", {"diff_inside": inside, "diff_outside": outside}, runs)


# ---------------------------------------------------------------------------------------
# Histogram loss
# ---------------------------------------------------------------------------------------

HIST_WEIGHT = 1e3


def histogram_distance(cnn, out: Path, style: Path, layers=("relu1_1", "relu4_1")) -> float:
    """Mean over `layers` of the MSE between the output's activations and the same activations
    remapped rank for rank onto the style's: the quantity the histogram loss lowers."""
    o = load_image(out)
    st = load_image(style, max(o.shape[-2:]))
    extract = FeatureExtractor(cnn, layers)
    with torch.no_grad():
        fo, fs = extract(o), extract(st)
    total = 0.0
    for layer in layers:
        loss = HistogramLoss(fs[layer])
        loss(fo[layer])
        total += loss.loss.item()
    return total / len(layers)


def histogram(cnn, device, quick, out_root, progress) -> Bell:
    s = scale_for(quick)
    gram_only = ex.p2_job(s, out_root, STARRY, ex.P2_SETS[-1], ex.SEEDS[0])   # Part 2's run, reused
    with_hist = Job(out=out_root / "bells" / "texture_hist.png", styles=[STARRY], settings=Settings(part=2, size=s.size, steps=s.steps_p2, init="noise", seed=ex.SEEDS[0], content_weight=0.0, style_layers=list(ex.P2_SETS[-1]), hist_weight=HIST_WEIGHT))
    runs = ensure([("Gram only", gram_only), ("Gram + histogram", with_hist)], cnn, device, progress)
    hist = [histogram_distance(cnn, r.image, STARRY) for r in runs]
    dist = Distances(cnn)
    style_d = [dist.style(load_image(r.image), load_image(STARRY)) for r in runs]
    cells = [labelled(open_image(STARRY), "style", s.cell)] + [
        labelled(open_image(r.image), f"{label}\nhistogram distance {fmt_num(h)}", s.cell)
        for (label, r, h) in zip(("Gram only", f"Gram + histogram, weight {HIST_WEIGHT:g}"), runs, hist)]
    path = _sheet(cells, out_root, "bell_histogram", s.cell)
    text = (f"--hist-weight adds Risser et al.'s (2017) histogram loss at relu1_1 and relu4_1: each channel's "
            f"activations are remapped rank for rank onto the style's, and the distance to that remapped copy is "
            f"penalised. Gram matrices fix only second moments, so a Gram-only texture can have the right "
            f"correlations with washed-out contrast. At the same budget and seed, the histogram distance falls "
            f"from {fmt_num(hist[0])} to {fmt_num(hist[1])}; the neutral style distance (metrics.py) goes from "
            f"{style_d[0]:.3f} to {style_d[1]:.3f}.")
    caption = (f"Texture synthesis from the same noise, with and without the histogram loss. "
               f"{settings_text(runs[1].meta)}.")
    return Bell("Histogram loss", text, [Figure("bell_histogram", path, caption, "histogram loss comparison")],
                "Risser et al. 2017", {"histogram_distance": hist, "style_distance": style_d}, runs)


# ---------------------------------------------------------------------------------------
# Several styles
# ---------------------------------------------------------------------------------------

def blend(cnn, device, quick, out_root, progress) -> Bell:
    s = scale_for(quick)
    ends = [ex.p3_job(s, out_root, CHENONCEAU, st) for st in (STARRY, WAVE)]   # the grid's runs
    mixes = [Job(out=out_root / "bells" / f"blend_{int(w * 10)}.png", content=CHENONCEAU, styles=[STARRY, WAVE], settings=Settings(style_blend=[w, 1 - w], size=s.size, steps=s.steps_p3)) for w in (0.7, 0.3)]
    runs = ensure([("Starry Night", ends[0]), ("0.7 / 0.3", mixes[0]), ("0.3 / 0.7", mixes[1]),
                   ("Great Wave", ends[1])], cnn, device, progress)
    labels = ["Starry Night only", "0.7 Starry + 0.3 Wave", "0.3 Starry + 0.7 Wave", "Great Wave only"]
    cells = [labelled(open_image(r.image), label, s.cell) for r, label in zip(runs, labels)]
    path = _sheet(cells, out_root, "bell_blend", s.cell)
    text = ("--style A B --style-blend 0.7,0.3 mixes the styles' Gram targets, layer by layer, with those weights "
            "(blend weights of 1,0 give exactly the single-style target; a test checks it). The picture moves "
            "from Van Gogh's blue swirls and yellow stars to Hokusai's beige sky and blue-and-white waves as the "
            "weight shifts.")
    caption = f"Château de Chenonceau with blended style targets. Each: {settings_text(runs[1].meta)}."
    return Bell("Several styles, blended", text, [Figure("bell_blend", path, caption, "style blends")], "interpolation",
                runs=runs)


# ---------------------------------------------------------------------------------------
# Video
# ---------------------------------------------------------------------------------------

def _video_settings(quick: bool) -> dict:
    return ({"size": 48, "frames": 4, "steps": 5, "later_steps": 2} if quick else
            {"size": 192, "frames": 24, "steps": 200, "later_steps": 40})


def _video_run(cnn, device, quick, out_root, temporal_weight: float) -> dict:
    """One stylised clip (GIF, strip, JSON) of the demo clip; reused when its settings match."""
    settings = {**_video_settings(quick), "clip": str(video.DEMO_CLIP.relative_to(ROOT)), "style": STARRY.name,
                "temporal_weight": temporal_weight}
    out = out_root / "video" / f"starry_tw{temporal_weight:g}.gif"
    meta_path = out.with_suffix(".json")
    meta = read_json(meta_path)
    if meta and meta.get("settings") == settings and out.exists():
        return {**meta, "gif": out, "strip": out.with_name(out.stem + "_strip.png")}
    clip = video.read_video(video.DEMO_CLIP, max_frames=settings["frames"])
    frames = video.fit_frames(clip.frames, settings["size"])
    style = load_image(STARRY, settings["size"], device)
    motion = video.clip_motion(frames)
    result = video.stylize_video(cnn, frames, [style], Settings(steps=settings["steps"]),
                                 later_steps=settings["later_steps"], temporal_weight=temporal_weight, motion=motion)
    if result.status != "done":
        raise KeyboardInterrupt if result.status == "interrupted" else RuntimeError(result.message)
    video.write_gif(result.frames, out, clip.fps)
    strip = out.with_name(out.stem + "_strip.png")
    save_image(Image.fromarray(video.strip(result.frames)), strip)
    meta = {"settings": settings, "fps": clip.fps, **video.summary(cnn, result, motion, [style])}
    write_json(meta_path, meta)
    return {**meta, "gif": out, "strip": strip}


def video_bell(cnn, device, quick, out_root, progress) -> Bell:
    fbf = _video_run(cnn, device, quick, out_root, 0.0)
    tmp = _video_run(cnn, device, quick, out_root, video.TEMPORAL_WEIGHT)
    st = fbf["settings"]
    drop = 1 - tmp["warping_error"] / fbf["warping_error"]
    text = (f"run.py --video stylises a clip frame after frame through the same engine. Frame by frame "
            f"(--temporal-weight 0) each frame starts from the previous output and the strokes stay put while the "
            f"castle slides under them. With the temporal loss (Ruder et al. 2016), each frame starts from the "
            f"previous output warped by the optical flow (OpenCV DIS) and a TemporalLoss module pulls it there "
            f"over the pixels a forward-backward check finds reliable ({tmp['reliable_fraction']:.0%} here). "
            f"Warping error (mean |out_t − warp(out_t−1)| over reliable pixels): {fbf['warping_error']:.4f} frame by "
            f"frame, {tmp['warping_error']:.4f} with the temporal loss ({drop:.0%} less), at a style distance of "
            f"{fbf['style_distance']:.3f} vs {tmp['style_distance']:.3f}; seconds per later frame "
            f"{fbf['seconds_per_frame']:.1f} vs {tmp['seconds_per_frame']:.1f} (first frame "
            f"{fbf['seconds_first_frame']:.0f} and {tmp['seconds_first_frame']:.0f} s).")
    common = (f"{st['frames']} frames of the demo clip at {st['size']} px, The Starry Night, {st['steps']} "
              f"evaluations for frame 1 and {st['later_steps']} for each later frame")
    figures = [Figure("bell_video_fbf", fbf["gif"], f"Frame by frame: {common}; warping error "
                      f"{fbf['warping_error']:.4f}.", "frame-by-frame stylised clip", kind="animation"),
               Figure("bell_video_temporal", tmp["gif"], f"Temporal loss × {video.TEMPORAL_WEIGHT:g}: {common}; "
                      f"warping error {tmp['warping_error']:.4f}.", "temporally consistent stylised clip",
                      kind="animation"),
               Figure("bell_video_strips", _strips(fbf["strip"], tmp["strip"], out_root),
                      "Six frames of each (top: frame by frame; bottom: temporal).", "frame strips")]
    return Bell("Video with temporal consistency", text, figures, "Ruder et al. 2016",
                {"warping_error": [fbf["warping_error"], tmp["warping_error"]]})


def _strips(a: Path, b: Path, out_root: Path) -> Path:
    rows = [np.asarray(open_image(p).convert("RGB")) for p in (a, b)]
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    gap = np.full((6, width, 3), 255, np.uint8)
    path = out_root / "figures" / "bell_video_strips.png"
    save_image(Image.fromarray(np.concatenate([rows[0], gap, rows[1]])), path)
    return path


# ---------------------------------------------------------------------------------------
# Feed-forward networks
# ---------------------------------------------------------------------------------------

def _fast_sizes(quick: bool) -> tuple[int, int]:
    """(output size, optimization steps at the coarsest scale)."""
    return (64, 5) if quick else (512, 200)


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
        jobs = [(f"{content.stem} x {st.stem}", Job(out=out_root / "fast" / f"opt_{content.stem}_{st.stem}.png", content=content, styles=[st], settings=Settings(size=size, steps=steps)))
                for st, _ in models]
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
    path = ex.save_figure(make_sheet([header] + rows, cell=s.cell), out_root, "bell_fast")
    figures = [Figure("bell_fast", path, f"Optimization (L-BFGS, {steps} evaluations at the coarsest scale, coarse to "
                      f"fine to {size} px) beside the trained network's single forward pass ({precision}, median of "
                      f"5 after a warm-up), for each trained style. Under each: wall time and the neutral style and "
                      f"content distances (metrics.py; lower is closer).", "optimization vs feed-forward")]
    tex = _textures(cnn, device, quick, out_root, s)
    if tex:
        figures.append(tex[0])
    fast = [n["fast_seconds"] for n in numbers]
    speedup = np.median([n["opt_seconds"] / n["fast_seconds"] for n in numbers])
    trained = sorted({n["trained_steps"] for n in numbers})
    text = (f"run.py --train-fast trains a feed-forward network (Johnson et al. 2016, narrowed for CPUs: "
            f"{ff.TRAIN_DEFAULTS['width']}-channel first layer, {ff.TRAIN_DEFAULTS['res_blocks']} residual blocks, "
            f"instance normalisation, upsample-then-convolve) with the core's content, style and TV loss modules "
            f"on the project's offline training photos; run.py --fast then stylises any photo in one pass. "
            f"The shipped networks were trained for {' or '.join(map(str, trained))} steps of 4 random 128 px crops. "
            f"At {size} px a network takes {min(fast):.2f}–{max(fast):.2f} s, about {speedup:.0f}× faster than "
            f"the optimization; the optimization still matches the style statistics more closely (mean style "
            f"distance {np.mean([n['opt_style'] for n in numbers]):.2f} vs "
            f"{np.mean([n['fast_style'] for n in numbers]):.2f}), as expected from a network that must serve "
            f"every photo.")
    if tex:
        text += " " + tex[1]
    return Bell("Feed-forward networks", text, figures, "Johnson et al. 2016; Ulyanov et al. 2016",
                {"pairs": numbers}, all_runs)


def _model_stamp(model: Path) -> dict:
    return {"model": model.name, "bytes": model.stat().st_size, "sha1": _sha1(model)}


def _sha1(path: Path) -> str:
    import hashlib
    return hashlib.sha1(path.read_bytes()).hexdigest()


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


def _fast_pair(model, content, style, c, run, fast_path, precision, dist, device, quick) -> dict:
    """The network's output and numbers for one pair, beside the optimization's."""
    def make():
        net, trained = ff.load_model(model, device, kind="style")
        out, seconds = ff.timed(ff.stylize, net, c, precision, repeats=3 if quick else 5)
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
    opt = ex.p2_job(s, out_root, STARRY, ex.P2_SETS[-1], ex.SEEDS[0])
    opt_run = ensure([("texture", opt)], cnn, device, progress=False)[0]
    cells = [labelled(open_image(STARRY), "style", s.cell),
             labelled(open_image(opt_run.image), f"optimization\n{opt_run.meta.get('wall_seconds', 0):.0f} s", s.cell)]
    times = []
    for seed in (1, 2, 3):
        path = out_root / "fast" / f"texture_seed{seed}.png"
        stamp = {**_model_stamp(TEXTURE_MODEL), "size": size, "seed": seed, "precision": precision}

        def make(seed=seed):
            img, seconds = ff.timed(ff.texture, net, size, size, seed, precision, repeats=3)
            return img, {"seconds": seconds}

        seconds = cached_output(path, stamp, make)["seconds"]
        times.append(seconds)
        cells.append(labelled(open_image(path), f"network, seed {seed}\n{seconds:.2f} s", s.cell))
    path = _sheet(cells, out_root, "bell_texture_net", s.cell)
    fig = Figure("bell_texture_net", path, f"Texture network (Ulyanov et al. 2016) trained for "
                 f"{settings.get('trained_steps')} steps on The Starry Night: three seeds at {size} px "
                 f"(median of 3 runs each), beside Part 2's optimized texture.", "texture network samples")
    text = (f"run.py --train-texture trains the same network from noise to texture with the Gram loss alone; "
            f"run.py --fast-texture gives a new {size} px texture per --seed in {np.median(times):.2f} s.")
    return fig, text


# ---------------------------------------------------------------------------------------
# AdaIN
# ---------------------------------------------------------------------------------------

ADAIN_DECODER = MODELS / "adain_decoder.pt"
# What the shipped decoder's pictures look like, written after looking at them: update it
# with the decoder.
ADAIN_QUALITY = ("the photo's shapes survive in the painting's colours, but the decoder is under-trained: "
                 "a fine lattice of artefacts in textured areas, and no real brush strokes.")
ADAIN_CONTENTS = (CHENONCEAU, CONTENT_DIR / "chelsea.jpg", CONTENT_DIR / "china.jpg")
ADAIN_STYLES = (STARRY, WAVE, KANDINSKY, STYLE_DIR / "night_cafe.jpg")
ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)


def adain_bell(cnn, device, quick, out_root, progress) -> Bell | None:
    if not ADAIN_DECODER.exists():
        return None
    from stylekit.nets import adain
    s = scale_for(quick)
    size, steps = _fast_sizes(quick)
    precision = resolve_precision("auto", device)
    decoder, trained = adain.load_decoder(ADAIN_DECODER, device)
    encoder = adain.Encoder(cnn)
    stamp = _model_stamp(ADAIN_DECODER)
    dist = Distances(cnn)
    folder = out_root / "adain"

    def one(name: str, content: Path, styles: list[Path], **options) -> tuple[Path, dict]:
        c = load_image(content, size, device)
        st = [adain.load_style(p, round(size * adain.STYLE_SCALE), device) for p in styles]

        def make():
            out, seconds = ff.timed(adain.stylize, encoder, decoder, c, st, precision=precision,
                                    repeats=3 if quick else 5, **options)
            # Distances as for the optimization below: to the style at the output's size.
            return out, {"seconds": seconds, "style": dist.style(out, load_image(styles[0], size, device)),
                         "content": dist.content(out, c)}

        path = folder / f"{name}.png"
        settings = {**stamp, "content": content.name, "styles": [p.name for p in styles], "size": size,
                    "style_scale": adain.STYLE_SCALE, "precision": precision, **options}
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
    grid_path = ex.save_figure(make_sheet(rows, cell=s.cell), out_root, "bell_adain_grid")
    # Alpha sweep and interpolation between two styles.
    sweep = [labelled(open_image(one(f"alpha_{a:g}", CHENONCEAU, [STARRY], alpha=a)[0]), f"alpha {a:g}", s.cell)
             for a in ALPHAS]
    mix = [labelled(open_image(one(f"mix_{w:g}", CHENONCEAU, [STARRY, WAVE], weights=[w, 1 - w])[0]),
                    f"{w:g} Starry + {1 - w:g} Wave", s.cell) for w in (1.0, 0.75, 0.5, 0.25, 0.0)]
    sweep_path = _sheet(sweep + mix, out_root, "bell_adain_controls", s.cell, per_row=len(ALPHAS))
    # Against the optimization of the same pair (the feed-forward comparison's run).
    opt = ensure([("optimization", Job(out=out_root / "fast" / f"opt_{CHENONCEAU.stem}_{STARRY.stem}.png", content=CHENONCEAU, styles=[STARRY], settings=Settings(size=size, steps=steps)))],
                 cnn, device, progress)[0]
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
            f"{round(size * adain.STYLE_SCALE)} px, the default) a transfer takes {min(seconds):.2f}–{max(seconds):.2f} s ({precision}); "
            f"on Chenonceau × The Starry Night its style distance is {pair['style']:.2f} and content distance "
            f"{pair['content']:.2f}, against {opt_n['style']:.2f} and {opt_n['content']:.2f} for the optimization "
            f"({opt.meta.get('wall_seconds', 0):.0f} s).")
    figures = [Figure("bell_adain_grid", grid_path, f"AdaIN, contents × paintings the decoder never saw, at {size} px "
                      f"(alpha 1). Under each: the median time of {3 if quick else 5} runs and the neutral style "
                      f"distance.", "AdaIN grid"),
               Figure("bell_adain_controls", sweep_path, "Top: the content–style trade-off alpha (0: the decoder's "
                      "rendering of the photo's own features). Bottom: interpolating The Starry Night and The Great "
                      "Wave.", "AdaIN alpha sweep and interpolation")]
    return Bell("AdaIN: arbitrary style in one pass", text, figures, "Huang and Belongie 2017",
                {"grid": grid, "optimization": opt_n}, [opt])


# ---------------------------------------------------------------------------------------
# All of them
# ---------------------------------------------------------------------------------------

BELLS = (colour, masks, histogram, blend, video_bell, feedforward, adain_bell)


def run_all(cnn, device, quick: bool = False, out_root: Path = ex.REPORT_RESULTS, progress=True) -> list[Bell]:
    return [b for b in (fn(cnn, device, quick, out_root, progress) for fn in BELLS) if b is not None]
