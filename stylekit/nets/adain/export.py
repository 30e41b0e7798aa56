"""The one-pass decoders as ONNX, for runs without torch (`portable`). The WCT bundle: VGG-19
up to relu4_1 as four ONNX stages and each WCT decoder as ONNX, in one zip beside the decoders,
written when a shipped decoder is trained (`train-wct`, and so by `make models`). An AdaIN
decoder's copy: the decoder alone, beside its .pt, written when `train-adain` ends; it runs on
the bundle's encoder.

The encoder's stages are quantised to 8 bits (ONNX Runtime's static quantisation: weights per
output channel, activations per tensor over ranges measured on photos). They are most of the
pass's time, and in 8 bits it is about 30% shorter with the same distances on the bench's pairs
(BENCHMARKS.md, "WCT without torch"). The weights keep 7 bits of magnitude (`reduce_range`):
CPUs without VNNI multiply 8-bit pairs into 16-bit sums, which full-range weights can overflow,
so every x86 CPU computes the same integers. The decoders keep their fp16 weights, their
layers rewritten for speed (`infer.for_inference`)."""
from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path

import numpy as np

import torch

from stylekit.base.files import atomic_write
from stylekit.base.images import open_image, resize_longest
from stylekit.nets.adain import portable
from stylekit.nets.adain.infer import for_inference, load_decoder
from stylekit.nets.adain.model import Encoder
from stylekit.nets.adain.student import load_student
from stylekit.nets.adain.shipped import PORTABLE_WCT, default_decoders
from stylekit.nets.onnx_copy import onnx_model
from stylekit.base.files import file_sha256
from utils import load_vgg19


# Calibration: this many photos, at this longest side, give the activations' ranges.
CALIBRATION_PHOTOS, CALIBRATION_SIDE = 16, 256


def _quantised(stage: bytes, inputs: list[np.ndarray]) -> bytes:
    """An encoder stage in 8 bits, its activations' ranges measured on `inputs`."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Inputs(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{portable.INPUT: x} for x in inputs])

        def get_next(self):
            return next(self.batches, None)
    with tempfile.TemporaryDirectory() as tmp:
        plain, quantised = Path(tmp) / "plain.onnx", Path(tmp) / "int8.onnx"
        plain.write_bytes(stage)
        quantize_static(plain, quantised, Inputs(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, reduce_range=True)
        return quantised.read_bytes()


def _encoder_stages(encoder: Encoder, photos: list[Path]) -> list[bytes]:
    """The encoder's four stages as ONNX, each quantised on what reaches it from `photos`."""
    x = [torch.from_numpy(portable.to_array(resize_longest(open_image(p), CALIBRATION_SIDE)))
         for p in photos[:CALIBRATION_PHOTOS]]
    stages = []
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the quantiser's advice to pre-process the graph
        for stage in encoder.stages:
            # fp32: the quantiser reads the weights from float initializers
            plain = onnx_model(stage, x[0], portable.INPUT, portable.OUTPUT, fp16=False).SerializeToString()
            stages.append(_quantised(plain, [f.numpy() for f in x]))
            x = [stage(f) for f in x]
    return stages


def export_portable(photos: list[Path], decoder_paths: list[Path] | None = None,
                    out: Path = PORTABLE_WCT, encoder_path: Path | None = None) -> Path | None:
    """Write the bundle of `decoder_paths` (the shipped WCT decoders by default) to `out`, the
    encoder (VGG-19, or the narrow one at `encoder_path` the decoders were trained on)
    quantised on `photos` (the decoders' training photos); None where the onnx package is not
    installed."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        return None
    if not photos:
        raise ValueError("the encoder's quantisation needs photos")
    encoder = load_student(encoder_path)[0] if encoder_path else Encoder(load_vgg19("original"))
    made_on = file_sha256(encoder_path) if encoder_path else None
    stages = _encoder_stages(encoder, photos)
    decoders = {}
    for path in decoder_paths or default_decoders("wct"):
        decoder, settings = load_decoder(path, what="WCT decoder")
        if settings.get("encoder_sha256") != made_on:
            raise ValueError(f"{path} decodes another encoder's features than {encoder_path or 'VGG-19'}")
        example = torch.rand(1, decoder.net[1].in_channels, 8, 8)   # relu{level}_1's channels
        onnx = onnx_model(for_inference(decoder), example, portable.INPUT, portable.OUTPUT).SerializeToString()
        decoders[decoder.level] = (onnx, file_sha256(path), settings)
    atomic_write(Path(out), portable.bundle_bytes(stages, decoders))
    return Path(out)



def export_adain(decoder_path: Path) -> Path | None:
    """The ONNX copy of the AdaIN decoder at `decoder_path`, written beside it with the sha256
    of the file and its training settings; None where the onnx package is not installed."""
    try:
        import onnx
    except ImportError:
        return None
    decoder, settings = load_decoder(decoder_path)
    proto = onnx_model(for_inference(decoder), torch.rand(1, 512, 8, 8), portable.INPUT, portable.OUTPUT)
    onnx.helper.set_model_props(proto, {"format": portable.ADAIN_FORMAT, "source_sha256": file_sha256(decoder_path),
                                        "settings": json.dumps(settings, default=str)})
    out = portable.adain_copy_path(decoder_path)
    atomic_write(out, proto.SerializeToString())
    return out
