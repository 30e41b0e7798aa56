"""The facts about the one-pass decoders that need no torch: the levels WCT decodes, the stride
images are padded to, and where the shipped decoders and their ONNX bundle lie. The torch code
(`model`, `infer`) and the torch-free path (`portable`, the `adain` command's parser) share them."""
from __future__ import annotations

from pathlib import Path

from stylekit.base.errors import InputError
from stylekit.base.paths import MODELS

LEVELS = (1, 2, 3, 4)   # relu1_1 ... relu4_1
# relu4_1 sits behind three 2x poolings: images are padded to a multiple of this.
STRIDE = 8
DEFAULT_DECODER = MODELS / "adain_decoder.pt"
# The WCT pipeline (VGG-19 to relu4_1 and the four shipped decoders) as ONNX, for `portable`.
PORTABLE_WCT = MODELS / "wct_portable.zip"


def wct_decoder_path(level: int) -> Path:
    """Where the shipped WCT decoder of relu{level}_1 lives."""
    return MODELS / f"wct_relu{level}_1.pt"


def default_decoders(method: str) -> list[Path]:
    """The shipped decoders of `method`: AdaIN's one, or WCT's one per level."""
    return [DEFAULT_DECODER] if method == "adain" else [wct_decoder_path(level) for level in LEVELS]


def check_style_size(width: int, height: int) -> None:
    """A style image as the pipeline gets it (after resizing) must reach relu4_1."""
    if min(width, height) < STRIDE:
        raise InputError(f"a style image of {width}x{height} px is too small: relu4_1 needs at least "
                         f"{STRIDE} px on each side")
