"""Flags shared by several commands, and the `Settings` they build. Help texts quote the
defaults from `stylekit.settings`, never copies of them."""
from __future__ import annotations

import argparse
from pathlib import Path

from stylekit.base.device import pick_device, resolve_precision
from stylekit.base.errors import InputError
from stylekit.base.images import DEFAULT_MAX_PIXELS
from stylekit.cli.common import float_list, nonneg_float, positive_float, positive_int
from stylekit.settings import HIST_LAYERS_DEFAULT, OPTIMIZERS, PRESETS, Settings

_PART3 = PRESETS["part3"]
_TRANSFER_LAYERS = ",".join(f"{l}:{_PART3['style_layer_weights'][l]:g}" if l in _PART3["style_layer_weights"] else l
                            for l in _PART3["style_layers"])


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="auto: bf16 autocast where the hardware supports it")


def device_and_precision(args) -> tuple:
    """The device the flags name, and the precision resolved for it (auto -> fp32 or bf16)."""
    device = pick_device(args.device)
    return device, resolve_precision(args.precision, device)


def add_max_pixels(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS,
                   help=f"refuse input images with more pixels (default {DEFAULT_MAX_PIXELS:,})")


def add_styles(p: argparse.ArgumentParser, style_scale_default: str = "1") -> None:
    p.add_argument("--style", nargs="+", type=Path, help="style image(s); several are blended")
    p.add_argument("--style-blend", type=float_list, help="blend weights of several styles, e.g. 0.7,0.3")
    p.add_argument("--style-scale", type=positive_float,
                   help=f"style image size relative to the output (default {style_scale_default})")


def add_optimization(p: argparse.ArgumentParser) -> None:
    """The flags of an optimization run: every field of `Settings`, each defaulting to None so
    that the preset of the run (part 1, 2 or 3) fills in what was not given."""
    d = Settings()
    p.add_argument("--size", type=positive_int, help=f"longest side of the output in px (default {d.size})")
    p.add_argument("--steps", type=positive_int, help=f"loss evaluations at the coarsest scale (default "
                   f"{PRESETS['part3']['steps']} in part 3, {PRESETS['part1']['steps']} in parts 1 and 2)")
    p.add_argument("--init", choices=("content", "noise"), help="start from the content image or white noise")
    p.add_argument("--seed", type=int, help=f"seed of the noise image (default {d.seed})")
    p.add_argument("--content-weight", type=nonneg_float, help=f"default {d.content_weight:g} (0 in part 2)")
    p.add_argument("--style-weight", type=nonneg_float,
                   help=f"default {_PART3['style_weight']:g} in part 3 (relative style losses), "
                        f"{PRESETS['part2']['style_weight']:g} in part 2, 0 in part 1")
    p.add_argument("--style-normalize", action=argparse.BooleanOptionalAction,
                   help="each style layer's loss relative to its target's size (default: on in part 3)")
    p.add_argument("--tv-weight", type=nonneg_float, help=f"total variation weight (default {d.tv_weight:g})")
    p.add_argument("--hist-weight", type=nonneg_float, help="histogram loss weight (Risser et al.; 0 = off, try 1e3)")
    p.add_argument("--hist-layers", help=f"layers of the histogram loss (default {','.join(HIST_LAYERS_DEFAULT)})")
    p.add_argument("--preserve-color", choices=("luminance", "histogram"),
                   help="keep the photo's colours: transfer luminance only, or match the style's colours first")
    p.add_argument("--content-layer", "--content-layers", dest="content_layers",
                   help=f"comma-separated (default {','.join(d.content_layers)})")
    p.add_argument("--style-layers", help=f"comma-separated, each with an optional :weight, e.g. relu5_1:0.5 "
                   f"(default {','.join(d.style_layers)}; part 3: {_TRANSFER_LAYERS})")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help=f"default {d.optimizer}")
    p.add_argument("--lr", type=positive_float, help="step size (L-BFGS default 1, Adam default 0.02)")
    p.add_argument("--multiscale", choices=("auto", "on", "off"), help="coarse-to-fine from 128 px (auto: above 256 px)")
    p.add_argument("--weights", help=f"VGG-19 weights: original, torchvision or a state dict path (default {d.weights})")


def settings_from(args, preset: str) -> Settings:
    """The `Settings` of an optimization run: the preset, with every flag the user gave on top."""
    changes = {name: getattr(args, name, None) for name in Settings.__dataclass_fields__}
    changes["precision"] = getattr(args, "precision", None)
    if isinstance(changes.get("content_layers"), str):
        changes["content_layers"] = [n for n in changes["content_layers"].split(",") if n.strip()]
    if isinstance(changes.get("hist_layers"), str):
        changes["hist_layers"] = [n for n in changes["hist_layers"].split(",") if n.strip()]
    if changes.get("style_blend"):
        total = sum(changes["style_blend"])
        changes["style_blend"] = [w / total for w in changes["style_blend"]]
    settings = Settings.preset(preset, **changes)
    for flag, layers in (("--content-layer", settings.content_layers), ("--style-layers", settings.style_layers),
                         ("--hist-layers", settings.hist_layers)):
        if not layers:
            raise InputError(f"{flag}: no layer names given")
    return settings
