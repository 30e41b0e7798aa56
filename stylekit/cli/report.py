"""Command `report`: every experiment of the website (results reused when their settings
match), then report/index.html; or one part's experiments (`--ablate`, `--compare-init`)."""
from __future__ import annotations

from pathlib import Path

from stylekit.base.errors import InputError
from stylekit.cli import options
from stylekit.report import site
from utils import load_vgg19


def register(commands) -> None:
    p = commands.add_parser("report", help="run every experiment and build report/index.html",
                            description="Run every experiment of the report (finished runs whose settings match "
                                        "are reused) and render report/index.html. With --ablate (part 1 or 2) "
                                        "or --compare-init (part 3), run that part's experiments only.")
    p.add_argument("--ablate", action="store_true", help="with --part 1 or 2: the layer ablation and two-noise experiments")
    p.add_argument("--compare-init", action="store_true", help="with --part 3: content- vs noise-initialised transfer")
    p.add_argument("--part", type=int, choices=(1, 2, 3), help="the part of --ablate / --compare-init")
    p.add_argument("--content", nargs="+", type=Path, help="with --ablate / --compare-init: the content photo")
    p.add_argument("--style", nargs="+", type=Path, help="with --ablate / --compare-init: the style image")
    p.add_argument("--quick", action="store_true", help="tiny sizes and few steps (for tests)")
    p.add_argument("--out", type=Path, help="output folder (default report/, or results/quick_site with --quick)")
    options.add_device(p)
    p.set_defaults(run=_run)


def _run(args) -> int:
    args.report = not (args.ablate or args.compare_init)
    if args.report and (args.part or args.content or args.style):
        raise InputError("the whole report uses its own images and settings: --part, --content and --style "
                         "go with --ablate or --compare-init")
    args.part = args.part or 3
    device, _ = options.device_and_precision(args)
    return site.from_cli(args, load_vgg19("original", device), device)
