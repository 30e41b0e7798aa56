"""The assignment's command line, and its `run_optimization`.

    python run.py --part 1 --content-layer conv3_1   content reconstruction from noise
    python run.py --part 2 --style-layers conv1_1,conv2_1   texture synthesis from noise
    python run.py --part 3 [--grid]                  style transfer (2x2 sheet with --grid)
    python run.py --inspect                          every layer's name and activation shape

Each part starts from its preset in `stylekit.settings` and takes the flags given on top.
Bad input: one `error: ...` line on stderr, exit code 2, nothing written. Ctrl-C or SIGTERM:
the best image so far is saved (sidecar marked interrupted), exit code 130 (143 for SIGTERM).

The toolkit's modes are commands of `python -m stylekit`; the flags that ran them here before
(`--fast MODEL`, `--adain`, `--video IN`, `--report`, ...) still do, as aliases.
"""
from __future__ import annotations

import contextlib
import sys

if __name__ == "__main__":  # first of all: from here on Ctrl-C or SIGTERM ends quietly
    from stylekit.base.interrupt import exit_now, quiet_start
    quiet_start()

from pathlib import Path

from style_and_content import FeatureExtractor, build_model, content_layers_default, style_layers_default
from stylekit.base.errors import InputError
from stylekit.base.numbers import check_blend_count
from stylekit.base.figures import make_sheet
from stylekit.base.images import fit_size, image_size, open_image
from stylekit.base.files import sidecar_path
from stylekit.base.tensors import tensor_to_pil
from stylekit.base.limits import check_memory, check_side
from stylekit.base.lock import only_run_on
from stylekit.base.paths import RESULTS
from stylekit.base.plan import check_plan
from stylekit.base.progress import Progress
from stylekit.cli import options, transfer_options
from stylekit.cli.common import Parser, positive_int, run_command
from stylekit.optim.engine import Result, optimize
from stylekit.optim.jobs import Job, check_memory_for, run_job
from stylekit.report.inputs import CHENONCEAU as DEFAULT_CONTENT, GRID_CONTENTS, GRID_STYLES, STARRY as DEFAULT_STYLE
from utils import load_image, load_vgg19, save_image


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

def build_parser() -> Parser:
    p = Parser(prog="run.py", description="Neural style transfer (Gatys et al.) with a frozen VGG-19, "
                                          "optimizing pixels with L-BFGS. Runs offline on a CPU. "
                                          "More: python -m stylekit --help")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--part", type=int, choices=(1, 2, 3),
                      help="1: content reconstruction, 2: texture synthesis, 3: style transfer (default)")
    what.add_argument("--inspect", action="store_true", help="print every VGG layer's name and activation shape for --content")
    p.add_argument("--grid", action="store_true", help="part 3: 2 contents x 2 styles sheet, inputs along the edges")
    p.add_argument("--content", nargs="+", type=Path, help="content photo (two with --grid)")
    options.add_styles(p)
    p.add_argument("--mask", type=Path, help="spatial control: white = stylised, black = content; "
                   "with several styles, ascending grey levels pick style 1, 2, ...")
    transfer_options.add_optimization(p)
    options.add_device(p)
    p.add_argument("--out", type=Path, help="output PNG (default under results/)")
    p.add_argument("--save-every", type=positive_int, help="also save the current image every N evaluations")
    options.add_max_pixels(p)
    return p


def settle(args):
    """The part's preset with the given flags on top (`args.settings`), the inputs, and the
    checks of their combinations; raises InputError."""
    args.part = args.part or 3
    args.settings = transfer_options.settings_from(args, f"part{args.part}")
    wants = 2 if args.grid else 1
    if args.grid and args.part != 3:
        raise InputError("--grid goes with --part 3")
    given_styles = len(args.style) if args.style else wants
    check_blend_count(args.style_blend, given_styles)
    if args.inspect:
        refuse_for_inspect(args)
    else:
        styles = 0 if args.part == 1 else 1 if args.grid else len(args.style or [DEFAULT_STYLE])
        where = (f"run.py --part {args.part}" + (" --grid" if args.grid else "")
                 + f" ({PART_NAMES[args.part]})")
        transfer_options.refuse_ignored(args, args.settings, where, content=args.part != 2, styles=styles)
    if args.content is None:
        args.content = GRID_CONTENTS if args.grid else [DEFAULT_CONTENT]
    if args.style is None:
        args.style = GRID_STYLES if args.grid else [DEFAULT_STYLE]
    if len(args.content) != wants:
        raise InputError(f"--content takes {wants} image{'s' if wants > 1 else ''} here, got {len(args.content)}")
    if args.grid and len(args.style) != 2:
        raise InputError(f"--grid takes 2 style images, got {len(args.style)}")
    if args.out is not None and args.out.suffix.lower() != ".png":
        raise InputError(f"--out must end in .png, not {args.out.name!r}")
    return args


