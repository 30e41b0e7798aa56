"""3x3 convolutions of a frozen network by Winograd's F(4x4, 3x3), built from MKL matrix products.

oneDNN has no Winograd kernels for AVX2 CPUs, so there every 3x3 convolution runs directly,
at 9 multiply-adds per input channel and output pixel. F(4x4, 3x3) computes each 4x4 output
tile from a 6x6 input tile with 36 products per channel pair instead of 144: the input tiles
and the filters are transformed (B^T d B, G g G^T), multiplied position by position (36
batched matrix products over channels), and transformed back (A^T m A) (Lavin & Gray 2015).
The filters are frozen, so their transforms are computed once.

The gradient with respect to the input of a stride-1, padding-1 3x3 convolution is itself
such a convolution (of the output's gradient, with the filters flipped and transposed), so
the backward pass uses the same routine; no weight gradients are computed, and nothing is
saved for the backward pass. Only layers wide and large enough to win use it
(BENCHMARKS.md, "Winograd convolutions"); the others stay with oneDNN.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from utils import LAYER_NAMES, VGG19_BLOCKS

_BT = torch.tensor([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                    [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], dtype=torch.float64)
_G = torch.tensor([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                   [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]])
_AT = torch.tensor([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
                   dtype=torch.float64)
# The 2-D transforms as matrices on flattened tiles: vec(B^T d B) = (B^T kron B^T) vec(d).
_IN = torch.kron(_BT, _BT).float()      # (36, 36)
_OUT = torch.kron(_AT, _AT).float()     # (16, 36)

MIN_IN_CHANNELS = 256      # narrower layers: the tile transforms cost more than they save
MIN_PIXELS = 384           # smaller maps: too few tiles to pay for the transforms
BAND_BYTES = 8 << 20       # tiles are transformed a band of rows at a time, to stay in cache


def vgg19_filter_bytes(deepest: str) -> int:
    """Bytes of the two transformed filter banks (forward and backward) of the VGG-19 layers
    that use Winograd, up to layer `deepest` (where the model stops): what a run adds to the
    memory model's base when the engine uses Winograd."""
    total, cin = 0, 3
    for block, (convs, width) in enumerate(VGG19_BLOCKS, start=1):
        for i in range(1, convs + 1):
            if LAYER_NAMES.index(f"conv{block}_{i}") > LAYER_NAMES.index(deepest):
                return total
            if cin >= MIN_IN_CHANNELS:
                total += 2 * 36 * 4 * cin * width
            cin = width
    return total


def filter_transform(weight: torch.Tensor) -> torch.Tensor:
    """(Cout, Cin, 3, 3) filters -> (36, Cin, Cout): G g G^T for each pair, position first."""
    u = torch.einsum("ij,ocjk,lk->ilco", _G, weight.detach().float(), _G)
    return u.reshape(36, weight.shape[1], weight.shape[0]).contiguous()


def conv3x3(x: torch.Tensor, filters: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """The stride-1, padding-1 convolution of x (1, Cin, H, W) by transformed `filters`
    (36, Cin, Cout): the same as F.conv2d with the original filters, to rounding. The result
    is laid out channels-last, as the next layer's oneDNN kernels want it.

    Tiles are the rows of each product and channels its columns ((36, tiles, Cin) times
    (36, Cin, Cout)): MKL's batched products run faster with the many tiles as rows than
    as columns, most of all on small maps (BENCHMARKS.md, "Winograd's products with the tiles
    as rows")."""
    _, cin, h, w = x.shape
    cout = filters.shape[2]
    tiles_h, tiles_w = -(-h // 4), -(-w // 4)
    padded = F.pad(x.float(), (1, 4 * tiles_w + 1 - w, 1, 4 * tiles_h + 1 - h))
    out = torch.empty(1, 4 * tiles_h, 4 * tiles_w, cout, dtype=torch.float32, device=x.device)
    rows = max(1, BAND_BYTES // (36 * max(cin, cout) * tiles_w * 4))
    for r0 in range(0, tiles_h, rows):
        r1 = min(tiles_h, r0 + rows)
        n = (r1 - r0) * tiles_w
        d = padded[:, :, 4 * r0:4 * r1 + 2].unfold(2, 6, 4).unfold(3, 6, 4)       # (1, Cin, rows, tiles_w, 6, 6)
        # Tile position first, channels last: from a channels-last map, a copy of whole runs of channels.
        v = (_IN @ d.permute(4, 5, 0, 2, 3, 1).reshape(36, n * cin)).view(36, n, cin)
        m = torch.bmm(v, filters)
        y = (_OUT @ m.view(36, n * cout)).view(4, 4, r1 - r0, tiles_w, cout)
        out[0, 4 * r0:4 * r1].copy_(y.permute(2, 0, 3, 1, 4).reshape(4 * (r1 - r0), 4 * tiles_w, cout))
    out = out.permute(0, 3, 1, 2)[:, :, :h, :w]
    return out if bias is None else out + bias.view(1, -1, 1, 1)


class _Conv3x3(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, filters, filters_back, bias):
        ctx.filters_back = filters_back
        return conv3x3(x, filters, bias)

    @staticmethod
    def backward(ctx, grad):
        return conv3x3(grad, ctx.filters_back), None, None, None


class WinogradConv2d(nn.Conv2d):
    """A frozen 3x3, stride-1, padding-1 convolution computed by F(4x4, 3x3) where that is
    faster (batch 1, fp32 without autocast, large enough maps), by the usual kernels otherwise."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__(conv.in_channels, conv.out_channels, 3, padding=1, bias=conv.bias is not None,
                         device=conv.weight.device)
        self.load_state_dict(conv.state_dict())
        if conv.weight.is_contiguous(memory_format=torch.channels_last):
            # On small maps the usual kernels run, and oneDNN would reorder filters laid out
            # otherwise than the channels-last input at every call.
            self.weight.data = self.weight.data.contiguous(memory_format=torch.channels_last)
        self.requires_grad_(False)
        # Transformed on first use: each bank is 4x the weights, and the model may stop before this layer.
        self.filters: torch.Tensor | None = None
        self.filters_back: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (x.shape[0] != 1 or x.dtype != torch.float32 or x.shape[-2] * x.shape[-1] < MIN_PIXELS
                or torch.is_autocast_enabled(x.device.type)):   # autocast would run the products in bf16
            return super().forward(x)
        if self.filters is None or self.filters.device != x.device:
            weight = self.weight.detach().to(x.device)
            self.filters = filter_transform(weight)
            self.filters_back = filter_transform(weight.flip(2, 3).transpose(0, 1))
        return _Conv3x3.apply(x, self.filters, self.filters_back, self.bias)


def eligible(layer: nn.Module) -> bool:
    return (type(layer) is nn.Conv2d and layer.kernel_size == (3, 3) and layer.stride == (1, 1)
            and layer.padding == (1, 1) and layer.dilation == (1, 1) and layer.groups == 1
            and layer.in_channels >= MIN_IN_CHANNELS and not layer.weight.requires_grad)


def winograd_copy(cnn: nn.Sequential) -> nn.Sequential:
    """A copy of a frozen sequential network with its eligible 3x3 convolutions by Winograd."""
    out = copy.deepcopy(cnn)
    for name, layer in out.named_children():
        if eligible(layer):
            setattr(out, name, WinogradConv2d(layer))
    return out
