"""A style network without torch: its ONNX copy, run by ONNX Runtime on the CPU.

Why: a command that imports torch spends about a second on the import alone, more than the
network's whole forward pass at 512 px, so `fast` through this module stylises a photo and
saves it in well under a second (BENCHMARKS.md, "The first image without torch"). This module
imports neither torch nor anything that does; the copy is made by `johnson.export_portable`.

The copy (MODEL.onnx beside MODEL.pt) is the network's body and its sigmoid; the margin and
the padding to a multiple of 4, and cropping back, happen here, as `johnson.stylize` and
`TransformerNet.forward` do them. It records
the sha256 of the .pt file it was made from, so a copy left from an earlier training is never
used for a newer network: `load` then returns None and the caller runs the .pt with torch.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from stylekit.base.files import file_sha256

FORMAT = "style-transfer-feedforward-onnx/1"
# The style networks paint a frame one pixel wide where their padding meets the picture's edge
# (up to 38 levels of 255 off the colours beside it); run on the photo mirrored this many px
# further out, the frame falls outside the part that is kept (BENCHMARKS.md, "The networks'
# frame"). Here and in `johnson.stylize` alike.
MARGIN = 8
INPUT, OUTPUT = "image", "styled"


def onnxruntime_or_none():
    """The onnxruntime module, or None where it is not installed. A Ctrl-C or SIGTERM that
    lands during its import comes out of the import as an ImportError: that one stops the
    command instead of passing for a missing package (the command would go on with torch)."""
    from stylekit.base import interrupt
    try:
        import onnxruntime
    except ImportError:
        if interrupt.signalled():
            raise KeyboardInterrupt from None
        return None
    return onnxruntime


def portable_path(model: str | Path) -> Path:
    """Where the ONNX copy of a network file lies: beside it, as .onnx."""
    return Path(model).with_suffix(".onnx")


def pad_bottom_right(x: np.ndarray, multiple: int, least: int = 0) -> np.ndarray:
    """(1, C, H, W) padded at the bottom and right to multiples of `multiple` and to at least
    `least`, as the torch networks pad: mirrored where the image is large enough, edge pixels
    repeated otherwise."""
    h, w = x.shape[-2:]
    ph, pw = max(least, h + (-h) % multiple) - h, max(least, w + (-w) % multiple) - w
    if not (ph or pw):
        return x
    mode = "reflect" if min(h, w) > max(ph, pw) else "edge"
    return np.pad(x, ((0, 0), (0, 0), (0, ph), (0, pw)), mode=mode)


def mirrored(x: np.ndarray, margin: int) -> np.ndarray:
    """As `base.tensors.mirrored`, in numpy: (1, C, H, W) with `margin` px mirrored on every side,
    edge pixels repeated where it is too small to mirror."""
    if not margin:
        return x
    return np.pad(x, ((0, 0), (0, 0), (margin, margin), (margin, margin)),
                  mode="reflect" if min(x.shape[-2:]) > margin else "edge")


class PortableNet:
    """A loaded ONNX copy: `stylize` takes and gives 8-bit RGB arrays (H, W, 3)."""

    def __init__(self, session, settings: dict):
        self.session, self.settings = session, settings

    def stylize(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        x = (np.asarray(rgb, dtype=np.float32) / 255.0).transpose(2, 0, 1)[None]
        m = MARGIN
        y = self.session.run([OUTPUT], {INPUT: np.ascontiguousarray(pad_bottom_right(mirrored(x, m), 4))})[0][0, :, m:m + h, m:m + w]
        # The same rounding as base.tensors.tensor_to_pil, so both paths give the same bytes.
        return (np.clip(y, 0.0, 1.0).transpose(1, 2, 0) * 255.0 + 0.5).astype(np.uint8)


def load(model: str | Path) -> PortableNet | None:
    """The ONNX copy of the style network `model`, ready to run, or None when there is none to
    use: onnxruntime is not installed, no copy lies beside the model, or the copy was made from
    another file than the one at `model` now."""
    copy = portable_path(model)
    if not (copy.is_file() and Path(model).is_file()):
        return None
    onnxruntime = onnxruntime_or_none()
    if onnxruntime is None:
        return None
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4   # fatal only: a failed run raises, and the CLI says it in one line
    try:
        session = onnxruntime.InferenceSession(str(copy), options, providers=["CPUExecutionProvider"])
    except Exception:   # a damaged or foreign file: the .pt is the network, fall back to it
        return None
    meta = session.get_modelmeta().custom_metadata_map
    if meta.get("format") != FORMAT or meta.get("source_sha256") != file_sha256(model):
        return None
    settings = json.loads(meta.get("settings") or "{}")
    return PortableNet(session, settings) if settings.get("kind") == "style" else None
