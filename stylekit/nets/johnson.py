"""Feed-forward style and texture networks: train once, then one forward pass per image.

Style network (Johnson, Alahi and Fei-Fei 2016): photo -> stylised photo. Texture network
(Ulyanov et al. 2016): noise -> texture. Both are the same `TransformerNet` (the texture one
takes noise channels instead of RGB) and both learn from the core's loss modules, built by
`style_and_content.build_model`, through the one training loop in `nets.training`. Their
commands (`fast`, `texture`, `train-fast`, `train-texture`) are in `stylekit.cli.fast`.

Departures from the papers, and why:
- Upsample-then-convolve instead of transposed convolutions (no checkerboard artefacts),
  reflection padding and instance normalisation everywhere (Ulyanov et al.'s fix).
- A narrower network than Johnson's (`width`, `res_blocks`): the 512 px forward pass must
  take well under a second on two CPU cores (timings in BENCHMARKS.md).
- The perceptual loss uses the project's original VGG-19: content at relu2_2; Gram style losses
  as part 3's optimization has them, relative to their targets at relu1_1..relu5_1 (the paper:
  plain MSE at VGG-16's relu1_2..relu4_3; `TrainSettings` keeps both), TV weight small.
- Ulyanov's texture generator concatenates noise at several scales; here one noise image at
  full resolution goes through the same downsampling network, whose receptive field covers
  the texture's features, and a different seed gives a different texture of any size.
"""
from __future__ import annotations

import json
from copy import deepcopy
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from style_and_content import build_model, named_vgg_layers
from stylekit.base.device import autocast_context, resolve_precision
from stylekit.base.errors import InputError
from stylekit.base.files import atomic_write, file_sha256
from stylekit.base.numbers import check_seed
from stylekit.base.tensors import mirrored
from stylekit.nets import portable
from stylekit.nets.onnx_copy import onnx_model
from stylekit.nets.onnx_rewrite import rewritten
from stylekit.nets.training import (TrainResult, checkpoint_path, load_network, resumed_init, save_network,
                                    seeded, sittings, to_export, train)
from stylekit.settings import TrainSettings

MODEL_FORMAT = "style-transfer-feedforward/1"
NOISE_CHANNELS = 8
MARGIN = portable.MARGIN   # px the photo is mirrored further out for a pass: see nets.portable
_SHIPPED = TrainSettings.preset("fast")  # the architecture of the shipped networks


# ---------------------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------------------

class ConvLayer(nn.Sequential):
    """Reflection pad, convolution, instance norm, ReLU (the last two optional)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, norm: bool = True, relu: bool = True):
        layers = [nn.ReflectionPad2d(kernel // 2), nn.Conv2d(cin, cout, kernel, stride)]
        if norm:
            layers.append(nn.InstanceNorm2d(cout, affine=True))
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(ConvLayer(channels, channels, 3), ConvLayer(channels, channels, 3, relu=False))

    def forward(self, x):
        return x + self.body(x)


class UpsampleConv(nn.Sequential):
    """Nearest x2 upsampling, then a convolution: no checkerboard, unlike ConvTranspose2d."""

    def __init__(self, cin: int, cout: int):
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"), ConvLayer(cin, cout, 3))


class TransformerNet(nn.Module):
    """Down x4, residual blocks, up x4; any input size (padded to a multiple of 4 inside).

    Output in [0, 1] through a sigmoid, so no pixel is ever clipped after the fact.
    """

    def __init__(self, width: int = _SHIPPED.width, res_blocks: int = _SHIPPED.res_blocks, in_channels: int = 3):
        super().__init__()
        self.arch = {"width": width, "res_blocks": res_blocks, "in_channels": in_channels}
        w = width
        self.net = nn.Sequential(
            ConvLayer(in_channels, w, 9), ConvLayer(w, 2 * w, 3, stride=2), ConvLayer(2 * w, 4 * w, 3, stride=2),
            *[ResidualBlock(4 * w) for _ in range(res_blocks)],
            UpsampleConv(4 * w, 2 * w), UpsampleConv(2 * w, w),
            ConvLayer(w, 3, 9, norm=False, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % 4, (-w) % 4
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect" if min(h, w) > max(ph, pw) else "replicate")
        return torch.sigmoid(self.net(x).float())[..., :h, :w]


def texture_noise(height: int, width: int, seed: int, batch: int = 1, device="cpu") -> torch.Tensor:
    """The texture network's input: uniform noise from its own seeded generator."""
    g = torch.Generator().manual_seed(check_seed(seed))
    return torch.rand(batch, NOISE_CHANNELS, height, width, generator=g).to(device)


# ---------------------------------------------------------------------------------------
# The perceptual loss, from the core's modules
# ---------------------------------------------------------------------------------------

