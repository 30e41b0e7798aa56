"""The numbers of the report's "Implementation details" section: the settings the experiments
do not choose, and what the Gram matrix's normalisation does to the style loss at each layer."""
from __future__ import annotations

from pathlib import Path

import torch

from style_and_content import FeatureExtractor, style_layers_default
from stylekit.report.part1_2 import P2_STYLE
from stylekit.report.runs import scale_for
from stylekit.settings import Settings
from utils import load_image


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
