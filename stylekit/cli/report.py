"""Command `report`: every experiment of the website (results reused when their settings
match), then report/index.html; or one part's experiments on their own (`--ablate --part 1|2`,
`--compare-init --part 3`), into the report's results so that the next build reuses them.

    python -m stylekit report [--quick] [--out DIR]
    python -m stylekit report --ablate --part 1|2 [--content PHOTO | --style PAINTING]
    python -m stylekit report --compare-init [--part 3] [--content PHOTO] [--style PAINTING]

`run.py --report`, `run.py --part 1 --ablate` and `run.py --part 3 --compare-init` come here.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from stylekit.base.device import pick_device
from stylekit.base.errors import InputError
from stylekit.settings.common import DEVICES
from stylekit.base.images import open_image
from stylekit.base.paths import RESULTS
from stylekit.report import experiments, site
from utils import load_vgg19


def register(commands) -> None:
    p = commands.add_parser("report", help="run every experiment and build report/index.html",
                            description="Run every experiment of the report (finished runs whose settings match "
                                        "are reused) and render report/index.html. With --ablate (part 1 or 2) "
                                        "or --compare-init (part 3), run that part's experiments only.")
    p.add_argument("--ablate", action="store_true", help="with --part 1 or 2: the layer ablation and two-noise experiments")
    p.add_argument("--compare-init", action="store_true", help="with --part 3: content- vs noise-initialised transfer")
    p.add_argument("--part", type=int, choices=(1, 2, 3), help="the part of --ablate / --compare-init")
    p.add_argument("--content", type=Path, help="with --ablate / --compare-init: the content photo instead of the report's")
    p.add_argument("--style", type=Path, help="with --ablate / --compare-init: the style image instead of the report's")
    p.add_argument("--quick", action="store_true", help="tiny sizes and few steps (for tests)")
    p.add_argument("--out", type=Path, help="output folder (default report/, or results/quick_site with --quick; "
                                            "the runs go under its results/ with --quick, else in results/report/)")
    p.add_argument("--device", choices=DEVICES, default="auto", help="auto, cpu or cuda")
    p.set_defaults(run=_run)


def _check(args) -> None:
    """The combinations that make sense, as one error line each."""
    if args.ablate and args.compare_init:
        raise InputError("--ablate and --compare-init are separate experiments: pick one")
    if args.ablate and args.part not in (1, 2):
        raise InputError("--ablate goes with --part 1 or --part 2")
    if args.compare_init and args.part not in (None, 3):
        raise InputError("--compare-init goes with --part 3")
    whole = not (args.ablate or args.compare_init)
    if whole and (args.part or args.content or args.style):
        raise InputError("the whole report uses its own images and settings: --part, --content and --style "
                         "go with --ablate or --compare-init")
    if not whole and args.out and not args.quick:
        raise InputError("--ablate and --compare-init keep their runs in results/report/, for the report to reuse: "
                         "--out goes with the whole report or with --quick")
    if args.ablate and args.part == 1 and args.style:
        raise InputError("part 1 reconstructs a photo: --style does not apply")
    if args.ablate and args.part == 2 and args.content:
        raise InputError("part 2 synthesises a texture: --content does not apply")
    for path in (args.content, args.style):
        if path is not None:
            open_image(path)


def _run(args) -> int:
    _check(args)
    whole = not (args.ablate or args.compare_init)
    out = args.out or (RESULTS / "quick_site" if args.quick else site.REPORT_DIR)
    results = site.results_root(out, args.quick)
    if whole:
        site.check_out_dir(out, results)
    else:
        site.check_results(results)
    for flag, path in (("--content", args.content), ("--style", args.style)):
        # the runs and figures are written anywhere in there, under names of the report's own
        inside = next((f for f in (results, out) if path is not None and Path(f).resolve() in Path(path).resolve().parents),
                      None)
        if inside is not None:
            raise InputError(f"{flag} {path} lies in {inside}, where the report writes its runs and figures: "
                             f"give an image from elsewhere")
    device = pick_device(args.device)
    cnn = load_vgg19("original", device)
    start = time.perf_counter()
    try:
        if whole:
            index = site.build(out, quick=args.quick, cnn=cnn, device=device)
            print(f"{index}  ({time.perf_counter() - start:.0f} s, site {site.site_size(out) / 1e6:.1f} MB)")
            return 0
        for e in experiments.for_part(args.part or 3, cnn, device, args.quick, results, args.content, args.style):
            for f in e.figures:
                print(f"{e.title}: {f.path}")
                print(f"  {f.caption}")
        return 0
    except KeyboardInterrupt:
        print(f"interrupted: finished runs are kept under {results} and will be reused", file=sys.stderr)
        return 130