class PerceptualLoss(nn.Module):
    """Weighted content, style and TV terms of a batch of network outputs.

    Built once by `build_model` (the style Gram targets are computed there, once); the
    content target changes with every batch, so it is set on the `ContentLoss` modules
    from a no-grad pass of the inputs through the VGG up to the content layer.
    """

    def __init__(self, cnn: nn.Module, style: torch.Tensor, weights: dict[str, float], config: TrainSettings):
        super().__init__()
        content_layers = [config.content_layer] if weights.get("content") else []
        placeholder = style if content_layers else None
        self.model, self.losses = build_model(cnn, placeholder, style, content_layers=content_layers,
                                              style_layers=config.style_layers, tv=bool(weights.get("tv")),
                                              style_normalize=config.style_normalize,
                                              style_layer_weights=config.style_layer_weights)
        self.weights = {k: w for k, w in weights.items() if w and self.losses.get(k)}
        if content_layers:
            layers = named_vgg_layers(cnn)
            last = max(i for i, (n, _) in enumerate(layers) if n in content_layers)
            self.content_net = nn.Sequential(*[m for _, m in layers[:last + 1]])

    def forward(self, output: torch.Tensor, inputs: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        if self.losses["content"]:
            with torch.no_grad():
                target = self.content_net(inputs).float()
            for module in self.losses["content"]:
                module.target = target
        self.model(output)
        return {k: w * sum(m.loss for m in self.losses[k]) for k, w in self.weights.items()}


# ---------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------

class NoiseSource(torch.utils.data.Dataset):
    """The texture network's 'dataset': noise image i from seed i, same every run."""

    def __init__(self, size: int, length: int):
        self.size, self.length = size, length

    def __len__(self):
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        return texture_noise(self.size, self.size, index)[0]


def train_network(cnn, style: torch.Tensor, dataset, config: TrainSettings, *, out: Path, resume: bool = False,
                  device=torch.device("cpu"), record: dict | None = None, init: Path | None = None,
                  callback=None) -> tuple[TransformerNet, TrainResult]:
    """Train a style network (config.kind 'style') or a texture network ('texture') as `config`
    says; the checkpoint goes beside `out`. `record`: more settings to keep in the model file.
    `init`: a network file of the same kind and architecture to start from (a fresh optimizer).

    The exported model (fp16, with its settings) is written to `out` when training ends, or is
    interrupted, so an interrupted run still gives a usable model.
    """
    if config.kind not in ("style", "texture"):
        raise InputError(f"train_network trains style and texture networks, not {config.kind!r}")
    kind = config.kind
    config = config.replace(precision=resolve_precision(config.precision, torch.device(device)))
    weights = {"content": config.content_weight if kind == "style" else 0.0,
               "style": config.style_weight, "tv": config.tv_weight}
    with seeded(config.seed):
        net = TransformerNet(config.width, config.res_blocks, in_channels=3 if kind == "style" else NOISE_CHANNELS)
    loss = PerceptualLoss(cnn, style, weights, config).to(device)
    if init is not None:   # a new run from a network file, never a resumed one
        net.load_state_dict(starting_network(init, net.arch, kind).state_dict())
        resume = False
    init = resumed_init(init, out, resume)

    def loss_fn(model, batch_in):
        return loss(model(batch_in), batch_in if kind == "style" else None)

    settings = {**(record or {}), "kind": kind, "steps": config.steps, "batch": config.batch, "lr": config.lr,
                "weights": weights, "content_layers": [config.content_layer], "style_layers": list(config.style_layers),
                "style_layer_weights": config.style_layer_weights, "style_normalize": config.style_normalize,
                "precision": config.precision, **net.arch, **({"init": str(init)} if init is not None else {})}
    result = train(net, loss_fn, dataset, config, checkpoint=checkpoint_path(out), resume=resume,
                   record=settings, device=device, callback=callback)
    if to_export(result, out, [portable.portable_path(out)] if kind == "style" else []):
        done = sittings(out, load_model, result, config.lr)
        export(net, out, {**settings, "trained_steps": result.step, "sittings": done,
                          "seconds": sum(s.get("seconds") or 0.0 for s in done),
                          "final_losses": result.history[-1] if result.history else {}})
        if kind == "style":
            export_portable(out)
    return net, result


def export(net: TransformerNet, out: Path, settings: dict) -> Path:
    """The compact model: fp16 weights, the architecture, the training settings."""
    return save_network(net, out, MODEL_FORMAT, settings)


class _PortableBody(nn.Module):
    """What the ONNX copy holds: the layers of a network from `load_model` (rewritten for
    speed) and the sigmoid. The padding to a multiple of 4 depends on the image's size, which a
    traced graph would freeze: `nets.portable` does it."""

    def __init__(self, net: TransformerNet):
        super().__init__()
        self.net = net.net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(x))


