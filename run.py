"""Neural style transfer from the command line, and the assignment's `run_optimization`.

    python run.py --part 1 --content-layer conv3_1   content reconstruction from noise
    python run.py --part 2 --style-layers conv1_1,conv2_1   texture synthesis from noise
    python run.py --part 3 [--grid]                  style transfer (2x2 sheet with --grid)
    python run.py --inspect                          every layer's name and activation shape

Bad input: one `error: ...` line on stderr, exit code 2. Ctrl-C: the best image so far is
saved (sidecar marked interrupted), exit code 130.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path


from stylekit.optim.engine import HIST_LAYERS_DEFAULT, OPTIMIZERS, Result, optimize
from stylekit.base.device import resolve_precision
from stylekit.optim.jobs import Job, check_out, run_job
from style_and_content import (FeatureExtractor, build_model, content_layers_default,
                               resolve_layers, split_layer_weights, style_layers_default)
from stylekit.base.paths import CONTENT_DIR, ROOT, STYLE_DIR
from stylekit.base.images import DEFAULT_MAX_PIXELS, open_image, tensor_to_pil
from stylekit.base.errors import InputError
from utils import load_image, load_vgg19, save_image
from stylekit.base.figures import make_sheet
from stylekit.base.device import pick_device

DEFAULT_CONTENT = CONTENT_DIR / "chenonceau.jpg"
DEFAULT_STYLE = STYLE_DIR / "starry_night.jpg"
GRID_CONTENTS = [CONTENT_DIR / "chenonceau.jpg", CONTENT_DIR / "chelsea.jpg"]
GRID_STYLES = [STYLE_DIR / "starry_night.jpg", STYLE_DIR / "great_wave.jpg"]
RESULTS = ROOT / "results"
# The style layers of transfer (part 3): the rectified outputs, as in Gatys et al.'s Caffe model,
# where the ReLUs work in place and "conv1_1" names the rectified activations. relu5_1 counts a
# tenth: counted fully (relative losses), its 1/16-scale statistics copy a structured painting's
# composition over the photo (the Great Wave replaced the cat of chelsea.jpg); left out, they
# stay far from the painting's (BENCHMARKS.md).
TRANSFER_STYLE_LAYERS = "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1:0.1"


def run_optimization(cnn, content_img, style_img, input_img, use_content=True, use_style=True,
                     num_steps=300, style_weight=1000000, content_weight=1, *,
                     content_layers=content_layers_default, style_layers=style_layers_default,
                     tv_weight=0.0, optimizer="lbfgs", lr=None, precision="fp32", callback=None):
    """Reconstruct content (use_style=False), synthesise texture (use_content=False) or
    transfer style, by optimizing the pixels of `input_img` (not modified) with L-BFGS.

    Returns the optimized image, same shape as `input_img`, values in [0, 1].
    """
    model, losses = build_model(cnn, content_img if use_content else None,
                                style_img if use_style else None,
                                content_layers=content_layers if use_content else [],
                                style_layers=style_layers if use_style else [],
                                tv=tv_weight != 0)
    weights = {"content": content_weight, "style": style_weight, "tv": tv_weight}
    result = optimize(model, losses, weights, input_img, num_steps, optimizer=optimizer, lr=lr,
                      precision=precision, callback=callback)
    return result.image


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------

class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise InputError(message)


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def nonneg_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (value >= 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, not {text}")
    return value


def positive_float(text):
    value = nonneg_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def float_list(text):
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}") from None
    if not values or not all(math.isfinite(v) and v >= 0 for v in values) or sum(values) <= 0:
        raise argparse.ArgumentTypeError(f"need non-negative numbers with a positive sum: {text!r}")
    return values


def build_parser() -> Parser:
    p = Parser(description="Neural style transfer (Gatys et al.) with a frozen VGG-19, "
                           "optimizing pixels with L-BFGS. Runs offline on a CPU.")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--part", type=int, choices=(1, 2, 3),
                      help="1: content reconstruction, 2: texture synthesis, 3: style transfer")
    what.add_argument("--inspect", action="store_true", help="print every VGG layer's name and activation shape for --content")
    what.add_argument("--report", action="store_true", help="run every experiment (results reused when settings match) and build report/index.html")
    what.add_argument("--video", type=Path, metavar="IN", help="stylise a video (mp4, avi, gif, a folder of frames) into --out OUT.mp4")
    what.add_argument("--train-fast", action="store_true", help="train a feed-forward style network for --style into --out MODEL.pt")
    what.add_argument("--train-texture", action="store_true", help="train a texture network (noise -> texture) for --style into --out MODEL.pt")
    what.add_argument("--fast", type=Path, metavar="MODEL", help="stylise --content (images or a folder) in one pass with a trained network")
    what.add_argument("--fast-texture", type=Path, metavar="MODEL", help="a --size px texture from a texture network, one per --seed")
    what.add_argument("--adain", nargs="?", type=Path, const=Path("models/adain_decoder.pt"), metavar="DECODER",
                      help="arbitrary style in one pass (AdaIN) with a trained decoder (default models/adain_decoder.pt)")
    p.add_argument("--alpha", type=float, help="with --adain: content-style trade-off, 0 (photo) to 1 (full style; default)")
    p.add_argument("--temporal-weight", type=nonneg_float, help="with --video: temporal consistency weight (0: frame by frame; default 1e3)")
    p.add_argument("--later-steps", type=positive_int, help="with --video: evaluations for each frame after the first (default 1/5 of --steps)")
    p.add_argument("--fps", type=positive_float, help="with --video: frame rate of a folder of frames (default 12) or override the input's")
    p.add_argument("--data", type=Path, help="with --train-fast: folder of training photos (default data/photos; "
                   "build it with `python -m training_data`)")
    p.add_argument("--batch", type=positive_int, help="with --train-*: images per step (default 4)")
    p.add_argument("--train-size", type=positive_int, help="with --train-*: crop side in px (default 128)")
    p.add_argument("--style-size", type=positive_int, help="with --train-*: style image's longest side (default 2x --train-size)")
    p.add_argument("--width", type=positive_int, help="with --train-*: channels of the network's first layer (default 16)")
    p.add_argument("--res-blocks", type=positive_int, help="with --train-*: residual blocks (default 5)")
    p.add_argument("--resume", action="store_true", help="with --train-*: continue from the checkpoint beside --out")
    p.add_argument("--ablate", action="store_true", help="with --part 1 or 2: the report's layer ablation and two-noise experiments")
    p.add_argument("--compare-init", action="store_true", help="with --part 3: content-initialised vs noise-initialised transfer, loss curves and times")
    p.add_argument("--grid", action="store_true", help="part 3: 2 contents x 2 styles sheet, inputs along the edges")
    p.add_argument("--content", nargs="+", type=Path, help="content photo (two with --grid)")
    p.add_argument("--style", nargs="+", type=Path, help="style image(s); several are blended (two with --grid)")
    p.add_argument("--style-blend", type=float_list, help="blend weights of several styles, e.g. 0.7,0.3")
    p.add_argument("--style-scale", type=positive_float,
                   help="style image size relative to the output (default 1; with --adain 0.5)")
    p.add_argument("--size", type=positive_int, help="longest side of the output in px (default 256; "
                   "--fast: the input's; --fast-texture: 512)")
    p.add_argument("--steps", type=positive_int, help="loss evaluations at the coarsest scale (default 200 in part 3, 300 in parts 1 and 2)")
    p.add_argument("--init", choices=("content", "noise"), help="start from the content image or white noise")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise image (default 0)")
    p.add_argument("--content-weight", type=nonneg_float, help="default 1 (0 in part 2)")
    p.add_argument("--style-weight", type=nonneg_float,
                   help="default 1e3 in part 3 (relative style losses), 1e6 in part 2, 0 in part 1")
    p.add_argument("--style-normalize", action=argparse.BooleanOptionalAction,
                   help="each style layer's loss relative to its target's size (default: on in part 3)")
    p.add_argument("--tv-weight", type=nonneg_float, default=0.0, help="total variation weight (default 0)")
    p.add_argument("--hist-weight", type=nonneg_float, default=0.0,
                   help="histogram loss weight (Risser et al.; 0 = off, try 1e3)")
    p.add_argument("--hist-layers",
                   help=f"layers of the histogram loss (default {','.join(HIST_LAYERS_DEFAULT)})")
    p.add_argument("--preserve-color", choices=("luminance", "histogram"),
                   help="keep the photo's colours: transfer luminance only, or match the style's colours first")
    p.add_argument("--mask", type=Path, help="spatial control: white = stylised, black = content; "
                   "with several styles, ascending grey levels pick style 1, 2, ...")
    p.add_argument("--content-layer", "--content-layers", dest="content_layers",
                   help=f"comma-separated (default {','.join(content_layers_default)})")
    p.add_argument("--style-layers", help=f"comma-separated, each with an optional :weight, e.g. relu5_1:0.5 "
                   f"(default {','.join(style_layers_default)}; part 3: {TRANSFER_STYLE_LAYERS})")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="lbfgs")
    p.add_argument("--lr", type=positive_float, help="step size (L-BFGS default 1, Adam default 0.02)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="auto: bf16 autocast where the hardware supports it")
    p.add_argument("--multiscale", choices=("auto", "on", "off"), default="auto",
                   help="coarse-to-fine from 128 px (auto: above 256 px)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--weights", default="original", help="VGG-19 weights: original, torchvision or a state dict path")
    p.add_argument("--out", type=Path, help="output PNG, or mp4 with --video (default under results/)")
    p.add_argument("--save-every", type=positive_int, help="also save the current image every N evaluations")
    p.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS,
                   help=f"refuse input images with more pixels (default {DEFAULT_MAX_PIXELS:,})")
    return p


PART_DEFAULTS = {
    1: dict(init="noise", content_weight=1.0, style_weight=0.0, style_normalize=False, steps=300),
    2: dict(init="noise", content_weight=0.0, style_weight=1e6, style_normalize=False, steps=300),
    # Parts 1 and 2 keep the assignment's settings. For transfer, every style layer's loss is
    # relative to its target, so each counts alike, and 200 evaluations do as well as 300
    # (BENCHMARKS.md).
    3: dict(init="content", content_weight=1.0, style_weight=1e3, style_normalize=True, steps=200,
            style_layers=TRANSFER_STYLE_LAYERS),
}


def settle(args) -> argparse.Namespace:
    """Fill part-specific defaults and check combinations; raises InputError."""
    part = args.part or 3
    for key, value in PART_DEFAULTS[part].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.part = part
    args.size = args.size or 256
    args.style_scale = args.style_scale or 1.0
    args.content_layers = resolve_layers(content_layers_default if args.content_layers is None else args.content_layers)
    args.style_layers, args.style_layer_weights = split_layer_weights(
        style_layers_default if args.style_layers is None else args.style_layers)
    args.hist_layers = resolve_layers(HIST_LAYERS_DEFAULT if args.hist_layers is None else args.hist_layers)
    for flag, layers in (("--content-layer", args.content_layers), ("--style-layers", args.style_layers),
                         ("--hist-layers", args.hist_layers)):
        if not layers:
            raise InputError(f"{flag}: no layer names given")
    wants = 2 if args.grid else 1
    if args.grid and part != 3:
        raise InputError("--grid goes with --part 3")
    if args.content is None:
        args.content = GRID_CONTENTS if args.grid else [DEFAULT_CONTENT]
    if args.style is None:
        args.style = GRID_STYLES if args.grid else [DEFAULT_STYLE]
    if len(args.content) != wants:
        raise InputError(f"--content takes {wants} image{'s' if wants > 1 else ''} here, got {len(args.content)}")
    if args.grid and len(args.style) != 2:
        raise InputError(f"--grid takes 2 style images, got {len(args.style)}")
    if args.style_blend and len(args.style_blend) != len(args.style):
        raise InputError(f"--style-blend has {len(args.style_blend)} weights for {len(args.style)} style images")
    if args.style_blend:
        total = sum(args.style_blend)
        args.style_blend = [w / total for w in args.style_blend]
    if args.out is not None and args.out.suffix.lower() != ".png" and not args.video:
        raise InputError(f"--out must end in .png, not {args.out.name!r}")
    return args


def default_out(args, content: Path | None, styles: list[Path]) -> Path:
    style_tag = "+".join(s.stem for s in styles)
    if args.part == 1:
        name = f"{content.stem}_{'-'.join(args.content_layers)}_{args.init}_seed{args.seed}"
    elif args.part == 2:
        name = f"{style_tag}_{'-'.join(args.style_layers)}_seed{args.seed}"
    else:
        name = f"{content.stem}_{style_tag}_{args.init}"
    return RESULTS / f"part{args.part}" / f"{name}.png"


def make_job(args, content: Path | None, styles: list[Path], out: Path) -> Job:
    fields = {f for f in Job.__dataclass_fields__} - {"out", "content", "styles"}
    return Job(out=out, content=content, styles=styles, **{k: getattr(args, k) for k in fields})


class ProgressBar:
    """tqdm over every scale's evaluations, with the current weighted losses."""

    def __init__(self, job: Job, label: str):
        self.total, self.label, self.bar = sum(n for _, n in job.plan), label, None
        self.save_every, self.out, self.count, self.last_scale = job.save_every, job.out, 0, None

    def __call__(self, info: dict) -> None:
        if self.bar is None:  # opened on the first evaluation: input errors print alone
            from tqdm import tqdm
            self.bar = tqdm(total=self.total, desc=self.label, unit="eval", dynamic_ncols=True, file=sys.stderr)
        self.count += 1
        self.bar.update(1)
        if info["step"] % 5 == 0 or info["step"] == info["steps"]:
            terms = {k: f"{v:.3g}" for k, v in info["terms"].items() if k != "total"}
            self.bar.set_postfix(size=info["size"], **terms, refresh=False)
        if self.save_every:
            new_scale = info["scale"] != self.last_scale
            if self.count % self.save_every == 0 or (new_scale and self.count > 1):
                snap = self.out.with_name(f"{self.out.stem}_step{self.count:04d}.png")
                save_image(info["image"].clamp(0, 1), snap)
        self.last_scale = info["scale"]

    def close(self):
        if self.bar is not None:
            self.bar.close()


