"""The flags of an optimization run (run.py's parts, `video`, the web app's form), and the
`Settings` they build. Help texts quote the defaults from `stylekit.settings`, never copies of them."""
from __future__ import annotations

import argparse

from stylekit.base.errors import InputError
from stylekit.cli.common import nonneg_float, positive_float, positive_int, side, seed
from stylekit.settings import HIST_LAYERS_DEFAULT, INITS, MULTISCALE_ABOVE, OPTIMIZERS, PRESETS, Settings

_PART3 = PRESETS["part3"]
_TRANSFER_LAYERS = ",".join(f"{l}:{_PART3['style_layer_weights'][l]:g}" if l in _PART3["style_layer_weights"] else l
                            for l in _PART3["style_layers"])
_COARSE_ONLY = ",".join(_PART3.get("coarse_only_layers", []))


def add_optimization(p: argparse.ArgumentParser) -> None:
    """The flags of an optimization run: every field of `Settings`, each defaulting to None so
    that the preset of the run (part 1, 2 or 3) fills in what was not given."""
    d = Settings()
    p.add_argument("--size", type=side, help=f"longest side of the output in px (default {d.size})")
    p.add_argument("--steps", type=positive_int, help=f"loss evaluations at the coarsest scale (default "
                   f"{PRESETS['part3']['steps']} in part 3, {PRESETS['part1']['steps']} in parts 1 and 2)")
    p.add_argument("--finer-steps", type=positive_float, metavar="FRACTION",
                   help=f"coarse to fine: each finer scale's evaluations as a fraction of the scale "
                        f"before's, at most 1, never below a fifth of --steps (default {PRESETS['part3']['finer_steps']:g} in "
                        f"part 3, {d.finer_steps:g} in parts 1 and 2)")
    p.add_argument("--coarsest", type=side, metavar="PX",
                   help=f"coarse to fine: the sides halve down to no less than this (default {d.coarsest})")
    p.add_argument("--coarse-only-layers", metavar="LAYERS",
                   help="style layers used at the coarsest scale only, comma-separated; '' for none "
                        f"(default: {_COARSE_ONLY or 'none'} in part 3)")
    p.add_argument("--init", choices=INITS, help="start from the content image, white noise, or the photo stylised "
                                                  "in one pass (wct)")
    p.add_argument("--seed", type=seed, help=f"seed of the noise image, 0 to 2**64-1 (default {d.seed})")
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
    p.add_argument("--multiscale", choices=("auto", "on", "off"),
                   help=f"coarse to fine, from --coarsest px (auto: above {MULTISCALE_ABOVE} px)")
    p.add_argument("--weights", help=f"VGG-19 weights: original, torchvision or a state dict path (default {d.weights})")


def settings_from(args, preset: str) -> Settings:
    """The `Settings` of an optimization run: the preset, with every flag the user gave on top."""
    changes = {name: getattr(args, name, None) for name in Settings.__dataclass_fields__}
    changes["precision"] = getattr(args, "precision", None)
    if isinstance(changes.get("content_layers"), str):
        changes["content_layers"] = [n for n in changes["content_layers"].split(",") if n.strip()]
    for name in ("hist_layers", "coarse_only_layers"):
        if isinstance(changes.get(name), str):
            changes[name] = [n for n in changes[name].split(",") if n.strip()]
    settings = Settings.preset(preset, **changes)
    for flag, layers in (("--content-layer", settings.content_layers), ("--style-layers", settings.style_layers),
                         ("--hist-layers", settings.hist_layers)):
        if not layers:
            raise InputError(f"{flag}: no layer names given")
    return settings


def refuse_ignored(args, settings: Settings, where: str, *, content: bool, styles: int) -> None:
    """A flag of an optimization run that this run would not use is an error naming the mode
    (`where`, e.g. 'run.py --part 1'), never silently ignored. `content`: the run has a content
    image; `styles`: how many style images each of its optimizations takes."""
    s = settings
    styled = styles > 0 and s.style_weight > 0
    scales = s.multiscale == "on" or (s.multiscale == "auto" and (s.size is None or s.size > MULTISCALE_ABOVE))
    one_scale = f"it runs at one scale (coarse to fine is for sizes above {MULTISCALE_ABOVE} px, or --multiscale on)"
    mask = getattr(args, "mask", None) is not None
    rules = (  # (attribute, flag, whether it applies, why not)
        ("content", "--content", content, "it takes no content image"),
        ("style", "--style", styles > 0, "it takes no style image"),
        ("content_weight", "--content-weight", content, "it takes no content image"),
        ("content_layers", "--content-layer", content and s.content_weight > 0,
         "it takes no content image" if not content else "the content weight is 0"),
        ("style_weight", "--style-weight", styles > 0, "it takes no style image"),
        ("style_layers", "--style-layers", styled, "it takes no style image" if not styles else "the style weight is 0"),
        ("style_normalize", "--style-normalize/--no-style-normalize", styled,
         "it takes no style image" if not styles else "the style weight is 0"),
        ("style_scale", "--style-scale", styles > 0, "it takes no style image"),
        ("style_blend", "--style-blend", styles > 1 and not mask,
         "a mask decides where each style goes" if mask else "it blends no two style images"),
        ("hist_weight", "--hist-weight", styles > 0, "it takes no style image"),
        ("hist_layers", "--hist-layers", styles > 0 and s.hist_weight > 0,
         "it takes no style image" if not styles else "the histogram weight is 0 (give --hist-weight)"),
        ("preserve_color", "--preserve-color", content and styles > 0, "it needs a content and a style image"),
        ("mask", "--mask", content and styles > 0, "it needs a content and a style image"),
        ("finer_steps", "--finer-steps", scales, one_scale),
        ("coarsest", "--coarsest", scales, one_scale),
        ("coarse_only_layers", "--coarse-only-layers", scales and styled,
         one_scale if styled else "it takes no style image" if not styles else "the style weight is 0"),
        ("seed", "--seed", s.init == "noise", "the seed is the noise image's, and it starts from the content image "
                                             "(--init content)"),
    )
    for name, flag, applies, why in rules:
        if getattr(args, name, None) is not None and not applies:
            raise InputError(f"{flag} does not apply to {where}: {why}")
    if s.init == "content" and not content and getattr(args, "init", None) == "content":
        raise InputError(f"--init content does not apply to {where}: it takes no content image")
    if getattr(args, "multiscale", None) == "on" and s.size is not None and s.size < 2 * s.coarsest:
        raise InputError(f"--multiscale on needs --size {2 * s.coarsest} or more (the coarsest scale is at "
                         f"least {s.coarsest} px, --coarsest), not {s.size}")


def nan_advice(s: Settings) -> str:
    """What to lower when the loss overflowed: the largest of the weights as they multiply."""
    weights = [(s.style_weight, f"--style-weight (now {s.style_weight:g})"),
               (s.content_weight, f"--content-weight (now {s.content_weight:g})"),
               (s.hist_weight, f"--hist-weight (now {s.hist_weight:g})"),
               (s.tv_weight, f"--tv-weight (now {s.tv_weight:g})")]
    weights += [(s.style_weight * w, f"{layer}'s weight in --style-layers (now {w:g})")
                for layer, w in s.style_layer_weights.items() if w > 1]
    return f"Lower {max(weights, key=lambda w: w[0])[1]} or --lr"
