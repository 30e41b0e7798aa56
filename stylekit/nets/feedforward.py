"""Feed-forward style and texture networks: train once, then one forward pass per image.

Style network (Johnson, Alahi and Fei-Fei 2016): photo -> stylised photo. Texture network
(Ulyanov et al. 2016): noise -> texture. Both are the same `TransformerNet` (the texture one
takes noise channels instead of RGB) and both learn from the core's loss modules, built by
`style_and_content.build_model`, through the one training loop in `training.py`.

Departures from the papers, and why:
- Upsample-then-convolve instead of transposed convolutions (no checkerboard artefacts),
  reflection padding and instance normalisation everywhere (Ulyanov et al.'s fix).
- A narrower network than Johnson's (`width`, `res_blocks`): the 512 px forward pass must
  take well under a second on two CPU cores. The widths were chosen from measurements.
- The perceptual loss uses the project's original VGG-19: content at relu2_2, Gram style at
  relu1_1..relu4_1 (VGG-16's relu1_2..relu4_3 in the paper), TV weight small.
- Ulyanov's texture generator concatenates noise at several scales; here one noise image at
  full resolution goes through the same downsampling network, whose receptive field covers
  the texture's features, and a different seed gives a different texture of any size.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from stylekit.base.device import autocast_context
from stylekit.optim.jobs import check_out
from style_and_content import build_model, named_vgg_layers, resolve_layers
from stylekit.nets.training import (TRAINING_CURVE_SMOOTHING, ProgressBar, TrainResult, early_exit,
                                    load_network, save_network, train)
from stylekit.nets.data import DEFAULT_OUT as DEFAULT_PHOTOS, RandomCrops, image_files
from stylekit.base.paths import ROOT
from stylekit.base.errors import InputError
from utils import load_image, load_vgg19, save_image
from stylekit.base.figures import plot_losses
from stylekit.base.files import write_json

MODEL_FORMAT = "style-transfer-feedforward/1"
CONTENT_LAYERS = ("relu2_2",)
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
NOISE_CHANNELS = 8


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

    def __init__(self, width: int = 16, res_blocks: int = 5, in_channels: int = 3):
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
    g = torch.Generator().manual_seed(seed)
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

    def __init__(self, cnn: nn.Module, style: torch.Tensor, weights: dict[str, float],
                 content_layers=CONTENT_LAYERS, style_layers=STYLE_LAYERS):
        super().__init__()
        content_layers = resolve_layers(content_layers) if weights.get("content") else []
        placeholder = style if content_layers else None
        self.model, self.losses = build_model(cnn, placeholder, style, content_layers=content_layers,
                                              style_layers=style_layers, tv=bool(weights.get("tv")))
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


def train_network(cnn, style: torch.Tensor, dataset, *, kind: str, out: Path, steps: int, batch: int,
                  lr: float, weights: dict[str, float], width: int, res_blocks: int, precision: str,
                  resume: bool, device, settings: dict, callback=None,
                  save_every: int = 50) -> tuple[TransformerNet, TrainResult]:
    """Train a style ('style') or texture ('texture') network; the checkpoint goes beside `out`.

    The exported model (fp16, with `settings`) is written to `out` when training ends, or is
    interrupted, so an interrupted run still gives a usable model.
    """
    net = TransformerNet(width, res_blocks, in_channels=3 if kind == "style" else NOISE_CHANNELS)
    loss = PerceptualLoss(cnn, style, weights).to(device)

    def loss_fn(model, batch_in):
        return loss(model(batch_in), batch_in if kind == "style" else None)

    settings = {**settings, "kind": kind, "steps": steps, "batch": batch, "lr": lr, "weights": weights,
                "content_layers": list(CONTENT_LAYERS), "style_layers": list(STYLE_LAYERS),
                "precision": precision, **net.arch}
    result = train(net, loss_fn, dataset, steps=steps, batch=batch, checkpoint=checkpoint_path(out), lr=lr,
                   precision=precision, save_every=save_every, resume=resume, settings=settings,
                   device=device, callback=callback)
    if result.step and result.main:
        export(net, out, {**settings, "trained_steps": result.step,
                          "final_losses": result.history[-1] if result.history else {}})
    return net, result


def checkpoint_path(out: Path) -> Path:
    return out.with_name(out.stem + ".ckpt")


def export(net: TransformerNet, out: Path, settings: dict) -> Path:
    """The compact model: fp16 weights, the architecture, the training settings."""
    return save_network(net, out, MODEL_FORMAT, settings)


def load_model(path: str | Path, device="cpu", kind: str | None = None) -> tuple[TransformerNet, dict]:
    """A saved network and its settings; one clear InputError for anything else, including a
    texture network given where a style network is wanted and the reverse."""
    net, settings = load_network(path, MODEL_FORMAT, TransformerNet, "feed-forward model",
                                 "train one with --train-fast or --train-texture", device)
    if kind is not None and settings.get("kind") != kind:
        other = "--fast-texture" if kind == "style" else "--fast"
        raise InputError(f"{path} is a {settings.get('kind')} network: use it with {other}")
    return net, settings


# ---------------------------------------------------------------------------------------
# Inference
# ---------------------------------------------------------------------------------------

@torch.inference_mode()
def stylize(net: TransformerNet, content: torch.Tensor, precision: str = "fp32") -> torch.Tensor:
    """One forward pass: (1, 3, H, W) in [0, 1] -> same shape, in [0, 1]."""
    with autocast_context(content.device, precision):
        return net(content).float().clamp(0, 1)


@torch.inference_mode()
def texture(net: TransformerNet, height: int, width: int, seed: int, precision: str = "fp32") -> torch.Tensor:
    device = next(net.parameters()).device
    with autocast_context(device, precision):
        return net(texture_noise(height, width, seed, device=device)).float().clamp(0, 1)


def timed(fn, *args, repeats: int = 5, **kwargs) -> tuple[torch.Tensor, float]:
    """The output and the median wall time of `repeats` calls after a warm-up."""
    out = fn(*args, **kwargs)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        times.append(time.perf_counter() - start)
    times.sort()
    return out, times[len(times) // 2]


# ---------------------------------------------------------------------------------------
# Command line (run.py --train-fast, --train-texture, --fast, --fast-texture)
# ---------------------------------------------------------------------------------------

TRAIN_DEFAULTS = {"steps": 1200, "batch": 4, "train_size": 128, "lr": 2e-3, "content_weight": 1.0,
                  "style_weight": 2e4, "tv_weight": 0.0, "width": 16, "res_blocks": 5}
RESULTS = ROOT / "results" / "fast"


def _setting(args, name):
    value = getattr(args, name, None)
    return TRAIN_DEFAULTS[name] if value is None else value


def _shown(path: Path) -> str:
    """A path as the settings record it: relative to the project when inside it."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def train_cli(args, device) -> int:
    kind = "style" if args.train_fast else "texture"
    if not args.style or len(args.style) != 1:
        raise InputError(f"--train-{'fast' if kind == 'style' else 'texture'} needs one --style image")
    if args.out is None or args.out.suffix != ".pt":
        raise InputError("--out must name the model file to write, ending in .pt (e.g. models/starry.pt)")
    check_out(args.out, args.style)
    size = _setting(args, "train_size")
    steps, batch = _setting(args, "steps"), _setting(args, "batch")
    if args.resume and not checkpoint_path(args.out).exists():
        raise InputError(f"--resume: no checkpoint {checkpoint_path(args.out)} to resume from")
    style = load_image(args.style[0], max(1, round(args.style_size or 2 * size)), device, args.max_pixels)
    if kind == "style":
        data = args.data or DEFAULT_PHOTOS
        dataset = RandomCrops(image_files(data), size, length=10 ** 9, seed=args.seed)
    else:
        data, dataset = None, NoiseSource(size, length=10 ** 9)
    weights = {"content": _setting(args, "content_weight") if kind == "style" else 0.0,
               "style": _setting(args, "style_weight"), "tv": _setting(args, "tv_weight")}
    cnn = load_vgg19(args.weights, device)
    settings = {"style_image": str(args.style[0]), "style_size": max(style.shape[-2:]), "train_size": size,
                "data": _shown(data) if data else None, "seed": args.seed, "vgg_weights": args.weights,
                "device": str(device), "threads": torch.get_num_threads()}
    with ProgressBar(f"train {kind} {args.out.stem}") as bar:
        _, result = train_network(cnn, style, dataset, kind=kind, out=args.out, steps=steps, batch=batch,
                                  lr=_setting(args, "lr"), weights=weights, width=_setting(args, "width"),
                                  res_blocks=_setting(args, "res_blocks"), precision=args.precision,
                                  resume=args.resume, device=device, settings=settings, callback=bar)
    code = early_exit(result, _setting(args, "lr"))
    if code is not None:
        return code
    if result.step:
        write_json(args.out.with_suffix(".json"), {**load_model(args.out)[1], "seconds_this_sitting": result.seconds,
                                                   "status": result.status})
        plot_losses(result.history, args.out.with_name(args.out.stem + "_losses.png"), title=args.out.stem,
                    xlabel="training step", smooth=TRAINING_CURVE_SMOOTHING)
    print(f"{args.out}  ({result.step} steps, {result.seconds:.0f} s this sitting; "
          f"loss {result.history[-1]['total']:.4g})" if result.history else f"{args.out}: no steps run")
    if result.status == "interrupted":
        print(f"interrupted: the model so far is in {args.out}; continue with --resume", file=sys.stderr)
        return 130
    return 0


