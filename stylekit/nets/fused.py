"""Convolutions with the ReLU after them in one oneDNN call, for inference in torch on the CPU.

A ReLU after a convolution reads and writes the whole activation once more, and in bf16 on the
CPU that pass can cost nearly as much as the convolution. oneDNN applies the ReLU while the
convolution writes its output (a post-op); torch exposes that as `mkldnn::_convolution_pointwise`,
the op its compiler's CPU fusions call. The outputs are the same numbers. Figures: BENCHMARKS.md,
"ReLUs fused into the convolutions, WCT's moments on a grid". Inference only: the op has no
backward, so with gradients on, on other devices or dtypes, or without oneDNN, the layer runs
as convolution then ReLU.
"""
from __future__ import annotations

import copy
import functools

import torch
import torch.nn as nn
import torch.nn.functional as F

from stylekit.nets.onnx_rewrite import PhaseConv, leaves


@functools.cache
def _available() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise")


@functools.cache
def fused_dtypes() -> tuple[torch.dtype, ...]:
    """fp32, and bf16 where oneDNN computes it (AVX-512 or AVX-NE-CONVERT): with AVX2 alone the
    op refuses bf16, and the layer runs as autocast's convolution then ReLU."""
    return (torch.float32, torch.bfloat16) if torch.ops.mkldnn._is_mkldnn_bf16_supported() else (torch.float32,)


def _version(t: torch.Tensor) -> int | None:
    """How often `t` was changed in place; None for a tensor made under inference mode, which
    counts nothing (and cannot be changed outside it)."""
    return None if t.is_inference() else t._version


def fusable(conv: nn.Module) -> bool:
    """A Conv2d whose padding oneDNN can apply itself: numbers (not 'same'), zeros."""
    return (isinstance(conv, nn.Conv2d) and conv.padding_mode == "zeros" and not isinstance(conv.padding, str)
            and conv.bias is not None)


class ConvReLU(nn.Module):
    """relu(conv(x)), as one oneDNN call where it can be (see the module's docstring).

    Under CPU autocast the input and the weights take autocast's dtype, as autocast's own
    convolution would; the weights' copy in that dtype is kept until they change."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        if not fusable(conv):
            raise ValueError("ConvReLU takes a Conv2d with numeric zero padding and a bias")
        self.conv = conv
        self._cast: tuple | None = None

    def _weights(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        w, b = self.conv.weight, self.conv.bias
        if w.dtype == dtype and b.dtype == dtype:
            return w, b
        key = (dtype, _version(w), _version(b), w.data_ptr())
        if self._cast is None or self._cast[0] != key:
            self._cast = (key, w.detach().to(dtype), b.detach().to(dtype))
        return self._cast[1], self._cast[2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_autocast_enabled("cpu") and x.device.type == "cpu":
            x = x.to(torch.get_autocast_dtype("cpu"))
        if (x.device.type != "cpu" or x.dtype not in fused_dtypes() or torch.is_grad_enabled() or not _available()
                or torch.jit.is_tracing()):
            return F.relu(self.conv(x))
        w, b = self._weights(x.dtype)
        c = self.conv
        return torch.ops.mkldnn._convolution_pointwise(x, w, b, list(c.padding), list(c.stride), list(c.dilation),
                                                       c.groups, "relu", [], "")


def fused(net: nn.Sequential) -> nn.Sequential:
    """`net` (a Sequential, nested ones opened) with each fusable Conv2d + ReLU made a `ConvReLU`,
    and each `PhaseConv` + ReLU a copy of it with a `ConvReLU` inside (a ReLU commutes with its
    pixel shuffle); other layers shared, not copied. For inference only (see the docstring)."""
    layers, out, i = leaves(net), [], 0
    while i < len(layers):
        a, b = (layers[i:i + 2] + [None])[:2]
        if isinstance(b, nn.ReLU) and fusable(a):
            out.append(ConvReLU(a))
            i += 2
        elif isinstance(b, nn.ReLU) and isinstance(a, PhaseConv):
            phase = copy.deepcopy(a)
            phase.conv = ConvReLU(phase.conv)
            out.append(phase)
            i += 2
        else:
            out.append(a)
            i += 1
    return nn.Sequential(*out)
