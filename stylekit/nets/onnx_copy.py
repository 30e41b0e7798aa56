"""Making the networks' ONNX copies (run without torch by `nets.portable` and
`nets.adain.portable`): the export for any batch, height and width, and fp16 weights."""
from __future__ import annotations

import io
import warnings

import numpy as np
import torch
import torch.nn as nn

AXES = {0: "batch", 2: "height", 3: "width"}


def onnx_model(module: nn.Module, example: torch.Tensor, input_name: str, output_name: str, fp16: bool = True):
    """`module` (one tensor in, one out) as an ONNX ModelProto for inputs of any batch, height
    and width; with `fp16`, its float weights stored in fp16 (`store_fp16`)."""
    import onnx
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the exporter's notes on instance norm and constant folding
        torch.onnx.export(module.eval(), (example,), buffer, dynamo=False, input_names=[input_name],
                          output_names=[output_name], dynamic_axes={input_name: AXES, output_name: AXES},
                          opset_version=17)
    proto = onnx.load_from_string(buffer.getvalue())
    if fp16:
        store_fp16(proto)
    return proto


def store_fp16(proto) -> None:
    """Keep the float weights in fp16 (the trained networks' .pt files hold fp16 values already),
    each cast back to fp32 by a Cast node that ONNX Runtime folds once, when it loads the file."""
    from onnx import TensorProto, helper, numpy_helper
    casts = []
    for weight in proto.graph.initializer:
        if weight.data_type == TensorProto.FLOAT:
            name = weight.name
            weight.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weight).astype(np.float16), f"{name}.fp16"))
            casts.append(helper.make_node("Cast", [f"{name}.fp16"], [name], to=TensorProto.FLOAT))
    nodes = casts + list(proto.graph.node)
    del proto.graph.node[:]
    proto.graph.node.extend(nodes)