def _inputs(paths: list[Path]) -> tuple[list[Path], bool]:
    """The content files, and whether the user gave a folder or several files."""
    files = []
    for p in paths:
        files += image_files(p) if p.is_dir() else [p]
    return files, len(paths) > 1 or any(p.is_dir() for p in paths)


def fast_cli(args, device) -> int:
    net, settings = load_model(args.fast, device, kind="style")
    if not args.content:
        raise InputError("--fast needs --content (an image, several, or a folder)")
    files, many = _inputs(args.content)
    if many and args.out is not None and args.out.suffix:
        raise InputError("with a folder or several images, --out is a folder")
    if not many and args.out is not None and args.out.suffix.lower() != ".png":
        raise InputError(f"--out must end in .png, not {args.out.name!r}")
    model = Path(args.fast).stem
    failed = 0
    for path in files:
        try:
            if many:
                out = (args.out or RESULTS / model) / f"{path.stem}.png"
            else:
                out = args.out or RESULTS / f"{path.stem}_{model}.png"
            check_out(out, [path])
            content = load_image(path, args.size, device, args.max_pixels)
            start = time.perf_counter()
            img = stylize(net, content, args.precision)
            seconds = time.perf_counter() - start
            save_image(img, out, {"mode": "feedforward", "model": str(args.fast), "content": str(path),
                                  "size": list(img.shape[-2:]), "precision": args.precision,
                                  "seconds": seconds, "device": str(device), "training": settings})
            print(f"{out}  ({img.shape[-1]}x{img.shape[-2]}, {seconds:.2f} s)")
        except InputError as exc:
            if not many:
                raise
            print(f"error: {path}: {exc}", file=sys.stderr)
            failed += 1
    return 2 if failed else 0


def texture_cli(args, device) -> int:
    net, settings = load_model(args.fast_texture, device, kind="texture")
    size = args.size or 512
    out = args.out or RESULTS / f"{Path(args.fast_texture).stem}_seed{args.seed}.png"
    if out.suffix.lower() != ".png":
        raise InputError(f"--out must end in .png, not {out.name!r}")
    check_out(out, [])
    start = time.perf_counter()
    img = texture(net, size, size, args.seed, args.precision)
    seconds = time.perf_counter() - start
    save_image(img, out, {"mode": "texture-network", "model": str(args.fast_texture), "seed": args.seed,
                          "size": [size, size], "precision": args.precision, "seconds": seconds,
                          "device": str(device), "training": settings})
    print(f"{out}  ({size}x{size}, seed {args.seed}, {seconds:.2f} s)")
    return 0


def from_cli(args, device) -> int:
    if args.train_fast or args.train_texture:
        return train_cli(args, device)
    if args.fast:
        return fast_cli(args, device)
    return texture_cli(args, device)
