"""`train-fast` and `train-texture`: train the feed-forward networks (`nets.johnson`) that
`fast` and `texture` run (`cli.fast`). run.py's --train-fast and --train-texture are these commands."""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from stylekit.base.lock import only_run_on
from stylekit.base.errors import InputError
from stylekit.base.images import fit_size, image_files, image_size
from stylekit.base.limits import check_side
from stylekit.base.paths import ROOT
from stylekit.base.plan import check_plan
from stylekit.base.tensors import fit_longest, resize_tensor
from stylekit.cli import options, training
from stylekit.cli.common import block_count, channel_count, nonneg_float, side
from stylekit.nets import johnson
from stylekit.nets.crops import RandomCrops
from stylekit.nets.photos import DEFAULT_PHOTOS
from stylekit.base.files import file_sha256
from stylekit.nets.training import ENDLESS, checkpoint_path, load_checkpoint
from stylekit.settings import TrainSettings
from utils import load_image, load_vgg19, min_image_side


def register(commands) -> None:
    for name, preset in (("train-fast", "fast"), ("train-texture", "texture")):
        d = TrainSettings.preset(preset)
        kind = d.kind
        p = commands.add_parser(name, help=f"train a {kind} network for --style into --out MODEL.pt",
                                description=f"Train a {kind} network for one --style image; a checkpoint beside "
                                            "--out every --save-every steps, Ctrl-C keeps the model so far.")
        p.add_argument("--style", nargs="+", type=Path, help="the style image")
        p.add_argument("--out", type=Path, help="the model file to write (.pt)")
        if kind == "style":
            p.add_argument("--data", type=Path, help=f"folder of training photos (default "
                           f"{DEFAULT_PHOTOS.relative_to(ROOT)}; build it with `python -m stylekit photos`)")
            p.add_argument("--content-weight", type=nonneg_float, help=f"default {d.content_weight:g}")
            p.add_argument("--content-layer", help=f"the content loss's layer (default {d.content_layer})")
        training.add_flags(p, preset)
        p.add_argument("--train-size", type=side, help=f"crop side in px (default {d.train_size})")
        p.add_argument("--style-size", type=side, help="style image's longest side (default 2x --train-size)")
        p.add_argument("--width", type=channel_count, help=f"channels of the network's first layer (default {d.width})")
        p.add_argument("--res-blocks", type=block_count, help=f"residual blocks (default {d.res_blocks})")
        p.add_argument("--style-weight", type=nonneg_float, help=f"default {d.style_weight:g}")
        p.add_argument("--tv-weight", type=nonneg_float, help=f"default {d.tv_weight:g}")
        layers = ",".join(f"{n}:{d.style_layer_weights[n]:g}" if n in d.style_layer_weights else n
                          for n in d.style_layers)
        p.add_argument("--style-layers", help=f"the Gram losses' layers, each with an optional :weight "
                                              f"(default {layers})")
        p.add_argument("--style-normalize", action=argparse.BooleanOptionalAction,
                       help=f"each style layer's loss relative to its target (default "
                            f"{'on' if d.style_normalize else 'off'})")
        p.add_argument("--init", type=Path, help="start from this network file (same kind and blocks; a narrower one "
                                                 "is widened to --width), with a fresh optimizer")
        p.add_argument("--weights", help=f"VGG-19 weights: original, torchvision or a state dict path "
                                         f"(default {d.weights})")
        options.add_max_pixels(p)
        p.set_defaults(run=train, preset=preset)


