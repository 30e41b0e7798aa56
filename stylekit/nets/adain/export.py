"""The one-pass decoders as ONNX, for runs without torch (`portable`). The WCT bundle: VGG-19
up to relu4_1 as ONNX (`encoder_graphs`: one graph to every level, and one to each of
relu1_1 ... relu3_1 alone), and each WCT decoder as ONNX, in one zip beside the decoders,
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


def encoder_graphs(stages: list[bytes]) -> tuple[bytes, list[bytes]]:
    """The stages (ONNX, relu1_1 first) composed: one graph from the image to every level
    (outputs `OUTPUT`1 ... `OUTPUT`4), and graphs from the image to relu1_1, relu2_1 and relu3_1
    alone (`INPUT` to `OUTPUT`). Run whole, ONNX Runtime keeps a quantised stage's 8-bit
    activations into the next, where stages run in turn wrote each level out in fp32 and
    quantised it again (BENCHMARKS.md, "The bundles' encoders in one graph")."""
    import onnx
    from onnx import TensorProto, compose, helper
    protos = [compose.add_prefix(onnx.load_from_string(stage), f"s{level}_") for level, stage in enumerate(stages, 1)]
    ends = [proto.graph.output[0].name for proto in protos]   # relu1_1 ... relu4_1 in the composed graphs
    merged, through = protos[0], [_named(protos[0], {ends[0]: portable.OUTPUT})]
    for level, proto in enumerate(protos[1:], start=2):
        merged = compose.merge_models(merged, proto, io_map=[(ends[level - 2], proto.graph.input[0].name)])
        if level < len(protos):
            through.append(_named(merged, {ends[level - 1]: portable.OUTPUT}))
    del merged.graph.output[:]
    merged.graph.output.extend(helper.make_tensor_value_info(end, TensorProto.FLOAT, None) for end in ends)
    return _named(merged, {end: f"{portable.OUTPUT}{level}" for level, end in enumerate(ends, 1)}), through


def _named(model, outputs: dict[str, str]) -> bytes:
    """A copy of `model` (an ONNX ModelProto) serialised with its input named `INPUT` and the
    values `outputs` maps renamed, wherever the graph has them."""
    import onnx
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    graph = copy.graph
    names = {graph.input[0].name: portable.INPUT, **outputs}
    for value in [*graph.input, *graph.output, *graph.value_info]:
        value.name = names.get(value.name, value.name)
    for node in graph.node:
        node.input[:] = [names.get(n, n) for n in node.input]
        node.output[:] = [names.get(n, n) for n in node.output]
    return copy.SerializeToString()


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
    atomic_write(Path(out), portable.bundle_bytes(*encoder_graphs(stages), decoders))
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