def export_portable(model_path: Path) -> Path | None:
    """The ONNX copy of the saved style network at `model_path`, written beside it, for runs
    without torch (`nets.portable`); None where the onnx package is not installed."""
    try:
        import onnx
    except ImportError:
        return None
    net, settings = load_model(model_path, kind="style")
    proto = onnx_model(_PortableBody(net), torch.rand(1, 3, 64, 64), portable.INPUT, portable.OUTPUT)
    onnx.helper.set_model_props(proto, {"format": portable.FORMAT, "source_sha256": file_sha256(model_path),
                                        "settings": json.dumps(settings, default=str)})
    out = portable.portable_path(model_path)
    atomic_write(out, proto.SerializeToString())
    return out


def starting_network(init: Path, arch: dict, kind: str) -> TransformerNet:
    """The network in file `init` (--init): a `kind` network with the architecture `arch`, or a
    narrower one with the same blocks, which is widened to `arch` without changing its output."""
    start, settings = load_network(init, MODEL_FORMAT, TransformerNet, "--init network",
                                   "one made by train-fast or train-texture")
    fits = {k: v for k, v in start.arch.items() if k != "width"} == {k: v for k, v in arch.items() if k != "width"}
    if settings.get("kind") != kind or not fits or start.arch["width"] > arch["width"]:
        def shown(kind_, arch_):
            return f"a {kind_} network with " + ", ".join(f"{k} {v}" for k, v in arch_.items())
        raise InputError(f"--init: {init} is {shown(settings.get('kind'), start.arch)}; this run trains "
                         f"{shown(kind, arch)} (or starts from a narrower one)")
    return widened(start, arch["width"])


@torch.no_grad()
def widened(net: TransformerNet, width: int) -> TransformerNet:
    """`net` with `width`, computing what `net` computes: each layer's first channels are the
    old ones; the new channels get fresh incoming weights and zero outgoing ones, so they start
    silent and training makes them speak (gradients reach their outgoing weights at once)."""
    wide = TransformerNet(width, net.arch["res_blocks"], net.arch["in_channels"])
    old, new = net.state_dict(), wide.state_dict()
    for name, value in new.items():
        if name.endswith(".weight") and value.dim() == 4:
            value[:old[name].shape[0], old[name].shape[1]:] = 0   # the new channels feed no old one
        value[tuple(slice(0, n) for n in old[name].shape)] = old[name]
    wide.load_state_dict(new)
    return wide.eval()


def load_model(path: str | Path, device="cpu", kind: str | None = None) -> tuple[TransformerNet, dict]:
    """A saved network, ready for inference (`for_inference`: not for training), and its
    settings; one clear InputError for anything else, including a texture network given where a
    style network is wanted and the reverse."""
    net, settings = load_network(path, MODEL_FORMAT, TransformerNet, "feed-forward model",
                                 "train one with `python -m stylekit train-fast` or `train-texture`", device)
    if kind is not None and settings.get("kind") != kind:
        other = "`python -m stylekit texture`" if kind == "style" else "`python -m stylekit fast`"
        raise InputError(f"{path} is a {settings.get('kind')} network: use it with {other}")
    return for_inference(net), settings


# ---------------------------------------------------------------------------------------
# Inference
# ---------------------------------------------------------------------------------------

def for_inference(net: TransformerNet) -> TransformerNet:
    """A copy of `net` (eval mode) whose layers are rewritten as its ONNX copy's are
    (`onnx_rewrite`): the same pictures, and a shorter pass in torch too (BENCHMARKS.md, "The
    networks' ONNX copies rewritten"). Not for training: its weights are no longer the trained ones."""
    copy = deepcopy(net)
    copy.net = rewritten(copy.net)
    return copy.eval()


@torch.inference_mode()
def stylize(net: TransformerNet, content: torch.Tensor, precision: str = "fp32") -> torch.Tensor:
    """One forward pass: (1, 3, H, W) in [0, 1] -> same shape, in [0, 1]; the photo is
    mirrored MARGIN px further on every side for the pass (edge pixels repeated where it is
    too small to mirror) and the result cropped back."""
    h, w = content.shape[-2:]
    with autocast_context(content.device, precision):
        return net(mirrored(content, MARGIN)).float()[..., MARGIN:MARGIN + h, MARGIN:MARGIN + w].clamp(0, 1)


@torch.inference_mode()
def texture(net: TransformerNet, height: int, width: int, seed: int, precision: str = "fp32") -> torch.Tensor:
    device = next(net.parameters()).device
    with autocast_context(device, precision):
        return net(texture_noise(height, width, seed, device=device)).float().clamp(0, 1)
