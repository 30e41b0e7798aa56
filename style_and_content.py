"""Losses on VGG-19 features and the model that carries them.

Every loss is a small passthrough `nn.Module`: it returns its input unchanged and keeps
`self.loss`, so it can sit anywhere in an `nn.Sequential`. `build_model` inserts them after
the named VGG layers; the engine sums `weight * module.loss` over the modules it is handed.
"""
from __future__ import annotations

import copy
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

from utils import LAYER_NAMES, CaffePreprocess, ImageNetNormalize, min_image_side, resolve_layer, resolve_layers
from stylekit.base.errors import InputError

content_layers_default = ['conv4_2']
style_layers_default = ['conv1_1', 'conv2_1', 'conv3_1', 'conv4_1', 'conv5_1']


def _fp32(t: torch.Tensor) -> torch.Tensor:
    return t.float()


class _SymmetricGram(torch.autograd.Function):
    """G = F F^T * scale with a one-matmul backward, in F's precision, returning fp32.

    Autograd's own bmm backward computes grad @ F and F^T @ grad separately for the two
    operands, though they are the same tensor: two matmuls of the forward's size. Since
    dL/dF = (dL/dG + dL/dG^T) F * scale, one suffices; the Gram losses cost a third less.
    With bf16 features (under autocast) both products run in bf16: oneDNN accumulates them
    in fp32 and only rounds the result, and the gradient goes on into bf16 convolutions anyway.
    """

    @staticmethod
    def forward(ctx, f: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.save_for_backward(f)
        ctx.scale = scale
        return torch.bmm(f, f.transpose(1, 2)).float().mul_(scale)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        f, = ctx.saved_tensors
        sym = (grad + grad.transpose(1, 2)).to(f.dtype)
        if f.transpose(1, 2).is_contiguous():
            # Channels-last features: (F^T sym)^T, a tall product that MKL runs faster than sym F
            # (BENCHMARKS.md, "Winograd's products with the tiles as rows"), laid out as F is.
            return torch.bmm(f.transpose(1, 2), sym).transpose(1, 2).mul_(ctx.scale), None
        return torch.bmm(sym, f).mul_(ctx.scale), None


def gram_matrix(activations: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, C) fp32 channel correlations, divided by C*H*W."""
    b, c, h, w = activations.size()
    with torch.autocast(activations.device.type, enabled=False):
        f = activations if activations.dtype == torch.bfloat16 else _fp32(activations)
        return _SymmetricGram.apply(_flat(f), 1.0 / (c * h * w))


def _flat(f: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H*W) without a copy in either memory layout: a channels-last
    tensor is (B, H*W, C) in memory, so its flat form is a transposed view of that."""
    b, c, h, w = f.size()
    if f.is_contiguous() or not f.is_contiguous(memory_format=torch.channels_last):
        return f.reshape(b, c, h * w)
    return f.permute(0, 2, 3, 1).reshape(b, h * w, c).transpose(1, 2)


def masked_gram_matrix(activations: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Gram matrix of the features inside a soft mask (1, 1, H, W), normalised by the mask's
    area, so that an all-ones mask gives `gram_matrix` (Gatys et al. 2017, sec. 4)."""
    b, c, h, w = activations.size()
    with torch.autocast(activations.device.type, enabled=False):
        f = (_fp32(activations) * mask).reshape(b, c, h * w)
        area = mask.pow(2).sum().clamp_min(1e-8)
        return torch.bmm(f, f.transpose(1, 2)) / (c * area)


class ContentLoss(nn.Module):
    """MSE between the input's features and the content image's at one layer."""

    def __init__(self, target: torch.Tensor):
        super().__init__()
        self.register_buffer("target", _fp32(target.detach()))
        self.loss = torch.tensor(0.0)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if input.shape[-2:] != self.target.shape[-2:]:
            raise ValueError(f"input features {tuple(input.shape)} do not match the content target "
                             f"{tuple(self.target.shape)}: the image must have the content image's size")
        with torch.autocast(input.device.type, enabled=False):
            self.loss = F.mse_loss(_fp32(input), self.target)
        return input


class StyleLoss(nn.Module):
    """MSE between the Gram matrices of the input's features and the style image's.

    `target_feature` is the style image's activation at this layer; only its Gram matrix is
    kept. Several style images can be blended by passing `target_gram` (their weighted mean).
    With `mask` (1, 1, h, w) at this layer's resolution, the input's Gram matrix is taken
    inside the mask only: the style applies to that region (guided Gram matrices).
    With `normalize`, the MSE is divided by the target's mean square: a relative error. The
    Gram entries of relu5_1 are about 10^5 times smaller than those of relu1_1-relu4_1, so
    with plain MSE the deepest layer hardly counts and its statistics stay unmatched.
    `weight` scales this layer's loss against the other style layers'.
    """

    def __init__(self, target_feature: torch.Tensor | None = None, *, target_gram: torch.Tensor | None = None,
                 mask: torch.Tensor | None = None, normalize: bool = False, weight: float = 1.0):
        super().__init__()
        if target_gram is None:
            target_gram = gram_matrix(target_feature.detach())
        self.register_buffer("target", target_gram.detach().float())
        self.register_buffer("mask", None if mask is None else mask.detach().float())
        relative = 1.0 / self.target.pow(2).mean().clamp_min(1e-30).item() if normalize else 1.0
        self.scale = relative * weight
        self.loss = torch.tensor(0.0)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        g = gram_matrix(input) if self.mask is None else masked_gram_matrix(input, self.mask)
        self.loss = F.mse_loss(g, self.target.expand(input.shape[0], -1, -1)) * self.scale
        return input


class HistogramLoss(nn.Module):
    """Per-channel histogram matching of activations (Risser et al. 2017, sec. 4.3).

    Each channel of the input is remapped, rank for rank, onto the style activations'
    distribution; the loss is the MSE to that remapped copy, held constant. Gram matrices
    match only second moments; this pins the whole distribution of each channel.
    """

    def __init__(self, target_feature: torch.Tensor):
        super().__init__()
        c = target_feature.shape[1]
        values = _fp32(target_feature.detach()).transpose(0, 1).reshape(c, -1)
        self.register_buffer("target_sorted", values.sort(dim=1).values)
        self._quantiles: dict[int, torch.Tensor] = {}
        self.loss = torch.tensor(0.0)

    def quantiles(self, n: int) -> torch.Tensor:
        """The target's sorted values resampled to n entries (linear interpolation)."""
        if n not in self._quantiles:
            t = self.target_sorted
            pos = torch.linspace(0, t.shape[1] - 1, n, device=t.device)
            lo = pos.floor().long()
            hi = (lo + 1).clamp_max(t.shape[1] - 1)
            frac = pos - lo
            self._quantiles = {n: t[:, lo] * (1 - frac) + t[:, hi] * frac}
        return self._quantiles[n]

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        with torch.autocast(input.device.type, enabled=False):
            c = input.shape[1]
            f = _fp32(input).transpose(0, 1).reshape(c, -1)
            with torch.no_grad():
                order = f.argsort(dim=1)
                remapped = torch.empty_like(f).scatter_(1, order, self.quantiles(f.shape[1]))
            self.loss = F.mse_loss(f, remapped)
        return input


class TVLoss(nn.Module):
    """Total variation: mean squared difference of neighbouring pixels. Sits before the VGG."""

    def __init__(self):
        super().__init__()
        self.loss = torch.tensor(0.0)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        x = _fp32(input)
        dh = (x[..., 1:, :] - x[..., :-1, :]).pow(2).mean()
        dw = (x[..., :, 1:] - x[..., :, :-1]).pow(2).mean()
        self.loss = dh + dw
        return input


class TemporalLoss(nn.Module):
    """Squared distance to the previous output frame warped to this one, over the pixels the
    optical flow is reliable at (Ruder, Dosovitskiy and Brox 2016). Sits before the VGG.

    target: (1, 3, H, W) warped previous frame; weight_mask: (1, 1, H, W) in [0, 1], 0 at
    disocclusions and motion boundaries. The loss is the mean over the reliable pixels, so
    its scale does not depend on how much of the frame is reliable.
    """

    def __init__(self, target: torch.Tensor, weight_mask: torch.Tensor):
        super().__init__()
        self.register_buffer("target", _fp32(target.detach()))
        self.register_buffer("mask", _fp32(weight_mask.detach()))
        self.area = self.mask.mean().clamp_min(1e-8)
        self.loss = torch.tensor(0.0)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if input.shape[-2:] != self.target.shape[-2:]:
            raise ValueError(f"input {tuple(input.shape)} does not match the temporal target "
                             f"{tuple(self.target.shape)}")
        self.loss = (self.mask * (_fp32(input) - self.target).pow(2)).mean() / self.area
        return input


# ---------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------

def named_vgg_layers(cnn: nn.Module) -> list[tuple[str, nn.Module]]:
    """The layers of a VGG-19 `features` stack, named conv1_1 ... pool5, ready for losses.

    MaxPool becomes AvgPool (smoother gradients, as Gatys et al. suggest), ReLUs are not in
    place (a loss after a conv must see the pre-ReLU values), and convolutions whose weights
    still require grad are replaced by frozen copies: `cnn` itself is never modified.
    A leading preprocessing module (from `utils.load_vgg19`) is kept; a bare torchvision
    stack gets ImageNet normalisation in front.
    """
    children = list(cnn.children())
    if not children:
        raise InputError("the network has no layers")
    out: list[tuple[str, nn.Module]] = []
    if isinstance(children[0], nn.Conv2d):
        out.append(("preprocess", ImageNetNormalize().to(children[0].weight.device)))
    names = iter(LAYER_NAMES)
    for layer in children:
        if isinstance(layer, (CaffePreprocess, ImageNetNormalize)) or not out and not isinstance(layer, nn.Conv2d):
            out.append(("preprocess", layer))
            continue
        name = next(names, None)
        if name is None:
            break
        if isinstance(layer, nn.Conv2d):
            assert name.startswith("conv"), f"unexpected layer order at {name}"
            if any(p.requires_grad for p in layer.parameters()):
                layer = copy.deepcopy(layer).requires_grad_(False)
        elif isinstance(layer, nn.ReLU):
            layer = nn.ReLU(inplace=False)
        elif isinstance(layer, nn.MaxPool2d):
            layer = nn.AvgPool2d(kernel_size=layer.kernel_size, stride=layer.stride, padding=layer.padding)
        out.append((name, layer))
    return out


def _features(layers, img: torch.Tensor, wanted: set[str]) -> dict[str, torch.Tensor]:
    """One forward pass through `layers`, keeping the activations named in `wanted`."""
    feats, x = {}, img
    with torch.no_grad():
        for name, layer in layers:
            x = layer(x)
            if name in wanted:
                feats[name] = x
    return feats


def _check_size(img: torch.Tensor, layers: list[str], what: str) -> None:
    if not layers:
        return
    need = max(min_image_side(n) for n in layers)
    h, w = img.shape[-2:]
    if min(h, w) < need:
        deepest = max(layers, key=LAYER_NAMES.index)
        raise InputError(f"the {what} image is {w}x{h} px, too small for layer {deepest}: "
                         f"it needs at least {need} px on each side")


def build_model(cnn: nn.Module, content_img: torch.Tensor | None, style_imgs, *,
                content_layers=content_layers_default, style_layers=style_layers_default,
                style_blend=None, style_masks=None, hist_layers=(), tv: bool = False,
                temporal=None, style_normalize: bool = False, style_layer_weights=None):
    """VGG with loss modules inserted, trimmed after the last one.

    style_imgs: one image or a list. Without masks, `style_blend` weights (default equal)
    mix their Gram matrices into one target per layer. With `style_masks` (one soft mask
    (1, 1, H, W) at the content's size per style image), style i applies inside mask i only.
    hist_layers: where to add histogram losses against the style images' activations.
    temporal: (warped previous frame, reliability mask) for a `TemporalLoss` (video).
    style_normalize: each style layer's loss relative to its target (see `StyleLoss`).
    style_layer_weights: {layer: weight} for style layers that count more or less than 1.
    Returns (model, losses) with losses = {'content', 'style', 'hist', 'tv', 'temporal': [modules]}.
    The targets are computed here once: the optimization loop never recomputes them.
    """
    content_layers = resolve_layers(content_layers)
    style_layers = resolve_layers(style_layers)
    hist_layers = resolve_layers(hist_layers)
    layer_weights = {resolve_layer(k): float(v) for k, v in (style_layer_weights or {}).items()}
    stray = sorted(set(layer_weights) - set(style_layers))
    if stray and style_layers:
        raise InputError(f"style layer weights for {', '.join(stray)}, which are not style layers")
    if style_imgs is None:
        style_imgs = []
    elif isinstance(style_imgs, torch.Tensor):
        style_imgs = [style_imgs]
    if content_layers and content_img is None:
        raise InputError("content layers were given but no content image")
    if (style_layers or hist_layers) and not style_imgs:
        raise InputError("style layers were given but no style image")
    if content_img is not None:
        _check_size(content_img, content_layers + style_layers + hist_layers, "content")
    for s in style_imgs:
        _check_size(s, style_layers + hist_layers, "style")
    if style_blend is None:
        style_blend = [1.0 / max(1, len(style_imgs))] * len(style_imgs)
    if len(style_blend) != len(style_imgs):
        raise InputError(f"{len(style_blend)} blend weights for {len(style_imgs)} style images")
    if style_masks is not None:
        if content_img is None:
            raise InputError("a mask needs a content image")
        if len(style_masks) != len(style_imgs):
            raise InputError(f"{len(style_masks)} mask regions for {len(style_imgs)} style images")

    layers = named_vgg_layers(cnn)
    wanted = set(content_layers) | set(style_layers) | set(hist_layers)
    if wanted:
        last = max(i for i, (n, _) in enumerate(layers) if n in wanted)
        layers = layers[:last + 1]

    # The content pass also gives each style layer's shape, to which the masks are pooled.
    content_pass = set(content_layers) | (set(style_layers) if style_masks is not None else set())
    content_feats = _features(layers, content_img, content_pass) if content_pass else {}
    style_feats = [_features(layers, img, set(style_layers) | set(hist_layers)) for img in style_imgs]
    style_targets: dict[str, list[tuple[torch.Tensor, torch.Tensor | None]]] = {}
    for name in style_layers:
        grams = [gram_matrix(f[name]) for f in style_feats]
        if style_masks is None:
            style_targets[name] = [(sum(w * g for w, g in zip(style_blend, grams)), None)]
        else:
            size = content_feats[name].shape[-2:]
            style_targets[name] = [(g, F.adaptive_avg_pool2d(m, size)) for g, m in zip(grams, style_masks)
                                   if m.max() > 0]
    hist_targets = {name: torch.cat([f[name].flatten(2) for f in style_feats], dim=2).unsqueeze(-1)
                    for name in hist_layers}

    modules: OrderedDict[str, nn.Module] = OrderedDict()
    losses = {"content": [], "style": [], "hist": [], "tv": [], "temporal": []}

    def add(kind: str, name: str, module: nn.Module):
        losses[kind].append(module)
        modules[name] = module

    if tv:
        add("tv", "tv_loss", TVLoss())
    if temporal is not None:
        add("temporal", "temporal_loss", TemporalLoss(*temporal))
    for name, layer in layers:
        modules[name] = layer
        if name in content_layers:
            add("content", f"content_loss_{name}", ContentLoss(content_feats[name]))
        for i, (gram, mask) in enumerate(style_targets.get(name, [])):
            suffix = f"_{i}" if style_masks is not None else ""
            loss = StyleLoss(target_gram=gram, mask=mask, normalize=style_normalize,
                             weight=layer_weights.get(name, 1.0))
            add("style", f"style_loss_{name}{suffix}", loss)
        if name in hist_targets:
            add("hist", f"hist_loss_{name}", HistogramLoss(hist_targets[name]))
    return nn.Sequential(modules), losses


def get_model_and_losses(cnn, style_img, content_img,
                         content_layers=content_layers_default,
                         style_layers=style_layers_default):
    """The assignment's builder: (model, style_losses, content_losses). See `build_model`."""
    model, losses = build_model(cnn, content_img, style_img,
                                content_layers=content_layers, style_layers=style_layers)
    return model, losses["style"], losses["content"]


class FeatureExtractor(nn.Module):
    """Named activations of chosen layers, collected with forward hooks (a warm-up exercise).

    `FeatureExtractor(load_vgg19(), ['conv1_1', 'relu4_2'])(img)` -> {'conv1_1': ..., ...}
    """

    def __init__(self, cnn: nn.Module, layers=None):
        super().__init__()
        named = named_vgg_layers(cnn)
        self.layers = resolve_layers(layers) if layers is not None else [n for n, _ in named if n != "preprocess"]
        last = max(i for i, (n, _) in enumerate(named) if n in self.layers)
        self.net = nn.Sequential(OrderedDict(named[:last + 1]))
        self._out: dict[str, torch.Tensor] = {}
        for name in self.layers:
            getattr(self.net, name).register_forward_hook(self._keeper(name))

    def _keeper(self, name):
        def hook(module, inputs, output):
            self._out[name] = output
        return hook

    def forward(self, img: torch.Tensor) -> dict[str, torch.Tensor]:
        self._out = {}
        self.net(img)
        return {name: self._out[name] for name in self.layers}
