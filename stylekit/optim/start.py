"""The optimization's first image: the photo, white noise, or the photo stylised in one pass by
the shipped WCT decoders (`nets.adain`), which lays the painting's colours and strokes over the
photo before the first evaluation, so that fewer evaluations reach the same picture
(BENCHMARKS.md, "Starting from the one-pass picture")."""
from __future__ import annotations

import weakref

import torch
import torch.nn as nn

from stylekit.base.errors import InputError
from stylekit.base.tensors import noise_like
from stylekit.settings import Settings

# The painting's statistics in full: the optimization pulls the photo back itself.
WCT_ALPHA = 1.0
_encoders: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # VGG-19 -> its one-pass encoder
_decoders: dict[str, list] = {}    # device -> the shipped WCT decoders
_originals: dict[str, nn.Module] = {}   # device -> the original VGG-19, where the run optimizes with others


def check_init(init: str, has_content: bool, has_styles: bool) -> None:
    """InputError (one line) for a start the inputs cannot make."""
    if init == "wct" and not (has_content and has_styles):
        raise InputError("--init wct needs a content image and a style image (it stylises the photo in one pass)")


def _wct_parts(cnn: nn.Module, weights: str, device: torch.device):
    """The encoder the decoders were trained with (the original VGG-19's: `cnn` when it is that
    one) and the shipped decoders, each made once."""
    from stylekit.nets.adain import infer   # the one-pass nets, imported only for this start
    from utils import load_vgg19
    key = str(device)
    if key not in _decoders:
        _decoders[key] = infer.load_decoders("wct", None, device)[0]
    if weights != "original":
        if key not in _originals:
            _originals[key] = load_vgg19("original", device)
        cnn = _originals[key]
    if cnn not in _encoders:
        _encoders[cnn] = infer.inference_encoder(cnn)
    return _encoders[cnn], _decoders[key]


def start_image(cfg: Settings, cnn: nn.Module, content: torch.Tensor | None, styles: list[torch.Tensor],
                masks: list[torch.Tensor] | None, shape: tuple[int, int], precision: str) -> torch.Tensor:
    """The first scale's starting image (1, 3, *shape) in [0, 1]: `content` and `styles` are
    already at that scale (`styles` at the style side the losses use)."""
    if cfg.init == "content" and content is not None:
        return content.clone()
    if cfg.init == "wct":
        check_init(cfg.init, content is not None, bool(styles))
        from stylekit.nets.adain import infer
        encoder, decoders = _wct_parts(cnn, cfg.weights, content.device)
        return infer.stylize(encoder, decoders, content, styles, method="wct", alpha=WCT_ALPHA,
                             weights=cfg.style_blend, masks=masks, precision=precision)
    return noise_like(torch.empty(1, 3, *shape, device=(content if content is not None else styles[0]).device),
                      cfg.seed)
