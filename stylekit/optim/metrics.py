"""Neutral quality numbers, computed the same way for any output, ours or another tool's.

Both use the plain original VGG-19 (max pooling, fp32), not the model the optimizer saw:
- content distance: ||F(out) - F(content)||^2 / ||F(content)||^2 at relu4_2, content image
  resized to the output's size;
- style distance: mean over relu1_1..relu5_1 of ||G(out) - G(style)||_F / ||G(style)||_F,
  style image resized so its longest side equals the output's.
Both references are resized from the original files with antialiased bilinear filtering
(`utils.resize_tensor`). The filter matters: relu1_1's Gram matrix is sensitive to fine
detail, and the same painting resized with LANCZOS instead scores 0.23 at 384 px
(`python -m bench peer` prints this check).
Lower is better for both; 0 means identical statistics.
"""
from __future__ import annotations

import torch

from style_and_content import gram_matrix
from stylekit.base.tensors import fit_longest, resize_tensor
from utils import load_image

CONTENT_LAYER = "relu4_2"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


class Distances:
    def __init__(self, cnn: torch.nn.Module):
        self.cnn = cnn  # utils.load_vgg19(): named children, max pooling

    @torch.no_grad()
    def _features(self, img: torch.Tensor, wanted) -> dict[str, torch.Tensor]:
        feats, x = {}, img
        for name, layer in self.cnn.named_children():
            x = layer(x)
            if name in wanted:
                feats[name] = x
                if len(feats) == len(wanted):
                    break
        return feats

    def content(self, out: torch.Tensor, content: torch.Tensor) -> float:
        content = resize_tensor(content, tuple(out.shape[-2:]))
        f = self._features(out, {CONTENT_LAYER})[CONTENT_LAYER]
        c = self._features(content, {CONTENT_LAYER})[CONTENT_LAYER]
        return ((f - c).pow(2).sum() / c.pow(2).sum()).item()

    def style(self, out: torch.Tensor, style: torch.Tensor) -> float:
        errors = self.style_per_layer(out, style)
        return sum(errors) / len(errors)

    def style_per_layer(self, out: torch.Tensor, style: torch.Tensor) -> list[float]:
        """The relative Gram error at each of STYLE_LAYERS."""
        style = resize_tensor(style, fit_longest(style, max(out.shape[-2:])))
        fo = self._features(out, set(STYLE_LAYERS))
        fs = self._features(style, set(STYLE_LAYERS))
        errors = []
        for name in STYLE_LAYERS:
            go, gs = gram_matrix(fo[name]), gram_matrix(fs[name])
            errors.append((torch.linalg.norm(go - gs) / torch.linalg.norm(gs)).item())
        return errors

    def of_files(self, out_path, content_path, style_path) -> dict[str, float]:
        out = load_image(out_path)
        return {"content_distance": self.content(out, load_image(content_path)),
                "style_distance": self.style(out, load_image(style_path))}
