"""Commands `video` (stylise a clip, each frame through the engine, with temporal consistency),
`video-demo` (the bundled demo clip) and `video-sheet` (frames of several clips in one still).

`python -m video --make-demo PATH | --sheet OUT.png VIDEO...`, the form the last two had
before, is translated onto them by `legacy_argv`.
"""
from __future__ import annotations

import platform
import sys
from dataclasses import asdict
from pathlib import Path

import torch
from PIL import Image

from stylekit.base.errors import InputError
from stylekit.base import interrupt
from stylekit.base.files import sidecar_path, write_json
from stylekit.base.images import fit_size, image_size
from stylekit.base.limits import check_memory, check_side, scaled_style_side
from stylekit.base.numbers import FPS_RANGE, check_blend_count
from stylekit.base.plan import check_plan
from stylekit.base.paths import RESULTS, STYLE_DIR
from stylekit.base.progress import Progress
from stylekit.cli import options, transfer_options
from stylekit.cli.common import Parser, fps, nonneg_float, positive_int, side
from stylekit.video.flow import clip_motion
from stylekit.video.io import (DEMO_PHOTO, FOLDER_FPS, FRAME_BYTES_PER_PIXEL, FRAME_SUFFIXES, Clip, make_demo,
                               read_video, sheet, strip, write_gif, write_mp4)
from stylekit.video.stylize import LATER_STEPS_FRACTION, TEMPORAL_WEIGHT, default_later_steps, stylize_video, summary
from utils import load_image, load_vgg19, save_image


def register(commands) -> None:
    p = commands.add_parser("video", help="stylise a video (mp4, avi, gif, a folder of frames) into OUT.mp4",
                            description="Stylise a video frame by frame through the engine, with Ruder et al.'s "
                                        "temporal loss. Writes OUT.mp4, OUT.gif, OUT_strip.png and OUT.json.")
    p.add_argument("video", type=Path, metavar="IN", help="the video: mp4, avi, mov, mkv, webm, gif or a folder of frames")
    options.add_styles(p)
    transfer_options.add_optimization(p)
    p.add_argument("--temporal-weight", type=nonneg_float,
                   help=f"temporal consistency weight (0: frame by frame; default {TEMPORAL_WEIGHT:g})")
    p.add_argument("--later-steps", type=positive_int, help="evaluations for each frame after the first "
                   f"(default {LATER_STEPS_FRACTION * 100:.0f}%% of --steps)")
    p.add_argument("--fps", type=fps,
                   help=f"frame rate of a folder of frames (default {FOLDER_FPS:g}) or override the input's")
    p.add_argument("--out", type=Path, help="output .mp4 (default under results/video/)")
    options.add_device(p)
    options.add_max_pixels(p)
    p.set_defaults(run=_run)

    p = commands.add_parser("video-demo", help="write the pan-and-zoom demo clip (mp4)",
                            description="Write the demo clip: a slow pan and zoom across the Chenonceau photo.")
    p.add_argument("out", type=Path, metavar="PATH", help="the clip to write (.mp4)")
    p.set_defaults(run=_run_demo)

    p = commands.add_parser("video-sheet", help="a still: a strip of frames from each video, one under the other",
                            description="OUT.png: evenly spaced frames of each VIDEO side by side, one row per video.")
    p.add_argument("out", type=Path, metavar="OUT.png", help="the still to write (.png or .jpg)")
    p.add_argument("videos", type=Path, nargs="+", metavar="VIDEO", help="the videos, top to bottom")
    p.add_argument("--size", type=side, help="longest side of the frames (default: as they are)")
    p.set_defaults(run=_run_sheet)


