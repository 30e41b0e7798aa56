"""Bells that control an optimized transfer: colour preservation, spatial masks, the
histogram loss, blended styles. Each runs `Job`s through `runs.ensure` (the assignment's own
runs reused where they are the same picture) and returns a `Bell` whose text quotes this
build's numbers."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from stylekit.base.images import open_image
from stylekit.base import color
from stylekit.optim.jobs import Job
from stylekit.optim.metrics import Distances
from stylekit.report.inputs import CHENONCEAU, KANDINSKY, STARRY, WAVE
from stylekit.report.labels import fmt_num, labelled, settings_text
from stylekit.report.measures import chroma_distance, histogram_distance
from stylekit.report.part1_2 import P2_SETS, SEEDS, p2_job
from stylekit.report.part3 import p3_job
from stylekit.report.runs import Bell, Figure, ensure, in_rows, save_sheet, scale_for
from stylekit.settings import Settings
from utils import load_image, save_image

HIST_WEIGHT = 1e3


# ---------------------------------------------------------------------------------------
# Colour preservation
# ---------------------------------------------------------------------------------------

def colour(cnn, device, quick, out_root, progress) -> Bell:
    s = scale_for(quick)
    plain = p3_job(s, out_root, CHENONCEAU, STARRY)     # the grid's run, reused
    jobs = [("plain", plain)] + [
        (mode, Job(out=out_root / "bells" / f"colour_{mode}.png", content=CHENONCEAU, styles=[STARRY],
                   settings=Settings(size=s.size, steps=s.steps_p3, preserve_color=mode)))
        for mode in color.MODES]
    runs = ensure(jobs, cnn, device, progress)
    dist = {label: chroma_distance(run.image, CHENONCEAU) for (label, _), run in zip(jobs, runs)}
    cells = [labelled(open_image(CHENONCEAU), "content", s.cell), labelled(open_image(STARRY), "style", s.cell)]
    cells += [labelled(open_image(run.image), f"{label}\nchroma distance {dist[label]:.3f}", s.cell)
              for (label, _), run in zip(jobs, runs)]
    path = save_sheet(in_rows(cells, 5), out_root, "bell_colour", s.cell)
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
    one = Job(out=out_root / "bells" / "mask_sky_starry.png", content=CHENONCEAU, styles=[STARRY], mask=mask,
              settings=Settings(size=s.size, steps=s.steps_p3))
    two = Job(out=out_root / "bells" / "mask_kandinsky_starry.png", content=CHENONCEAU, styles=[KANDINSKY, STARRY],
              mask=mask, settings=Settings(size=s.size, steps=s.steps_p3))
    runs = ensure([("sky only", one), ("two styles", two)], cnn, device, progress)
    out = np.asarray(open_image(runs[0].image), np.float32)
    m = np.asarray(open_image(mask).convert("L").resize(out.shape[1::-1], Image.Resampling.NEAREST)) > 127
    photo = np.asarray(open_image(CHENONCEAU).convert("RGB").resize(out.shape[1::-1], Image.Resampling.LANCZOS),
                       np.float32)
    diff = np.abs(out - photo).mean(axis=2)
    inside, outside = float(diff[m].mean()), float(diff[~m].mean())
    cells = [labelled(open_image(CHENONCEAU), "content", s.cell), labelled(open_image(mask), "mask (white: sky)", s.cell),
             labelled(open_image(runs[0].image), "Starry Night in the sky only", s.cell),
             labelled(open_image(runs[1].image), "ground: Kandinsky, sky: Van Gogh", s.cell)]
    path = save_sheet(in_rows(cells), out_root, "bell_masks", s.cell)
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

def histogram(cnn, device, quick, out_root, progress) -> Bell:
    s = scale_for(quick)
    gram_only = p2_job(s, out_root, STARRY, P2_SETS[-1], SEEDS[0])   # Part 2's run, reused
    with_hist = Job(out=out_root / "bells" / "texture_hist.png", styles=[STARRY],
                    settings=Settings(part=2, size=s.size, steps=s.steps_p2, init="noise", seed=SEEDS[0],
                                      content_weight=0.0, style_layers=list(P2_SETS[-1]), hist_weight=HIST_WEIGHT))
    runs = ensure([("Gram only", gram_only), ("Gram + histogram", with_hist)], cnn, device, progress)
    hist = [histogram_distance(cnn, r.image, STARRY) for r in runs]
    dist = Distances(cnn)
    style_d = [dist.style(load_image(r.image), load_image(STARRY)) for r in runs]
    cells = [labelled(open_image(STARRY), "style", s.cell)] + [
        labelled(open_image(r.image), f"{label}\nhistogram distance {fmt_num(h)}", s.cell)
        for (label, r, h) in zip(("Gram only", f"Gram + histogram, weight {HIST_WEIGHT:g}"), runs, hist)]
    path = save_sheet(in_rows(cells), out_root, "bell_histogram", s.cell)
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
    ends = [p3_job(s, out_root, CHENONCEAU, st) for st in (STARRY, WAVE)]   # the grid's runs
    mixes = [Job(out=out_root / "bells" / f"blend_{int(w * 10)}.png", content=CHENONCEAU, styles=[STARRY, WAVE],
                 settings=Settings(style_blend=[w, 1 - w], size=s.size, steps=s.steps_p3)) for w in (0.7, 0.3)]
    runs = ensure([("Starry Night", ends[0]), ("0.7 / 0.3", mixes[0]), ("0.3 / 0.7", mixes[1]),
                   ("Great Wave", ends[1])], cnn, device, progress)
    labels = ["Starry Night only", "0.7 Starry + 0.3 Wave", "0.3 Starry + 0.7 Wave", "Great Wave only"]
    cells = [labelled(open_image(r.image), label, s.cell) for r, label in zip(runs, labels)]
    path = save_sheet(in_rows(cells), out_root, "bell_blend", s.cell)
    text = ("--style A B --style-blend 0.7,0.3 mixes the styles' Gram targets, layer by layer, with those weights "
            "(blend weights of 1,0 give exactly the single-style target; a test checks it). The picture moves "
            "from Van Gogh's blue swirls and yellow stars to Hokusai's beige sky and blue-and-white waves as the "
            "weight shifts.")
    caption = f"Château de Chenonceau with blended style targets. Each: {settings_text(runs[1].meta)}."
    return Bell("Several styles, blended", text, [Figure("bell_blend", path, caption, "style blends")], "interpolation",
                runs=runs)
