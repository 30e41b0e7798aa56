"""Numbers the report's text quotes that a sidecar does not hold: pixel and colour distances
between pictures, the histogram loss of a finished picture, and times read off a trace."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from style_and_content import FeatureExtractor, HistogramLoss
from stylekit.base.images import open_image
from stylekit.base import color
from stylekit.report.runs import Run, read_trace
from utils import load_image


def mean_abs_diff(a: Path, b: Path) -> float:
    """Mean absolute difference of two images in 0-255 units (b resized to a if needed)."""
    ia, ib = open_image(a), open_image(b)
    if ib.size != ia.size:
        ib = ib.resize(ia.size, Image.Resampling.LANCZOS)
    return float(np.abs(np.asarray(ia, np.float32) - np.asarray(ib, np.float32)).mean())


def mean_colour(path: Path) -> list[float]:
    return [round(float(v), 1) for v in np.asarray(open_image(path), np.float32).reshape(-1, 3).mean(0)]


def chroma_distance(out: Path, content: Path) -> float:
    """Mean |I,Q(out) - I,Q(content)| (YIQ, RGB in [0, 1]): how far the colours moved."""
    o = load_image(out)
    c = torch.nn.functional.interpolate(load_image(content), size=o.shape[-2:], mode="bilinear", align_corners=False)
    return (color.rgb_to_yiq(o)[:, 1:] - color.rgb_to_yiq(c)[:, 1:]).abs().mean().item()


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


def time_to_reach(run: Run, target) -> float | None:
    """Wall time at which `run`'s total loss first fell to `target` (None if it never did)."""
    if target is None:
        return None
    t, terms = read_trace(run)
    for ti, row in zip(t, terms):
        if row["total"] <= target:
            return ti
    return None