def _run(args) -> int:
    """`video IN --style S --out OUT.mp4`: OUT.mp4, OUT.gif, OUT_strip.png, OUT.json."""
    args.style = args.style or [STYLE_DIR / "starry_night.jpg"]
    check_blend_count(args.style_blend, len(args.style))
    device, precision = options.device_and_precision(args)
    s = transfer_options.settings_from(args, "part3").replace(precision=precision)
    if args.temporal_weight is None:
        args.temporal_weight = TEMPORAL_WEIGHT
    if s.preserve_color == "luminance":
        raise InputError("--preserve-color luminance does not apply to --video (histogram does)")
    if s.content_weight == 0 or s.style_weight == 0:
        raise InputError("--video does style transfer: it needs a content and a style weight above 0")
    transfer_options.refuse_ignored(args, s, "`python -m stylekit video` (style transfer, frame after frame)",
                           content=True, styles=len(args.style))
    out, gif, still = _check_outputs(args)
    # Read the clip before loading the network, so that a bad video is reported at once.
    def check(width: int, height: int, count: int, fps: float | None) -> None:
        if fps is not None:   # as the header gives it: a clip refused for its rate is not decoded first
            _check_fps(fps, args)
        _check_frames(width, height, count, s, args, device)
    clip = read_video(args.video, fps=args.fps, max_pixels=args.max_pixels, size=s.size, check=check)
    if clip.fps is None:
        raise InputError(f"{args.video} does not tell its frame rate in a form that can be read: pass --fps")
    _check_fps(clip.fps, args)
    frames = clip.frames
    styles = [load_image(p, scaled_style_side(s.size, s.style_scale), device, args.max_pixels)
              for p in args.style]
    cnn = load_vgg19(s.weights, device)
    later = args.later_steps or default_later_steps(s.steps)
    motion = clip_motion(frames)
    with Progress(s.steps + later * (len(frames) - 1), "video") as bar:
        def report(info):
            ends = info["step"] in (1, info["steps"])   # the frame number changes at most there
            bar.update(1, {"frame": f"{info['frame']}/{info['frames']}"} if ends else None)
        result = stylize_video(cnn, frames, styles, s, later_steps=later,
                               temporal_weight=args.temporal_weight, motion=motion, callback=report)
    if not result.frames:
        print("interrupted before the first frame was done; nothing was written", file=sys.stderr)
        return 130
    # The frames are done: a signal from here on is noted, not raised. Raised during the figures
    # (seconds at real sizes) or the writes, it threw every frame away.
    interrupt.finishing()
    figures = summary(cnn, result, motion, styles)
    record = {
        "settings": {"video": str(args.video), "styles": [str(p) for p in args.style], "later_steps": later,
                     "temporal_weight": args.temporal_weight, **asdict(s.for_inputs(True, True))},
        "status": result.status, "message": result.message, "fps": clip.fps,
        **({"frame_ms": clip.frame_ms[:len(result.frames)]} if clip.frame_ms else {}), "frames": len(result.frames),
        "frames_in": len(frames), "output_size": list(result.frames[0].shape[1::-1]), **figures,
        "device": str(device), "torch": torch.__version__, "machine": platform.machine(),
        "threads": torch.get_num_threads(), "command": " ".join(sys.argv),
    }
    _write_outputs(result.frames, clip, record, out, gif, still)
    n = len(result.frames)
    warping = (f"warping error {figures['warping_error']:.4f}" if figures["warping_error"] is not None else
               "no warping error for one frame" if n == 1 else "no warping error: no pixel could be followed")
    print(f"{out}  ({_frames(n)} at {clip.fps:g} fps, {figures['seconds_per_frame']:.1f} s/frame; "
          f"{warping}, style distance {figures['style_distance']:.3f}); also {gif.name}, {still.name}")
    if result.status == "interrupted" or interrupt.signalled():
        print(f"interrupted: {out} holds the {_frames(n)} done", file=sys.stderr)
        return 130
    if result.status == "nan":
        print(f"error: {result.message} at frame {len(result.frames)}; the frames before it are in {out}. "
              f"Lower --style-weight or --temporal-weight", file=sys.stderr)
        return 1
    return 0


def _frames(n: int) -> str:
    return f"{n} frame" if n == 1 else f"{n} frames"


def _write_outputs(frames, clip: Clip, record: dict, out: Path, gif: Path, still: Path) -> None:
    """OUT.mp4 first (at the clip's rate), then its record, the GIF (a GIF's own frame times kept)
    and the strip. An earlier run's companions go as
    the new mp4 takes its name (an mp4 refused leaves that run whole): beside it they would
    describe another clip. When a later file cannot be written (a full disk), the error says
    which files hold the frames, which are kept."""
    write_mp4(frames, out, clip.fps)
    for path in (sidecar_path(out), gif, still):
        path.unlink(missing_ok=True)
    done = [out]
    try:
        for path, write in ((sidecar_path(out), lambda p: write_json(p, record)),
                            (gif, lambda p: write_gif(frames, p, clip.fps, clip.frame_ms)),
                            (still, lambda p: save_image(Image.fromarray(strip(frames)), p))):
            write(path)
            done.append(path)
    except (InputError, OSError) as exc:
        words = str(exc) if isinstance(exc, InputError) else f"cannot write {path}: {exc.strerror or exc}"
        raise InputError(f"{words}; the {_frames(len(frames))} {'is' if len(frames) == 1 else 'are'} in "
                         f"{', '.join(p.name for p in done)}") from None


