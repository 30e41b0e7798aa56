"""The optimization's first image when it is the photo stylised in one pass by the shipped WCT
decoders (`nets.adain`): the painting's colours and strokes are over the photo before the first
evaluation, so fewer evaluations reach the same picture (BENCHMARKS.md, "Starting from the
one-pass picture"). The photo and noise starts are the engine's own."""
from __future__ import annotations

import weakref

import torch
import torch.nn as nn

from stylekit.base.errors import InputError
from stylekit.nets.adain import infer
from stylekit.settings import OnePassSettings, Settings
from utils import load_vgg19

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


def wct_start(cfg: Settings, cnn: nn.Module, content: torch.Tensor, styles: list[torch.Tensor],
              masks: list[torch.Tensor] | None, precision: str) -> torch.Tensor:
    """The photo `content` stylised in one pass, with the run's styles, blend and masks, all
    already at the scale the picture is made at: (1, 3, h, w) in [0, 1]. The engine has
    checked the inputs (`check_init`)."""
    encoder, decoders = _wct_parts(cnn, cfg.weights, content.device)
    run = OnePassSettings(method="wct", alpha=WCT_ALPHA, style_blend=cfg.style_blend, precision=precision)
    return infer.stylize(encoder, decoders, content, styles, run, masks=masks)
