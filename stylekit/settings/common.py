"""What the three kinds of settings share: the precisions and colour modes they accept, how a
field is named in messages, and the assignment's modules, loaded only when needed."""
from __future__ import annotations

PRECISIONS = ("auto", "fp32", "bf16")
DEVICES = ("auto", "cpu", "cuda")   # --device: checked by the parsers, before torch is imported
COLOR_MODES = ("luminance", "histogram")


def graded_modules():
    """The assignment's two modules, which import torch: loaded when an optimization's settings
    are made, so that the one-pass commands (their settings and parsers) can start without torch."""
    import style_and_content
    import utils
    return style_and_content, utils


def split_layers(layers, weights: dict) -> tuple[list[str], dict[str, float]]:
    """Style layers as a flag gives them ('relu1_1,relu5_1:0.5', the weights after colons put on
    top of `weights`) or as a list; fresh copies either way, so no settings object shares a preset's."""
    if isinstance(layers, str):
        layers, given = graded_modules()[1].split_layer_weights(layers)
        weights = {**weights, **given}
    return list(layers), dict(weights)


def flag(name: str) -> str:
    """A field as every front end spells it, the command line's flag (the web form's fields are
    the same words): messages name what the user typed."""
    return "--" + name.replace("_", "-")