def _shown(path: Path) -> str:
    """A path as the settings record it: relative to the project when inside it."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _check_same_painting(checkpoint: Path, style: Path, sha256: str) -> None:
    """A resumed run aims at the painting its checkpoint was trained toward (by its bytes; by
    its path for checkpoints that predate the hash): another --style would go on training one
    network toward two paintings, with a model file that names the second alone."""
    before = load_checkpoint(checkpoint).get("settings") or {}
    named = Path(str(before.get("style_image", style)))
    same_path = named.resolve() == Path(style).resolve()
    same = before["style_sha256"] == sha256 if "style_sha256" in before else same_path
    if not same:
        toward = f"another version of {style} (its bytes differ)" if same_path else f"{named}, not {style}"
        raise InputError(f"--resume: {checkpoint} was trained toward {toward}: give that painting, or start "
                         f"afresh without --resume")


def train(args) -> int:
    config = training.settings_from(args, args.preset)
    kind = config.kind
    if not args.style or len(args.style) != 1:
        raise InputError(f"train-{'fast' if kind == 'style' else 'texture'} needs one --style image")
    if args.init is not None and args.resume:
        raise InputError("--init starts a new run from a network file and --resume continues one: give one of them")
    training.check_start(args.out, args.resume, [*args.style, *([args.init] if args.init else [])], "model")
    image_size(args.style[0], args.max_pixels)   # a missing or unreadable painting: one line, before its hash
    painting = file_sha256(args.style[0])
    if args.resume:
        _check_same_painting(checkpoint_path(args.out), args.style[0], painting)
    data = (args.data or DEFAULT_PHOTOS) if kind == "style" else None
    photos = image_files(data) if data else []
    training.check_out_outside(args.out, data)
    check_plan(training.outputs(args.out), photos)   # no file of the run is a training photo
    device = options.device_and_precision(args)[0]
    size = config.train_size
    check_side(size, size, "fast" if kind == "style" else "texture", what=f"a --train-size of {size} px")
    style_side = max(1, round(config.style_size or 2 * size))
    deepest = max([*config.style_layers, *([config.content_layer] if kind == "style" else [])], key=min_image_side)
    for flag, side_px in (("--train-size", size), ("--style-size", style_side)):
        if side_px < min_image_side(deepest):
            raise InputError(f"{flag} {side_px} px is too small for the loss network: {deepest} needs "
                             f"at least {min_image_side(deepest)} px")
    style_w, style_h = fit_size(*image_size(args.style[0], args.max_pixels), style_side)
    channels = 3 if kind == "style" else johnson.NOISE_CHANNELS
    params = training.count_parameters(lambda: johnson.TransformerNet(config.width, config.res_blocks, channels))
    training.check_memory("train-fast" if kind == "style" else "train-texture", config, params,
                          TrainSettings.preset(args.preset), style_w * style_h, device)
    if args.init is not None:   # a bad --init is refused before anything starts
        johnson.starting_network(args.init, {"width": config.width, "res_blocks": config.res_blocks,
                                             "in_channels": channels}, kind)
    # Resized as the optimization resizes it (antialiased bilinear from the file): the painting
    # every method aims at is the same picture, and the one bench measures against. Pillow's
    # LANCZOS, used before, gives a painting 0.18-0.30 away in style distance at 512 px.
    full = load_image(args.style[0], None, device, args.max_pixels)
    style = resize_tensor(full, fit_longest(full, style_side))
    if kind == "style":
        dataset = RandomCrops(photos, size, length=ENDLESS, seed=config.seed)
    else:
        dataset = johnson.NoiseSource(size, length=ENDLESS)
    cnn = load_vgg19(config.weights, device)
    record = {"style_image": str(args.style[0]), "style_sha256": painting, "style_size": max(style.shape[-2:]),
              "style_resize": "bilinear, antialiased", "train_size": size, "data": _shown(data) if data else None,
              "seed": config.seed, "vgg_weights": config.weights, "device": str(device),
              "threads": torch.get_num_threads()}
    with only_run_on(args.out), training.step_progress(f"train {kind} {args.out.stem}") as show:
        _, result = johnson.train_network(cnn, style, dataset, config, out=args.out, resume=args.resume,
                                          device=device, record=record, init=args.init, callback=show)
    training.note_skipped(dataset)
    return training.finish(result, args.out, config, "model", lambda: johnson.load_model(args.out)[1])
