"""The WCT bundle for runs without torch (`portable`): VGG-19 up to relu4_1 as four ONNX
stages and each WCT decoder as ONNX, in one zip beside the decoders. Written when a shipped
decoder is trained (`train-wct`) and by `make models`."""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import torch
import torch.nn as nn

from stylekit.base.files import atomic_write
from stylekit.nets.adain import portable
from stylekit.nets.adain.infer import load_decoder
from stylekit.nets.adain.model import Encoder
from stylekit.nets.adain.shipped import PORTABLE_WCT, default_decoders
from stylekit.nets.onnx_weights import store_fp16, store_indexed
from utils import load_vgg19


def _onnx(module: nn.Module, example: torch.Tensor, store) -> bytes:
    """`module` as ONNX with any batch, height and width, its weights kept small by `store`."""
    import onnx
    axes = {0: "batch", 2: "height", 3: "width"}
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the exporter's notes on constant folding
        torch.onnx.export(module.eval(), (example,), buffer, dynamo=False, input_names=[portable.INPUT],
                          output_names=[portable.OUTPUT], opset_version=17,
                          dynamic_axes={portable.INPUT: axes, portable.OUTPUT: axes})
    proto = onnx.load_from_string(buffer.getvalue())
    store(proto)
    return proto.SerializeToString()


def export_portable(decoder_paths: list[Path] | None = None, out: Path = PORTABLE_WCT) -> Path | None:
    """Write the bundle of `decoder_paths` (the shipped WCT decoders by default) to `out`;
    None where the onnx package is not installed."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        return None
    encoder = Encoder(load_vgg19("original"))
    x = torch.rand(1, 3, 64, 64)
    stages = []
    with torch.inference_mode():
        for stage in encoder.stages:
            stages.append(_onnx(stage, x, store_indexed))   # VGG's weights are 8-bit: exact
            x = stage(x)
    decoders = {}
    for path in decoder_paths or default_decoders("wct"):
        decoder, settings = load_decoder(path, what="WCT decoder")
        example = torch.rand(1, 64 * 2 ** (decoder.level - 1), 8, 8)   # relu{level}_1's channels
        decoders[decoder.level] = (_onnx(decoder, example, store_fp16), portable.file_sha256(path), settings)
    atomic_write(Path(out), portable.bundle_bytes(stages, decoders))
    return Path(out)

