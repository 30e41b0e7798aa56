"""How the ONNX copies keep their weights small: each float weight stored in fewer bytes and
turned back into fp32 by a node that ONNX Runtime folds once, when it loads the file."""
from __future__ import annotations

import numpy as np


def _rewrite(proto, encode) -> None:
    """Replace each float initializer that `encode(name, array)` turns into (initializers, nodes)."""
    from onnx import TensorProto, numpy_helper
    kept, nodes = [], []
    for weight in proto.graph.initializer:
        done = encode(weight.name, numpy_helper.to_array(weight)) if weight.data_type == TensorProto.FLOAT else None
        if done is None:
            kept.append(weight)
            continue
        kept += done[0]
        nodes += done[1]
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(kept)
    nodes += list(proto.graph.node)
    del proto.graph.node[:]
    proto.graph.node.extend(nodes)


def store_fp16(proto) -> None:
    """Every float weight in fp16 (the trained networks' .pt files hold fp16 values already)."""
    from onnx import TensorProto, helper, numpy_helper

    def encode(name, array):
        return ([numpy_helper.from_array(array.astype(np.float16), f"{name}.fp16")],
                [helper.make_node("Cast", [f"{name}.fp16"], [name], to=TensorProto.FLOAT)])
    _rewrite(proto, encode)

