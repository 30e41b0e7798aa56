"""Command `video`: stylise a clip, each frame through the engine, with temporal consistency."""
from __future__ import annotations

from pathlib import Path

from stylekit.base.errors import InputError
from stylekit.base.paths import STYLE_DIR
from stylekit.cli import options
from stylekit.cli.common import nonneg_float, positive_float, positive_int
from stylekit.video import stylize as video
from utils import load_vgg19


def register(commands) -> None:
    p = commands.add_parser("video", help="stylise a video (mp4, avi, gif, a folder of frames) into OUT.mp4",
                            description="Stylise a video frame by frame through the engine, with Ruder et al.'s "
                                        "temporal loss. Writes OUT.mp4, OUT.gif, OUT_strip.png and OUT.json.")
    p.add_argument("video", type=Path, metavar="IN", help="the video: mp4, avi, mov, mkv, webm, gif or a folder of frames")
    options.add_styles(p)
    options.add_optimization(p)
    p.add_argument("--temporal-weight", type=nonneg_float,
                   help=f"temporal consistency weight (0: frame by frame; default {video.TEMPORAL_WEIGHT:g})")
    p.add_argument("--later-steps", type=positive_int, help="evaluations for each frame after the first (default 1/5 of --steps)")
    p.add_argument("--fps", type=positive_float, help="frame rate of a folder of frames (default 12) or override the input's")
    p.add_argument("--out", type=Path, help="output .mp4 (default under results/video/)")
    options.add_device(p)
    options.add_max_pixels(p)
    p.set_defaults(run=_run)


def _run(args) -> int:
    args.style = args.style or [STYLE_DIR / "starry_night.jpg"]
    if args.style_blend and len(args.style_blend) != len(args.style):
        raise InputError(f"--style-blend has {len(args.style_blend)} weights for {len(args.style)} style images")
    device, precision = options.device_and_precision(args)
    args.settings = options.settings_from(args, "part3").replace(precision=precision)
    return video.from_cli(args, load_vgg19(args.settings.weights, device), device)
