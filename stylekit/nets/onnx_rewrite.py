"""Exact rewrites of a network's layers for its ONNX copy and for inference in torch: the same
function, in layers that CPU convolutions (ONNX Runtime's, torch's) run faster.

ONNX Runtime computes a convolution's output channels in blocks of 8 (AVX2) or 16 (AVX-512), so
a full-size convolution to 3 channels (the picture) costs as much as one to 8 or 16; and a
nearest x2 upsampling before a convolution makes the padding and the layout changes work at
the large size. Two rewrites, each the same sums in another order:

- `RowsThenSum`: reflection padding then a k x k convolution to few channels, as a 1 x k
  convolution to channels x k (one per kernel row) and a k x 1 grouped convolution that adds
  the rows up.
- `PhaseConv`: nearest x2 upsampling, reflection padding of 1 and a 3 x 3 convolution, as
  edge padding of 1 at the small size, a 3 x 3 convolution to 4 x the channels (one per output
  pixel's position in its 2 x 2 block, with the taps that land on the same small pixel added)
  and a pixel shuffle. Reflecting the upsampled picture by one pixel repeats its edge pixel,
  which is the small picture's edge pixel repeated.

The rewritten weights are sums of the trained ones, stored in fp16 as the copies' other weights
are (`onnx_copy.store_fp16`); the pictures agree with the torch network's to well within a
level of 255 (tests/nets/test_onnx_rewrite.py). Figures: BENCHMARKS.md, "The networks' ONNX
copies rewritten".
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

# Below this many output channels a full-size convolution wastes most of a block of 8 or 16.
FEW_CHANNELS = 8


def _plain(conv: nn.Module, kernel: int | None = None) -> bool:
    """A stride-1, undilated, ungrouped square Conv2d with a bias and no padding of its own."""
    return (isinstance(conv, nn.Conv2d) and conv.stride == (1, 1) and conv.dilation == (1, 1) and conv.groups == 1
            and conv.padding == (0, 0) and conv.bias is not None and conv.kernel_size[0] == conv.kernel_size[1]
            and (kernel is None or conv.kernel_size[0] == kernel))


class RowsThenSum(nn.Module):
    """`pad` (reflection, k // 2) then `conv` (k x k, few output channels), computed as a 1 x k
    convolution to out x k channels and a k x 1 grouped sum over them."""

    def __init__(self, pad: nn.ReflectionPad2d, conv: nn.Conv2d):
        super().__init__()
        cout, cin, k, _ = conv.weight.shape
        self.pad = nn.ReflectionPad2d(pad.padding)
        self.rows = nn.Conv2d(cin, cout * k, (1, k), bias=False)
        # channel o * k + i holds output o's kernel row i
        self.rows.weight.data = conv.weight.detach().float().permute(0, 2, 1, 3).reshape(cout * k, cin, 1, k).clone()
        self.sum = nn.Conv2d(cout * k, cout, (k, 1), groups=cout)
        # output o adds up its k rows' sums, row i read i pixels further down
        self.sum.weight.data = torch.eye(k, device=conv.weight.device).reshape(1, k, k, 1).repeat(cout, 1, 1, 1)
        self.sum.bias.data = conv.bias.detach().float().clone()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sum(self.rows(self.pad(x)))


# For an output pixel at position p (0 or 1) of its 2-pixel block, which small-picture offset
# (-1, 0, +1: the rows) each of the 3 x 3 kernel's taps (-1, 0, +1: the columns) lands on.
_LANDS = (torch.tensor([[1., 0, 0], [0, 1, 1], [0, 0, 0]]), torch.tensor([[0., 0, 0], [1, 1, 0], [0, 0, 1]]))


class PhaseConv(nn.Module):
    """Nearest x2 upsampling, reflection padding of 1 and `conv` (3 x 3), computed at the
    small size: edge padding, a 3 x 3 convolution to 4 x the channels, a pixel shuffle."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        cout, cin = conv.weight.shape[:2]
        kernel = conv.weight.detach().float()
        # pixel_shuffle reads channel o * 4 + 2 * row + column as output o at (row, column) of each block
        lands = [m.to(kernel.device) for m in _LANDS]
        phases = torch.stack([torch.einsum("ad,be,ocde->ocab", lands[row], lands[col], kernel)
                              for row in range(2) for col in range(2)], dim=1)
        self.conv = nn.Conv2d(cin, cout * 4, 3)
        self.conv.weight.data = phases.reshape(cout * 4, cin, 3, 3)
        self.conv.bias.data = conv.bias.detach().float().repeat_interleave(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.conv(F.pad(x, (1, 1, 1, 1), mode="replicate")), 2)


def leaves(module: nn.Module) -> list[nn.Module]:
    """A Sequential's layers in order, nested Sequentials opened (the same composition)."""
    if not (isinstance(module, nn.Sequential) and type(module).forward is nn.Sequential.forward):
        return [module]
    return [leaf for child in module for leaf in leaves(child)]


def _nearest_x2(m: nn.Module) -> bool:
    return (isinstance(m, nn.Upsample) and m.mode == "nearest" and m.size is None
            and m.scale_factor in (2, 2.0, (2.0, 2.0)))


def rewritten(net: nn.Sequential) -> nn.Sequential:
    """`net` (a Sequential, nested ones opened) with each nearest x2 upsampling + reflection
    padding of 1 + 3 x 3 convolution made a `PhaseConv`, and each reflection padding + k x k
    convolution to fewer than FEW_CHANNELS channels a `RowsThenSum`; other layers as they are
    (shared, not copied)."""
    layers, out, i = leaves(net), [], 0
    while i < len(layers):
        a, b, c = (layers[i:i + 3] + [None, None])[:3]
        if (_nearest_x2(a) and isinstance(b, nn.ReflectionPad2d) and tuple(b.padding) == (1, 1, 1, 1)
                and _plain(c, 3)):
            out.append(PhaseConv(c))
            i += 3
        elif (isinstance(a, nn.ReflectionPad2d) and _plain(b) and b.kernel_size[0] > 1
                and tuple(a.padding) == (b.kernel_size[0] // 2,) * 4 and b.out_channels < FEW_CHANNELS):
            out.append(RowsThenSum(a, b))
            i += 2
        else:
            out.append(a)
            i += 1
    return nn.Sequential(*out)