PART_NAMES = {1: "content reconstruction", 2: "texture synthesis", 3: "style transfer"}
# What --inspect uses; any other flag given with it is refused.
INSPECT_FLAGS = {"inspect", "content", "size", "device", "precision", "weights", "max_pixels"}


def refuse_for_inspect(args) -> None:
    """Any flag given with --inspect other than INSPECT_FLAGS is an error (it would be ignored)."""
    defaults = vars(build_parser().parse_args([]))
    for name, value in vars(args).items():
        if name in defaults and name not in INSPECT_FLAGS and value != defaults[name] and name != "part":
            flag = "--" + name.replace("_", "-")
            raise InputError(f"{flag} does not apply to run.py --inspect (it prints the layers' shapes, nothing else)")


def default_out(args, content: Path | None, styles: list[Path]) -> Path:
    s = args.settings
    style_tag = "+".join(p.stem for p in styles)
    if args.part == 1:
        name = f"{content.stem}_{'-'.join(s.content_layers)}_{s.init}_seed{s.seed}"
    elif args.part == 2:
        name = f"{style_tag}_{'-'.join(s.style_layers)}_seed{s.seed}"
    else:
        name = f"{content.stem}_{style_tag}_{s.init}"
    return RESULTS / f"part{args.part}" / f"{name}.png"


def make_job(args, content: Path | None, styles: list[Path], out: Path) -> Job:
    return Job(out, args.settings, content, styles, mask=args.mask, max_pixels=args.max_pixels,
               save_every=args.save_every)


def transfer(job: Job, cnn, device, label: str) -> Result:
    """One run with a progress bar over every scale's evaluations and the current losses."""
    with Progress(sum(n for _, n in job.plan), label) as bar:
        def show(info):
            post = None
            if info["step"] == 1 or info["step"] % 5 == 0 or info["step"] == info["steps"]:   # a new scale: its size at once
                post = {"size": info["size"], **{k: f"{v:.3g}" for k, v in info["terms"].items() if k != "total"}}
            bar.update(1, post)
        return run_job(job, cnn, device, callback=show)


def report_result(result: Result, out: Path, args) -> int:
    if result.evals == 0 and result.status in ("interrupted", "nan"):   # `run_job` wrote nothing
        if result.status == "interrupted":
            print("interrupted before the first evaluation: nothing was written", file=sys.stderr)
            return 130
        print(f"error: {result.message} at the first evaluation, so nothing was written. "
              f"{transfer_options.nan_advice(args.settings)}", file=sys.stderr)
        return 1
    f = result.final
    losses = ", ".join(f"{k} {v:.4g}" for k, v in f.items() if k not in ("size",))
    print(f"{out}  ({result.evals} evaluations, {result.seconds:.1f} s; {losses})")
    if result.status == "interrupted":
        print(f"interrupted: the best image so far is in {out}", file=sys.stderr)
        return 130
    if result.status == "nan":
        print(f"error: {result.message} after {result.evals} evaluations; the last finite image is in {out}. "
              f"{transfer_options.nan_advice(args.settings)}", file=sys.stderr)
        return 1
    return 0


def check_inspect(args, device) -> None:
    """Before the network loads: the picture --inspect sends through every layer is large
    enough for pool5, and small enough for the machine."""
    path = args.content[0]
    width, height = fit_size(*image_size(path, args.max_pixels), args.settings.size)
    check_side(width, height, "inspect", f"{path} at --size {args.settings.size}")
    check_memory("inspect", width * height, what=f"--inspect at {width}x{height} px", hint="use a smaller --size",
                 device=device)


def inspect(args, cnn, device) -> int:
    path = args.content[0]
    img = load_image(path, args.settings.size, device, args.max_pixels)
    feats = FeatureExtractor(cnn)(img)
    print(f"{path.name}: input {tuple(img.shape)}")
    for name, f in feats.items():
        print(f"{name:10s} {tuple(f.shape)}")
    return 0


def grid_jobs(args) -> tuple[dict[tuple[int, int], Job], Path]:
    """The grid's cells, (content index, style index) -> Job (one Job for a cell given twice),
    and the sheet's path, after checking every file of every cell and the sheet against the
    inputs and the file system: nothing of a 4-run grid fails after its first runs."""
    out_dir = args.out.parent if args.out else RESULTS / "part3"
    sheet_path = args.out or out_dir / "grid.png"
    jobs, by_out = {}, {}
    for i, c in enumerate(args.content):
        for j, s in enumerate(args.style):
            # named after the sheet: two grids in one folder keep their own cells
            job = make_job(args, c, [s], out_dir / f"{sheet_path.stem}_{c.stem}_{s.stem}.png")
            same = by_out.get(job.out)
            if same is not None and same.recorded() != job.recorded():
                raise InputError(f"two cells of the grid would both be {job.out}: give the images different names")
            jobs[i, j] = by_out.setdefault(job.out, job)
    unique = list(by_out.values())
    check_plan([f for job in unique for f in job.outputs()] + [sheet_path, sidecar_path(sheet_path)],
               [p for job in unique for p in job.read_files()])
    return jobs, sheet_path