def transfer(job: Job, cnn, device, label: str) -> Result:
    bar = ProgressBar(job, label)
    try:
        return run_job(job, cnn, device, callback=bar)
    finally:
        bar.close()


def report_result(result: Result, out: Path, args) -> int:
    f = result.final
    losses = ", ".join(f"{k} {v:.4g}" for k, v in f.items() if k not in ("size",))
    print(f"{out}  ({result.evals} evaluations, {result.seconds:.1f} s; {losses})")
    if result.status == "interrupted":
        print(f"interrupted: the best image so far is in {out}", file=sys.stderr)
        return 130
    if result.status == "nan":
        print(f"error: {result.message} after {result.evals} evaluations; the last finite image is in {out}. "
              f"Lower --style-weight (now {args.style_weight:g}) or --lr", file=sys.stderr)
        return 1
    return 0


def inspect(args, cnn, device) -> int:
    path = (args.content or [DEFAULT_CONTENT])[0]
    img = load_image(path, args.size, device, args.max_pixels)
    feats = FeatureExtractor(cnn)(img)
    print(f"{path.name}: input {tuple(img.shape)}")
    for name, f in feats.items():
        print(f"{name:10s} {tuple(f.shape)}")
    return 0


def grid(args, cnn, device) -> int:
    out_dir = (args.out.parent if args.out else RESULTS / "part3")
    sheet_path = args.out or out_dir / "grid.png"
    rows = [[None] + [open_image(s, args.max_pixels) for s in args.style]]
    code = 0
    for c in args.content:
        row = [open_image(c, args.max_pixels)]
        for s in args.style:
            out = out_dir / f"grid_{c.stem}_{s.stem}.png"
            result = transfer(make_job(args, c, [s], out), cnn, device, f"{c.stem} x {s.stem}")
            code = report_result(result, out, args)
            if code:
                return code
            row.append(tensor_to_pil(result.image))
        rows.append(row)
    check_out(sheet_path, [*args.content, *args.style])
    save_image(make_sheet(rows), sheet_path)
    print(f"grid: {sheet_path}")
    return code


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        device = pick_device(args.device)
        args.precision = resolve_precision(args.precision, device)
        if args.train_fast or args.train_texture or args.fast or args.fast_texture:
            from stylekit.nets import feedforward
            return feedforward.from_cli(args, device)
        if args.adain:
            from stylekit.nets import adain
            return adain.from_cli(args, device)
        args = settle(args)
        cnn = load_vgg19(args.weights, device)
        if args.video:
            from stylekit.video import stylize as video
            return video.from_cli(args, cnn, device)
        if args.report or args.ablate or args.compare_init:
            from stylekit.report import site as report_site
            return report_site.from_cli(args, cnn, device)
        if args.inspect:
            return inspect(args, cnn, device)
        if args.grid:
            return grid(args, cnn, device)
        content = args.content[0] if args.part != 2 else None
        styles = args.style if args.part != 1 else []
        out = args.out or default_out(args, content, styles)
        result = transfer(make_job(args, content, styles, out), cnn, device,
                          {1: "reconstruct", 2: "texture", 3: "transfer"}[args.part])
        return report_result(result, out, args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted before optimization started; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
