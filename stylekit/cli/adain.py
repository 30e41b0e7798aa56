"""Commands for arbitrary style in one pass: `adain`."""
from __future__ import annotations

from pathlib import Path

from stylekit.cli import options
from stylekit.cli.common import positive_int
from stylekit.nets import adain


def register(commands) -> None:
    p = commands.add_parser("adain", help="any painting in one pass (AdaIN) with a trained decoder",
                            description="Arbitrary style in one pass (AdaIN) with a trained decoder.")
    p.add_argument("--decoder", type=Path, default=adain.DEFAULT_DECODER,
                   help="the decoder (default models/adain_decoder.pt)")
    p.add_argument("--content", nargs="+", type=Path, help="the photo")
    options.add_styles(p, style_scale_default=f"{adain.STYLE_SCALE:g}")
    p.add_argument("--alpha", type=float, help="content-style trade-off, 0 (photo) to 1 (full style; default)")
    p.add_argument("--mask", type=Path, help="regions, one style each (grey levels in ascending order)")
    p.add_argument("--preserve-color", choices=("luminance", "histogram"), help="keep the photo's colours")
    p.add_argument("--size", type=positive_int, help=f"longest side of the output in px (default {adain.DEFAULT_SIZE})")
    p.add_argument("--out", type=Path, help="output PNG (default under results/adain/)")
    options.add_device(p)
    options.add_max_pixels(p)
    p.set_defaults(run=_run)


def _run(args) -> int:
    args.adain = args.decoder
    device, _ = options.device_and_precision(args)
    return adain.from_cli(args, device)
