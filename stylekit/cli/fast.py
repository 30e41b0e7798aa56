"""Commands for the trained feed-forward networks (`nets.johnson`): `fast` stylises photos with
a style network, `texture` makes a texture from a texture network, `train-fast` and
`train-texture` train them. run.py's --fast, --fast-texture, --train-fast and --train-texture
are these commands."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from stylekit.base.errors import InputError
from stylekit.base.files import sidecar_path
from stylekit.base.images import fit_size, image_size
from stylekit.base.limits import check_memory, check_side
from stylekit.base.paths import RESULTS, ROOT
from stylekit.base.plan import check_plan
from stylekit.cli import options, training
from stylekit.cli.common import block_count, channel_count, nonneg_float, side, seed
from stylekit.nets import johnson
from stylekit.nets.crops import RandomCrops, image_files
from stylekit.nets.photos import DEFAULT_PHOTOS
from stylekit.nets.training import ENDLESS
from stylekit.settings import TrainSettings
from utils import load_image, load_vgg19, min_image_side, save_image

FAST_RESULTS = RESULTS / "fast"
TEXTURE_SIZE = 512


def register(commands) -> None:
    p = commands.add_parser("fast", help="stylise photos in one pass with a trained style network",
                            description="Stylise --content (images or a folder) in one pass with a trained network.")
    p.add_argument("model", type=Path, metavar="MODEL", help="a style network (.pt), e.g. models/starry_night.pt")
    p.add_argument("--content", nargs="+", type=Path, help="photo(s) or a folder of photos")
    p.add_argument("--size", type=side, help="longest side of the output in px (default: the photo's)")
    p.add_argument("--out", type=Path, help="output PNG, or a folder with several photos (default under results/fast/)")
    options.add_device(p)
    options.add_max_pixels(p)
    p.set_defaults(run=fast)

    p = commands.add_parser("texture", help="a new texture from a trained texture network, one per seed",
                            description="A --size px texture from a texture network, one per --seed.")
    p.add_argument("model", type=Path, metavar="MODEL", help="a texture network (.pt)")
    p.add_argument("--size", type=side, help=f"side of the square texture in px (default {TEXTURE_SIZE})")
    p.add_argument("--seed", type=seed, default=0, help="seed of the input noise, 0 to 2**64-1 (default 0)")
    p.add_argument("--out", type=Path, help="output PNG (default under results/fast/)")
    options.add_device(p)
    p.set_defaults(run=texture)

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
        training.add_flags(p, preset)
        p.add_argument("--train-size", type=side, help=f"crop side in px (default {d.train_size})")
        p.add_argument("--style-size", type=side, help="style image's longest side (default 2x --train-size)")
        p.add_argument("--width", type=channel_count, help=f"channels of the network's first layer (default {d.width})")
        p.add_argument("--res-blocks", type=block_count, help=f"residual blocks (default {d.res_blocks})")
        p.add_argument("--style-weight", type=nonneg_float, help=f"default {d.style_weight:g}")
        p.add_argument("--tv-weight", type=nonneg_float, help=f"default {d.tv_weight:g}")
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


def train(args) -> int:
    config = training.settings_from(args, args.preset)
    kind = config.kind
    if not args.style or len(args.style) != 1:
        raise InputError(f"train-{'fast' if kind == 'style' else 'texture'} needs one --style image")
    training.check_start(args.out, args.resume, args.style, "model")
    data = (args.data or DEFAULT_PHOTOS) if kind == "style" else None
    photos = image_files(data) if data else []
    check_plan(training.outputs(args.out), photos)   # no file of the run is a training photo
    device = options.device_and_precision(args)[0]
    size = config.train_size
    check_side(size, size, "fast" if kind == "style" else "texture", what=f"a --train-size of {size} px")
    style_side = max(1, round(config.style_size or 2 * size))
    deepest = max(johnson.STYLE_LAYERS + johnson.CONTENT_LAYERS, key=min_image_side)
    for flag, side_px in (("--train-size", size), ("--style-size", style_side)):
        if side_px < min_image_side(deepest):
            raise InputError(f"{flag} {side_px} px is too small for the loss network: {deepest} needs "
                             f"at least {min_image_side(deepest)} px")
    style_w, style_h = fit_size(*image_size(args.style[0], args.max_pixels), style_side)
    channels = 3 if kind == "style" else johnson.NOISE_CHANNELS
    params = training.count_parameters(lambda: johnson.TransformerNet(config.width, config.res_blocks, channels))
    training.check_memory("train-fast" if kind == "style" else "train-texture", config, params,
                          TrainSettings.preset(args.preset), style_w * style_h, device)
    style = load_image(args.style[0], style_side, device, args.max_pixels)
    if kind == "style":
        dataset = RandomCrops(photos, size, length=ENDLESS, seed=config.seed)
    else:
        dataset = johnson.NoiseSource(size, length=ENDLESS)
    cnn = load_vgg19(config.weights, device)
    record = {"style_image": str(args.style[0]), "style_size": max(style.shape[-2:]), "train_size": size,
              "data": _shown(data) if data else None, "seed": config.seed, "vgg_weights": config.weights,
              "device": str(device), "threads": torch.get_num_threads()}
    with training.step_progress(f"train {kind} {args.out.stem}") as show:
        _, result = johnson.train_network(cnn, style, dataset, config, out=args.out, resume=args.resume,
                                          device=device, record=record, callback=show)
    training.note_skipped(dataset)
    return training.finish(result, args.out, config, "model", lambda: johnson.load_model(args.out)[1])


def _inputs(paths: list[Path]) -> tuple[list[Path], bool]:
    """The content files, and whether the user gave a folder or several files."""
    files = []
    for p in paths:
        files += image_files(p) if p.is_dir() else [p]
    return files, len(paths) > 1 or any(p.is_dir() for p in paths)


def fast(args) -> int:
    device, precision = options.device_and_precision(args)
    if not args.content:
        raise InputError("--fast needs --content (an image, several, or a folder)")
    files, many = _inputs(args.content)
    if many and args.out is not None and args.out.suffix:
        raise InputError("with a folder or several images, --out is a folder")
    if not many and args.out is not None and args.out.suffix.lower() != ".png":
        raise InputError(f"--out must end in .png, not {args.out.name!r}")
    model = Path(args.model).stem
    if many:
        outs = [(path, (args.out or FAST_RESULTS / model) / f"{path.stem}.png") for path in files]
    else:
        outs = [(files[0], args.out or FAST_RESULTS / f"{files[0].stem}_{model}.png")]
    # The whole batch's files, before any photo: none overwrites a photo or the model, no two collide.
    check_plan([f for _, out in outs for f in (out, sidecar_path(out))], [*files, args.model])
    net, settings = johnson.load_model(args.model, device, kind="style")
    failed = 0
    for path, out in outs:
        try:
            width, height = fit_size(*image_size(path, args.max_pixels), args.size)
            shown = f"{path} at --size {args.size}" if args.size else str(path)
            check_side(width, height, "fast", shown)
            check_memory("fast", width * height, what=f"the style network at {width}x{height} px ({path})",
                         hint="use a smaller --size", device=device)
            content = load_image(path, args.size, device, args.max_pixels)
            start = time.perf_counter()
            img = johnson.stylize(net, content, precision)
            seconds = time.perf_counter() - start
            save_image(img, out, {"mode": "feedforward", "model": str(args.model), "content": str(path),
                                  "size": list(img.shape[-2:]), "precision": precision,
                                  "seconds": seconds, "device": str(device), "training": settings})
            print(f"{out}  ({img.shape[-1]}x{img.shape[-2]}, {seconds:.2f} s)")
        except InputError as exc:
            if not many:
                raise
            print(f"error: {path}: {exc}", file=sys.stderr)
            failed += 1
    return 2 if failed else 0


def texture(args) -> int:
    device, precision = options.device_and_precision(args)
    size = args.size or TEXTURE_SIZE
    check_side(size, size, "texture", f"a texture of --size {size}")
    check_memory("texture", size * size, what=f"a {size}x{size} px texture", hint="use a smaller --size",
                 device=device)
    out = args.out or FAST_RESULTS / f"{Path(args.model).stem}_seed{args.seed}.png"
    if out.suffix.lower() != ".png":
        raise InputError(f"--out must end in .png, not {out.name!r}")
    check_plan([out, sidecar_path(out)], [args.model])
    net, settings = johnson.load_model(args.model, device, kind="texture")
    start = time.perf_counter()
    img = johnson.texture(net, size, size, args.seed, precision)
    seconds = time.perf_counter() - start
    save_image(img, out, {"mode": "texture-network", "model": str(args.model), "seed": args.seed,
                          "size": [size, size], "precision": precision, "seconds": seconds,
                          "device": str(device), "training": settings})
    print(f"{out}  ({size}x{size}, seed {args.seed}, {seconds:.2f} s)")
    return 0
