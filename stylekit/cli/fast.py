"""Commands for the trained networks: `fast`, `texture`, `train-fast`, `train-texture`."""
from __future__ import annotations

from pathlib import Path

from stylekit.cli import options
from stylekit.cli.common import nonneg_float, positive_float, positive_int
from stylekit.nets import feedforward


def register(commands) -> None:
    p = commands.add_parser("fast", help="stylise photos in one pass with a trained style network",
                            description="Stylise --content (images or a folder) in one pass with a trained network.")
    p.add_argument("model", type=Path, metavar="MODEL", help="a style network (.pt), e.g. models/starry_night.pt")
    p.add_argument("--content", nargs="+", type=Path, help="photo(s) or a folder of photos")
    p.add_argument("--size", type=positive_int, help="longest side of the output in px (default: the photo's)")
    p.add_argument("--out", type=Path, help="output PNG, or a folder with several photos (default under results/fast/)")
    options.add_device(p)
    options.add_max_pixels(p)
    p.set_defaults(run=lambda args: _run(args, fast=args.model))

    p = commands.add_parser("texture", help="a new texture from a trained texture network, one per seed",
                            description="A --size px texture from a texture network, one per --seed.")
    p.add_argument("model", type=Path, metavar="MODEL", help="a texture network (.pt)")
    p.add_argument("--size", type=positive_int, help="side of the square texture in px (default 512)")
    p.add_argument("--seed", type=int, default=0, help="seed of the input noise (default 0)")
    p.add_argument("--out", type=Path, help="output PNG (default under results/fast/)")
    options.add_device(p)
    p.set_defaults(run=lambda args: _run(args, fast_texture=args.model))

    for name, kind in (("train-fast", "style"), ("train-texture", "texture")):
        p = commands.add_parser(name, help=f"train a {kind} network for --style into --out MODEL.pt")
        p.add_argument("--style", nargs="+", type=Path, help="the style image")
        p.add_argument("--out", type=Path, help="the model file to write (.pt)")
        if kind == "style":
            p.add_argument("--data", type=Path, help="folder of training photos (default data/photos; "
                           "build it with `python -m stylekit photos`)")
            p.add_argument("--content-weight", type=nonneg_float, help="default 1")
        p.add_argument("--steps", type=positive_int, help="training steps (default 1200)")
        p.add_argument("--batch", type=positive_int, help="images per step (default 4)")
        p.add_argument("--train-size", type=positive_int, help="crop side in px (default 128)")
        p.add_argument("--style-size", type=positive_int, help="style image's longest side (default 2x --train-size)")
        p.add_argument("--width", type=positive_int, help="channels of the network's first layer (default 16)")
        p.add_argument("--res-blocks", type=positive_int, help="residual blocks (default 5)")
        p.add_argument("--lr", type=positive_float, help="Adam's step size (default 2e-3)")
        p.add_argument("--style-weight", type=nonneg_float, help="default 2e4")
        p.add_argument("--tv-weight", type=nonneg_float, help="default 0")
        p.add_argument("--seed", type=int, default=0, help="seed of the crops (default 0)")
        p.add_argument("--resume", action="store_true", help="continue from the checkpoint beside --out")
        p.add_argument("--weights", default="original", help="VGG-19 weights: original, torchvision or a state dict path")
        options.add_device(p)
        options.add_max_pixels(p)
        p.set_defaults(run=lambda args, kind=kind: _run(args, train_fast=kind == "style", train_texture=kind == "texture"))


def _run(args, **mode) -> int:
    for key in ("fast", "fast_texture", "train_fast", "train_texture"):
        setattr(args, key, mode.get(key))
    for key in ("data", "content_weight", "content"):
        setattr(args, key, getattr(args, key, None))
    device, args.precision = options.device_and_precision(args)
    return feedforward.from_cli(args, device)
