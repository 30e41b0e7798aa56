"""The loss network at print size: layers that keep less for the backward pass, the same gradient.

Autograd keeps every ReLU's output until the backward pass: the ReLU keeps it for its own
backward, the next convolution keeps it as its input (even with frozen weights, though the
gradient to the input needs only the weights), and an average pooling keeps its input for its
shape. Only the outputs the losses read (the Gram matrices' and the content loss's layers) are
needed as values. Here a convolution keeps only its input's shape and layout, a pooling the
same, and a ReLU whose output no loss reads keeps a 1-byte mask of where it was positive. One
evaluation of part 3's losses at 2048x1536 in fp32 then peaks 1.25 GB lower, and takes 9% less
time (fewer gigabytes written and faulted in); at 1024x768 it saves little and the masks cost
8% (BENCHMARKS.md, "Where an optimization's memory goes"). So the engine uses these layers at
print sizes only (`engine.LEAN_FROM_PIXELS`), on the CPU (where the unread tensors cost no
memory) and in fp32 (in bf16 the activations take half the memory already, and autocast would
hand the backward mixed types).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def _layout(x: torch.Tensor) -> torch.memory_format:
    return torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous() \
        else torch.contiguous_format


class _KeepingShape(torch.autograd.Function):
    """`layer` keeping only its input's shape and layout for the backward pass, where
    `input_grad(grad, unread, layer)` gives the gradient to its input. `unread` is a tensor the
    backward kernels take for its shape and layout alone: never written or read, its pages are
    never touched and cost no memory."""

    @staticmethod
    def forward(ctx, x, layer, input_grad):
        ctx.layer, ctx.input_grad, ctx.shape, ctx.layout = layer, input_grad, x.shape, _layout(x)
        return layer(x)

    @staticmethod
    def backward(ctx, grad):
        unread = torch.empty(ctx.shape, dtype=grad.dtype, device=grad.device, memory_format=ctx.layout)
        return ctx.input_grad(grad, unread, ctx.layer), None, None


def _conv_input_grad(grad, unread, c: nn.Conv2d):
    return torch.ops.aten.convolution_backward(grad, unread, c.weight, None, c.stride, c.padding, c.dilation,
                                               False, [0, 0], c.groups, [True, False, False])[0]


def _pool_input_grad(grad, unread, p: nn.AvgPool2d):
    return torch.ops.aten.avg_pool2d_backward(grad, unread, p.kernel_size, p.stride, p.padding, p.ceil_mode,
                                              p.count_include_pad, p.divisor_override)


class _MaskedReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        out = F.relu(x)
        ctx.save_for_backward(out > 0)
        return out

    @staticmethod
    def backward(ctx, grad):
        positive, = ctx.saved_tensors
        return torch.where(positive, grad, 0.0)


class _Lean(nn.Module):
    """`layer` keeping only its input's shape for the backward pass (`_KeepingShape`)."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        return _KeepingShape.apply(x, self.layer, self.input_grad)


class LeanConv2d(_Lean):
    """A frozen convolution that keeps only its input's shape for the backward pass."""
    input_grad = staticmethod(_conv_input_grad)


class LeanAvgPool2d(_Lean):
    """An average pooling that keeps only its input's shape for the backward pass."""
    input_grad = staticmethod(_pool_input_grad)


class MaskedReLU(nn.Module):
    def forward(self, x):
        return _MaskedReLU.apply(x)


def _frozen_conv(m: nn.Module) -> bool:
    return type(m) is nn.Conv2d and not any(p.requires_grad for p in m.parameters())


def lean(model: nn.Sequential, losses: dict[str, list[nn.Module]]) -> nn.Sequential:
    """`model` (a built loss network, each loss module right after the layer it reads; `losses`
    as `build_model` gives them) with its frozen convolutions, average poolings and the ReLUs
    whose output no loss module reads replaced, in place: the loss modules stay the same
    objects, and the gradient is the same to the last bit."""
    loss_modules = {id(m) for ms in losses.values() for m in ms}
    children = list(model.named_children())
    for i, (name, m) in enumerate(children):
        following = children[i + 1][1] if i + 1 < len(children) else None
        if _frozen_conv(m):
            setattr(model, name, LeanConv2d(m))
        elif type(m) is nn.AvgPool2d:
            setattr(model, name, LeanAvgPool2d(m))
        elif type(m) is nn.ReLU and following is not None and id(following) not in loss_modules:
            setattr(model, name, MaskedReLU())
    return model
