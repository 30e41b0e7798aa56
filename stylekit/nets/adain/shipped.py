"""The facts about the one-pass decoders that need no torch: the levels WCT decodes, the stride
images are padded to, the grid WCT's moments are taken on, and where the shipped decoders and
their ONNX bundle lie. The torch code
(`model`, `infer`) and the torch-free path (`portable`, the `adain` command's parser) share them."""
from __future__ import annotations

import math
from pathlib import Path

from stylekit.base.errors import InputError
from stylekit.base.paths import MODELS

LEVELS = (1, 2, 3, 4)   # relu1_1 ... relu4_1
# relu4_1 sits behind three 2x poolings: images are padded to a multiple of this.
STRIDE = 8
# WCT's moments are taken over the positions of a regular grid, every s-th row and column, with
# s the smallest step that leaves at most this many (`grid_step`): relu1_1 of a 512x512 picture
# has 262,144 positions, and its moments were the largest part of a pass after the
# convolutions, while a grid this size moves the pictures by a few levels of 255 and neither
# distance (BENCHMARKS.md, "ReLUs fused into the convolutions, WCT's moments on a grid"); at
# print size it also spares gigabytes of copies.
MAX_POSITIONS = 65536
DEFAULT_DECODER = MODELS / "adain_decoder.pt"
# The WCT pipeline (VGG-19 to relu4_1 and the four shipped decoders) as ONNX, for `portable`.
PORTABLE_WCT = MODELS / "wct_portable.zip"
# 'wct-lite': WCT on a narrow encoder distilled from VGG-19 (`student`), with its own decoders
# and bundle.
LITE_ENCODER = MODELS / "wct_lite_encoder.pt"
PORTABLE_LITE = MODELS / "wct_lite.zip"
# WCT's sharpening (settings.OnePassSettings.sharpen): an unsharp mask whose blur is a Gaussian
# of this deviation in pixels, cut at three deviations.
SHARPEN_SIGMA = 1.0
# WCT's histogram matching (settings.OnePassSettings.histograms): the level whose features, after
# whitening and colouring, also take the painting's distribution along each of its principal
# directions; how many evenly spaced ranks of each direction's values a painting keeps for it;
# and the equal-width bins each direction's range is counted in, which stand in for sorting (a
# sort of relu3_1's values took five times as long as the whole matching with bins).
HISTOGRAM_LEVEL = 3
HISTOGRAM_RANKS = 1024
HISTOGRAM_BINS = 4096
# What each one-pass method does to the features (settings.ONEPASS_METHODS).
TRANSFORM = {"wct": "wct", "wct-lite": "wct", "adain": "adain"}


def wct_decoder_path(level: int, lite: bool = False) -> Path:
    """Where the shipped WCT decoder of relu{level}_1 lives (`lite`: the narrow encoder's)."""
    return MODELS / f"wct_{'lite_' if lite else ''}relu{level}_1.pt"


def default_decoders(method: str) -> list[Path]:
    """The shipped decoders of `method`: AdaIN's one, or WCT's one per level."""
    if method == "adain":
        return [DEFAULT_DECODER]
    return [wct_decoder_path(level, lite=method == "wct-lite") for level in LEVELS]


def bundle_path(method: str) -> Path:
    """The ONNX bundle whose encoder `method` runs on (AdaIN's decoder copy uses WCT's)."""
    return PORTABLE_LITE if method == "wct-lite" else PORTABLE_WCT


# A mask gives each region one style, so blend weights have nothing to blend: refused by the
# pipeline (`infer.check_inputs`) and, before any work, by the command line.
MASK_AND_BLEND = "style blend weights and a mask cannot be combined: the mask decides where each style goes"


def check_style_size(width: int, height: int, what: str = "a style image") -> None:
    """A style image as the pipeline gets it (after resizing) must reach relu4_1; `what` names
    it in the message."""
    if min(width, height) < STRIDE:
        raise InputError(f"{what} at {width}x{height} px is too small: relu4_1 needs at least {STRIDE} px "
                         f"on each side; raise --size or --style-scale")


def grid_step(height: int, width: int, limit: int = MAX_POSITIONS) -> int:
    """The step s of the grid WCT's moments are taken on: the smallest that leaves at most
    `limit` positions of a height x width map (1 when the map has no more)."""
    step = max(1, math.isqrt(max(0, height * width - 1) // limit))
    while math.ceil(height / step) * math.ceil(width / step) > limit:
        step += 1
    return step


def sharpen_taps(sigma: float = SHARPEN_SIGMA) -> list[float]:
    """The 1-D Gaussian (summing to 1) that both pipelines blur with, across then down, before
    adding amount x (picture - blurred) back to the picture."""
    radius = max(1, math.ceil(3 * sigma))
    weights = [math.exp(-(k * k) / (2 * sigma * sigma)) for k in range(-radius, radius + 1)]
    return [w / sum(weights) for w in weights]


def guarded_alpha(alpha: float, move: float, max_move: float | None) -> float:
    """The alpha a photo gets when the styles' statistics would move its deepest features by
    `move` at alpha 1 (|target - x| / |x|): alpha itself up to `max_move`, beyond it scaled by
    max_move / move. Photos whose features a painting would move furthest (smooth, weakly
    textured ones, Machu Picchu's mist) then keep their large shapes, while --alpha still
    sweeps from the photo to the full style on every photo. max_move None: alpha unchanged."""
    if max_move is None or not move > max_move:
        return alpha
    return alpha * max_move / move