def _check_fps(fps: float, args) -> None:
    """A clip's own frame rate (none given) must be one its GIF can take."""
    low, high = FPS_RANGE
    if args.fps is None and not low <= fps <= high:
        raise InputError(f"{args.video} runs at {fps:g} fps, and the GIF written beside the mp4 takes "
                         f"{low:.4g} to {high:g}: pass --fps")


def _check_frames(width: int, height: int, count: int, s, args, device) -> None:
    """`count` frames at the output's size, width x height, before they are decoded: large
    enough for the optical flow, and a run the machine holds (the optimization of one frame,
    and every frame of the clip kept)."""
    check_side(width, height, "video", f"a frame of {args.video} at --size {s.size}")
    style_side = scaled_style_side(s.size, s.style_scale)
    worked = [fit_size(*image_size(p, args.max_pixels), style_side) for p in args.style]
    check_memory("optimization", width * height, sum(w * h for w, h in worked), device=device,
                 extra=count * width * height * FRAME_BYTES_PER_PIXEL,
                 what=f"the video at {width}x{height} px ({count} frames)",
                 hint="use a smaller --size or --style-scale")


def _check_outputs(args) -> tuple[Path, Path, Path]:
    """OUT.mp4, OUT.gif and OUT_strip.png, after checking that each of them and OUT.json can be
    written and none is an input: a run finds out before its minutes of work, not after."""
    out = args.out or RESULTS / "video" / f"{Path(args.video).stem}_{args.style[0].stem}.mp4"
    if out.suffix.lower() != ".mp4":
        raise InputError(f"--out must end in .mp4 for a video, not {out.name!r}")
    gif, still = out.with_suffix(".gif"), out.with_name(out.stem + "_strip.png")
    _outside_frame_folders(out, [args.video])
    check_plan([out, gif, still, sidecar_path(out)], [*_video_files(args.video), *args.style])
    return out, gif, still


def _outside_frame_folders(out: Path, videos: list[Path]) -> None:
    """An output written among a clip's frames joins them (the strip PNG is read as a frame
    next time, of another size): refused."""
    for video in videos:
        if Path(video).is_dir() and Path(out).parent.resolve() == Path(video).resolve():
            raise InputError(f"{out} would lie among the frames of {video}: write it in another folder")


def _video_files(video: Path) -> list[Path]:
    """The files a clip is read from: the file, or the frames of a folder."""
    video = Path(video)
    if video.is_dir():
        return [p for p in video.iterdir() if p.suffix.lower() in FRAME_SUFFIXES]
    return [video]


def _run_demo(args) -> int:
    if args.out.suffix.lower() != ".mp4":
        raise InputError(f"the demo clip is an mp4: {args.out.name!r} does not end in .mp4")
    check_plan([args.out], [DEMO_PHOTO])
    print(make_demo(args.out))
    return 0


def _run_sheet(args) -> int:
    if args.out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise InputError(f"the sheet is a still: {args.out.name!r} does not end in .png or .jpg")
    _outside_frame_folders(args.out, args.videos)
    check_plan([args.out], [f for v in args.videos for f in _video_files(v)])
    print(sheet(args.videos, args.out, size=args.size))
    return 0


def legacy_argv(argv: list[str]) -> list[str]:
    """`--make-demo PATH` -> ['video-demo', ...]; `--sheet OUT.png VIDEO... [--size N]` ->
    ['video-sheet', ...]. Raises InputError (one line) for what the old parser refused."""
    p = Parser(prog="python -m video", description="the video demo clip, and comparison stills "
                                                   "(now `python -m stylekit video-demo` and `video-sheet`)")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--make-demo", metavar="PATH", help="write the pan-and-zoom demo clip (mp4)")
    what.add_argument("--sheet", nargs="+", metavar=("OUT.png", "VIDEO"),
                      help="OUT.png: a strip of frames from each VIDEO, one under the other")
    p.add_argument("--size", help="with --sheet: longest side of the frames")
    args = p.parse_args(argv)
    if args.make_demo:
        return ["video-demo", "--", args.make_demo]
    if len(args.sheet) < 2:
        raise InputError("--sheet takes OUT.png and at least one video")
    # '--' first: a path that begins with '-' is still a path.
    return ["video-sheet", *(["--size", args.size] if args.size is not None else []), "--", *args.sheet]