def grid(args, cnn, device) -> int:
    jobs, sheet_path = grid_jobs(args)
    rows = [[None] + [open_image(s, args.max_pixels) for s in args.style]]
    done: dict[Path, Result] = {}
    for i, c in enumerate(args.content):
        row = [open_image(c, args.max_pixels)]
        for j, s in enumerate(args.style):
            job = jobs[i, j]
            if job.out not in done:
                done[job.out] = transfer(job, cnn, device, f"{c.stem} x {s.stem}")
                code = report_result(done[job.out], job.out, args)
                if code:
                    return code
            row.append(tensor_to_pil(done[job.out].image))
        rows.append(row)
    # the sheet's own sidecar: one left by an earlier run at this --out must not describe it
    save_image(make_sheet(rows), sheet_path, {"mode": "grid", "contents": [str(c) for c in args.content],
                                              "styles": [str(s) for s in args.style],
                                              "cells": [[str(jobs[i, j].out) for j in range(len(args.style))]
                                                        for i in range(len(args.content))]})
    print(f"grid: {sheet_path}")
    return 0


def parts(argv) -> int:
    args = settle(build_parser().parse_args(argv))
    device, precision = options.device_and_precision(args)
    args.settings = args.settings.replace(precision=precision)
    content = args.content[0] if args.part != 2 else None
    styles = args.style if args.part != 1 else []
    job, writes = None, None
    # Every check that needs no network comes before it loads.
    if args.inspect:
        check_inspect(args, device)
    elif args.grid:
        cells, writes = grid_jobs(args)
        for cell in {id(j): j for j in cells.values()}.values():
            check_memory_for(cell, device)
    else:
        job = make_job(args, content, styles, args.out or default_out(args, content, styles))
        check_plan(job.outputs(), job.read_files())
        check_memory_for(job, device)
        writes = job.out
    # One run per output at a time: two took turns at the files, one's plot beside the other's picture.
    with only_run_on(writes, "run") if writes else contextlib.nullcontext():
        cnn = load_vgg19(args.settings.weights, device)
        if args.inspect:
            return inspect(args, cnn, device)
        if args.grid:
            return grid(args, cnn, device)
        result = transfer(job, cnn, device, {1: "reconstruct", 2: "texture", 3: "transfer"}[args.part])
        return report_result(result, job.out, args)


# The flags by which run.py ran the toolkit's modes, and the `python -m stylekit` command each
# now is; the flag's value (a model, a decoder, a video) becomes the command's first argument.
TOOLKIT_FLAGS = {"--fast": "fast", "--fast-texture": "texture", "--adain": "adain", "--video": "video",
                 "--train-fast": "train-fast", "--train-texture": "train-texture", "--report": "report",
                 "--ablate": "report", "--compare-init": "report"}


def toolkit_argv(argv: list[str]) -> list[str] | None:
    """`run.py --fast M --content C` -> ['fast', 'M', '--content', 'C']; None for the parts."""
    for i, arg in enumerate(argv):
        flag, eq, value = arg.partition("=")
        if flag not in TOOLKIT_FLAGS:
            continue
        command, rest = TOOLKIT_FLAGS[flag], argv[:i] + argv[i + 1:]
        if flag in ("--ablate", "--compare-init"):
            return [command, flag, *rest]
        if flag in ("--fast", "--fast-texture", "--video"):
            if not eq:
                if i + 1 >= len(argv):
                    raise InputError(f"{flag} needs a value")
                value, rest = argv[i + 1], argv[:i] + argv[i + 2:]
            return [command, value, *rest]
        if flag == "--adain":
            if not eq and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                value, rest = argv[i + 1], argv[:i] + argv[i + 2:]
            method = [] if any(a.partition("=")[0] == "--method" for a in rest) else ["--method", "adain"]
            return [command, *method, *(["--decoder", value] if value else []), *rest]
        return [command, *rest]
    return None


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)

    def command() -> int:
        toolkit = toolkit_argv(argv)
        if toolkit is not None:
            from stylekit.cli.main import build_parser as toolkit_parser
            args = toolkit_parser(toolkit).parse_args(toolkit)
            return args.run(args)
        return parts(argv)
    return run_command(command)


if __name__ == "__main__":
    exit_now(main())  # no interpreter teardown: a stopped run ends as soon as its work is saved
