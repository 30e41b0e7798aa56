"""Video style transfer with temporal consistency (Ruder, Dosovitskiy and Brox 2016).

    python run.py --video clip.mp4 --style images/style/starry_night.jpg --out out.mp4
    python -m video --make-demo images/video/chenonceau_pan.mp4   # the bundled demo clip
    python -m video --sheet still.png input.mp4 out_a.mp4 out_b.mp4  # frames side by side

Every frame goes through the same engine as a still image (`engine.stylize`). Frame 1 gets
`steps` evaluations from the content image; each later frame gets `later_steps` and starts
from the previous output. Frame by frame (`temporal_weight=0`) it starts from the previous
output as it is; in temporal mode from the previous output warped to this frame by the
optical flow, and a `TemporalLoss` pulls it towards that warped frame wherever the flow is
reliable (a forward-backward consistency check drops disocclusions and motion boundaries).

Flicker is measured as the temporal warping error: the mean absolute difference between
output t and output t-1 warped to t, over the reliable pixels (RGB in [0, 1]).
Frames are read and written with imageio (FFmpeg from imageio-ffmpeg for mp4/avi/..., Pillow
for GIF); the flow is OpenCV's DIS.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
from PIL import Image

from stylekit.optim.engine import stylize
from stylekit.settings import Settings
from stylekit.optim.jobs import check_out
from stylekit.base.paths import CONTENT_DIR, ROOT
from stylekit.base.errors import InputError
from stylekit.base.files import check_writable, write_json
from utils import load_image
from stylekit.base.images import open_image

# Temporal loss weight: the pixel-space MSE to the warped previous frame, over reliable pixels.
TEMPORAL_WEIGHT = 1e3
# Later frames start from (nearly) the answer: this fraction of --steps suffices (see README).
LATER_STEPS_FRACTION = 0.2
# Reliability: mean RGB difference (in [0, 1]) between a frame and the warped previous one
# above which the flow is not trusted there.
COLOUR_TOLERANCE = 0.1
FOLDER_FPS = 12.0                   # frame rate of a folder of frames unless given
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".ogv", ".gif")
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm")
DEMO_PHOTO = CONTENT_DIR / "chenonceau.jpg"
DEMO_CLIP = ROOT / "images" / "video" / "chenonceau_pan.mp4"


def default_later_steps(steps: int) -> int:
    return max(1, round(steps * LATER_STEPS_FRACTION))


# ---------------------------------------------------------------------------------------
# Reading and writing frames
# ---------------------------------------------------------------------------------------

@dataclass
class Clip:
    frames: list[np.ndarray]        # (H, W, 3) uint8 RGB, all the same size
    fps: float

    @property
    def size(self) -> tuple[int, int]:   # (width, height)
        return self.frames[0].shape[1], self.frames[0].shape[0]


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _natural_key(path: Path):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def read_video(path, max_frames: int | None = None, fps: float | None = None,
               max_pixels: int | None = None) -> Clip:
    """Frames and frame rate of a video file (mp4, avi, mov, mkv, webm, gif...) or a folder of
    frames (sorted by name, numbers in order; `fps` or 12). Raises InputError (one line)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"no such video: {path}")
    if path.is_dir():
        files = sorted((p for p in path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES and p.is_file()),
                       key=_natural_key)
        if not files:
            raise InputError(f"the folder {path} has no frames ({', '.join(FRAME_SUFFIXES)} files)")
        files = files[:max_frames] if max_frames else files
        frames = [np.asarray(open_image(p, max_pixels)) for p in files]
        if len({f.shape for f in frames}) > 1:
            raise InputError(f"the frames in {path} do not all have the same size")
        return _checked(Clip(frames, float(fps or FOLDER_FPS)), path, max_pixels)
    if path.suffix.lower() in FRAME_SUFFIXES:
        raise InputError(f"{path} is a single image; --video takes a video file "
                         "(mp4, avi, gif, ...) or a folder of frames")
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty (0 bytes)")
    import imageio.v2 as iio2
    import imageio.v3 as iio3
    try:
        if path.suffix.lower() == ".gif":
            frames = [f[..., :3] for f in iio3.imread(path, index=None, plugin="pillow", mode="RGB")]
            duration = iio3.immeta(path, index=0, plugin="pillow").get("duration") or 100
            found_fps = 1000.0 / duration
        else:
            frames = []
            with iio2.get_reader(path, format="FFMPEG") as reader:
                found_fps = reader.get_meta_data().get("fps")
                for frame in reader:
                    frames.append(np.ascontiguousarray(np.asarray(frame)[..., :3]))
                    if max_frames and len(frames) >= max_frames:
                        break
    except InputError:
        raise
    except Exception as exc:  # imageio and FFmpeg raise many kinds on what is not a video
        raise InputError(f"cannot read {path} as a video: {_reason(exc)}") from None
    if not frames:
        raise InputError(f"{path} has no frames")
    frames = frames[:max_frames] if max_frames else frames
    if not found_fps or not np.isfinite(found_fps) or found_fps <= 0:
        found_fps = FOLDER_FPS
    return _checked(Clip(frames, float(fps or found_fps)), path, max_pixels)


def _checked(clip: Clip, path: Path, max_pixels: int | None) -> Clip:
    w, h = clip.size
    if w < 1 or h < 1:
        raise InputError(f"{path} has empty frames")
    if max_pixels and w * h > max_pixels:
        raise InputError(f"the frames of {path} have {w}x{h} = {w * h:,} pixels, more than the "
                         f"limit of {max_pixels:,}; pass a larger --max-pixels if you trust this file")
    return clip


def fit_frames(frames: list[np.ndarray], size: int | None) -> list[np.ndarray]:
    """Resize so the longest side is `size` (None: as they are), both sides even (H.264)."""
    h, w = frames[0].shape[:2]
    scale = (size / max(h, w)) if size else 1.0
    nh, nw = (max(2, int(round(h * scale)) // 2 * 2), max(2, int(round(w * scale)) // 2 * 2))
    if (nh, nw) == (h, w):
        return list(frames)
    return [np.asarray(Image.fromarray(f).resize((nw, nh), Image.Resampling.LANCZOS)) for f in frames]


def _temp_beside(path: Path) -> Path:
    return path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")


def write_mp4(frames: list[np.ndarray], path, fps: float) -> Path:
    """H.264 (yuv420p) mp4 at `fps`, written to a temporary file and renamed into place."""
    import imageio.v2 as iio2
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_beside(path)
    try:
        with iio2.get_writer(tmp, format="FFMPEG", fps=fps, codec="libx264", pixelformat="yuv420p",
                             quality=8, macro_block_size=2, ffmpeg_log_level="error") as writer:
            for f in frames:
                writer.append_data(_even(f))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_gif(frames: list[np.ndarray], path, fps: float) -> Path:
    """Looping GIF for pages that show no video (frame time rounded to 10 ms by the format)."""
    import imageio.v3 as iio3
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_beside(path)
    try:
        iio3.imwrite(tmp, np.stack(frames), plugin="pillow", duration=round(1000.0 / fps), loop=0)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def strip(frames: list[np.ndarray], count: int = 6, gap: int = 4) -> np.ndarray:
    """`count` evenly spaced frames side by side (a still for reports)."""
    picks = np.unique(np.linspace(0, len(frames) - 1, min(count, len(frames))).round().astype(int))
    h = frames[0].shape[0]
    parts = []
    for i in picks:
        parts += [frames[i], np.full((h, gap, 3), 255, np.uint8)]
    return np.concatenate(parts[:-1], axis=1)


def _even(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    return np.ascontiguousarray(frame[:h // 2 * 2, :w // 2 * 2])


# ---------------------------------------------------------------------------------------
# Optical flow, warping, reliability
# ---------------------------------------------------------------------------------------

def _grey(frame: np.ndarray) -> np.ndarray:
    if frame.dtype != np.uint8:
        frame = (np.clip(frame, 0, 1) * 255 + 0.5).astype(np.uint8)
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def optical_flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dense flow (H, W, 2) from frame a to frame b (DIS): a(p) ~ b(p + flow(p))."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(_grey(a), _grey(b), None)


def warp(image: np.ndarray, flow: np.ndarray, interpolation: int = cv2.INTER_LANCZOS4,
         border: int = cv2.BORDER_REFLECT_101) -> np.ndarray:
    """Backward warp: out(p) = image(p + flow(p)).

    Images are resampled with Lanczos: bilinear resampling at sub-pixel offsets blurs a
    stylised frame's fine strokes so much that its style loss grows ten-fold (measured on the
    demo clip at 128 px), and both the initialisation and the temporal target would carry
    that blur. Lanczos can overshoot: clip images in [0, 1] afterwards (`warp_output`).
    Where the flow points outside the image (what a pan brings in) the image is mirrored:
    repeating the edge pixels would start those pixels as streaks that few steps do not undo.
    """
    h, w = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image, grid_x + flow[..., 0], grid_y + flow[..., 1], interpolation, borderMode=border)


def warp_output(frame: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """A frame (uint8 or float in [0, 1]) warped by `flow`, as float32 in [0, 1]."""
    return np.clip(warp(_unit(frame), flow), 0.0, 1.0)


def reliability(backward: np.ndarray, forward: np.ndarray, frame: np.ndarray | None = None,
                prev: np.ndarray | None = None) -> np.ndarray:
    """Mask (H, W) in {0, 1} for frame t: 1 where the flow back to frame t-1 can be trusted.

    backward: flow t -> t-1, forward: flow t-1 -> t. Following Ruder et al. (2016, sec. 3.1):
    disocclusions fail the forward-backward check |w~ + w|^2 > 0.01(|w~|^2 + |w|^2) + 0.5,
    w~ the forward flow taken where the backward flow points; motion boundaries have large
    flow gradients, |grad u|^2 + |grad v|^2 > 0.01|w|^2 + 0.002. Pixels whose flow leaves
    the frame are unreliable too, and, given the input frames, pixels where the warped
    previous input differs from this one by more than COLOUR_TOLERANCE: DIS smooths the
    flow over its patches, which carries an object's motion a few pixels into the
    background it uncovers, where the two checks above then agree with each other.
    """
    h, w = backward.shape[:2]
    fwd = warp(forward, backward, cv2.INTER_LINEAR, cv2.BORDER_REPLICATE)
    sq = lambda f: (f ** 2).sum(-1)  # noqa: E731
    disoccluded = sq(fwd + backward) > 0.01 * (sq(fwd) + sq(backward)) + 0.5
    du_y, du_x = np.gradient(backward[..., 0])
    dv_y, dv_x = np.gradient(backward[..., 1])
    boundary = du_x ** 2 + du_y ** 2 + dv_x ** 2 + dv_y ** 2 > 0.01 * sq(backward) + 0.002
    xs = np.arange(w)[None, :] + backward[..., 0]
    ys = np.arange(h)[:, None] + backward[..., 1]
    outside = (xs < 0) | (xs > w - 1) | (ys < 0) | (ys > h - 1)
    unreliable = disoccluded | boundary | outside
    if frame is not None and prev is not None:
        unreliable |= np.abs(warp_output(prev, backward) - _unit(frame)).mean(-1) > COLOUR_TOLERANCE
    return (~unreliable).astype(np.float32)


@dataclass
class Motion:
    backward: np.ndarray            # (H, W, 2) flow from this frame to the previous one
    mask: np.ndarray                # (H, W) reliability in {0, 1}


def clip_motion(frames: list[np.ndarray]) -> list[Motion | None]:
    """Flow back to the previous frame and its reliability, for every frame (None for the first)."""
    out: list[Motion | None] = [None]
    for prev, cur in zip(frames, frames[1:]):
        back, fwd = optical_flow(cur, prev), optical_flow(prev, cur)
        out.append(Motion(back, reliability(back, fwd, cur, prev)))
    return out


def warping_error(outputs: list[np.ndarray], motion: list[Motion | None]) -> float:
    """Mean over t >= 2 of mean |out_t - warp(out_{t-1})| over reliable pixels (RGB in [0, 1]).

    The same Lanczos warp as the temporal loss's target, so resampling blur is not counted
    as flicker."""
    errors = []
    for t in range(1, len(outputs)):
        m = motion[t].mask
        if m.sum() == 0:
            continue
        diff = np.abs(_unit(outputs[t]) - warp_output(outputs[t - 1], motion[t].backward)).mean(-1)
        errors.append(float((diff * m).sum() / m.sum()))
    return float(np.mean(errors)) if errors else float("nan")


def _unit(frame: np.ndarray) -> np.ndarray:
    return frame.astype(np.float32) / 255.0 if frame.dtype == np.uint8 else frame.astype(np.float32)


def to_tensor(frame: np.ndarray, device="cpu") -> torch.Tensor:
    return torch.from_numpy(_unit(frame)).permute(2, 0, 1).unsqueeze(0).contiguous().to(device)


def to_frame(t: torch.Tensor) -> np.ndarray:
    return (t.detach().float().cpu()[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


# ---------------------------------------------------------------------------------------
# Stylising a clip
# ---------------------------------------------------------------------------------------

@dataclass
class VideoResult:
    frames: list[np.ndarray] = field(default_factory=list)   # (H, W, 3) uint8 outputs
    seconds: list[float] = field(default_factory=list)       # wall time per frame
    evals: list[int] = field(default_factory=list)
    status: str = "done"            # done | interrupted | nan
    message: str = ""
    history: list[dict] = field(default_factory=list)        # last terms of every frame


def stylize_video(cnn, frames: list[np.ndarray], styles, settings: Settings, *, later_steps: int | None = None,
                  temporal_weight: float = TEMPORAL_WEIGHT, motion: list[Motion | None] | None = None,
                  first: np.ndarray | None = None,
                  callback: Callable[[dict], None] | None = None) -> VideoResult:
    """Stylise `frames` (already at the output size) one after the other with `engine.stylize`.

    Frame 1 gets `settings` as they are (settings.steps evaluations); each later frame gets
    `later_steps` at one scale. temporal_weight 0: frame by frame, each later frame starts
    from the previous output. Otherwise each later frame starts from the previous output
    warped to it and carries the temporal loss. `motion` (from `clip_motion`) is computed when
    not given; `first` reuses an output for frame 1.
    `callback(info)` gets the engine's info plus 'frame' and 'frames'.
    """
    settings = settings.replace(size=None)   # the frames are at the output's size already
    later_steps = later_steps or default_later_steps(settings.steps)
    later = settings.replace(steps=later_steps, multiscale="off")
    device = styles[0].device if styles else torch.device("cpu")
    motion = motion if motion is not None else clip_motion(frames)
    result = VideoResult()
    prev = None
    for i, frame in enumerate(frames):
        start = time.perf_counter()
        content = to_tensor(frame, device)

        def report(info, i=i):
            if callback is not None:
                callback({**info, "frame": i + 1, "frames": len(frames)})

        try:
            if i == 0 and first is not None:
                out, res = first, None
            elif i == 0:
                res = stylize(cnn, content, styles, settings, callback=report)
            else:
                init = prev if temporal_weight == 0 else warp_output(prev, motion[i].backward)
                kw = dict(init_image=to_tensor(init, device))
                if temporal_weight != 0:
                    kw.update(temporal_target=kw["init_image"], temporal_weight=temporal_weight,
                              temporal_mask=torch.from_numpy(motion[i].mask)[None, None].to(device))
                res = stylize(cnn, content, styles, later, callback=report, **kw)
        except KeyboardInterrupt:
            result.status = "interrupted"
            break
        if res is not None:
            out = to_frame(res.image)
            result.history.append(res.final)
            result.evals.append(res.evals)
        else:
            result.evals.append(0)
            result.history.append({})
        result.frames.append(out)
        result.seconds.append(time.perf_counter() - start)
        prev = _unit(out)
        if res is not None and res.status in ("interrupted", "nan"):
            result.status, result.message = res.status, res.message
            break
    return result


def style_distance(cnn, outputs: list[np.ndarray], style: torch.Tensor) -> float:
    """Mean over frames of metrics.Distances' style distance to `style`."""
    from stylekit.optim.metrics import Distances
    d = Distances(cnn)
    device = style.device
    return float(np.mean([d.style(to_tensor(f, device), style) for f in outputs]))


# ---------------------------------------------------------------------------------------
# Command line (called from run.py's main)
# ---------------------------------------------------------------------------------------

class _Progress:
    def __init__(self, total: int):
        self.total, self.bar = total, None

    def __call__(self, info):
        if self.bar is None:
            from tqdm import tqdm
            self.bar = tqdm(total=self.total, desc="video", unit="eval", dynamic_ncols=True, file=sys.stderr)
        self.bar.update(1)
        if info["step"] == 1 or info["step"] == info["steps"]:
            self.bar.set_postfix(frame=f"{info['frame']}/{info['frames']}", refresh=False)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def from_cli(args, cnn, device) -> int:
    """`run.py --video IN --style S --out OUT.mp4`: OUT.mp4, OUT.gif, OUT_strip.png, OUT.json."""
    s = args.settings
    if args.temporal_weight is None:
        args.temporal_weight = TEMPORAL_WEIGHT
    if s.preserve_color == "luminance":
        raise InputError("--preserve-color luminance does not apply to --video (histogram does)")
    if s.content_weight == 0 or s.style_weight == 0:
        raise InputError("--video does style transfer: it needs a content and a style weight above 0")
    out = args.out or ROOT / "results" / "video" / f"{Path(args.video).stem}_{args.style[0].stem}.mp4"
    if out.suffix.lower() != ".mp4":
        raise InputError(f"--out must end in .mp4 with --video, not {out.name!r}")
    gif, still = out.with_suffix(".gif"), out.with_name(out.stem + "_strip.png")
    for path in (gif, still):
        check_writable(path)
    check_out(out, [args.video, *args.style])
    clip = read_video(args.video, fps=args.fps, max_pixels=args.max_pixels)
    frames = fit_frames(clip.frames, s.size)
    styles = [load_image(p, max(1, round(s.size * s.style_scale)), device, args.max_pixels)
              for p in args.style]
    later = args.later_steps or default_later_steps(s.steps)
    motion = clip_motion(frames)
    bar = _Progress(s.steps + later * (len(frames) - 1))
    try:
        result = stylize_video(cnn, frames, styles, args.settings, later_steps=later,
                               temporal_weight=args.temporal_weight, motion=motion, callback=bar)
    finally:
        bar.close()
    if not result.frames:
        print("interrupted before the first frame was done; nothing was written", file=sys.stderr)
        return 130
    write_mp4(result.frames, out, clip.fps)
    write_gif(result.frames, gif, clip.fps)
    Image.fromarray(strip(result.frames)).save(still)
    figures = summary(cnn, result, motion, styles)
    write_json(out.with_suffix(".json"), {
        "settings": {"video": str(args.video), "styles": [str(p) for p in args.style], "later_steps": later,
                     "temporal_weight": args.temporal_weight, **asdict(s)},
        "status": result.status, "message": result.message, "fps": clip.fps, "frames": len(result.frames),
        "frames_in": len(frames), "output_size": list(result.frames[0].shape[1::-1]), **figures,
        "device": str(device), "torch": torch.__version__, "machine": platform.machine(),
        "threads": torch.get_num_threads(), "command": " ".join(sys.argv),
    })
    print(f"{out}  ({len(result.frames)} frames at {clip.fps:g} fps, {figures['seconds_per_frame']:.1f} s/frame; "
          f"warping error {figures['warping_error']:.4f}, style distance {figures['style_distance']:.3f}); "
          f"also {gif.name}, {still.name}")
    if result.status == "interrupted":
        print(f"interrupted: the {len(result.frames)} frames done are in {out}", file=sys.stderr)
        return 130
    if result.status == "nan":
        print(f"error: {result.message} at frame {len(result.frames)}; the frames before it are in {out}. "
              f"Lower --style-weight or --temporal-weight", file=sys.stderr)
        return 1
    return 0


def summary(cnn, result: VideoResult, motion, styles) -> dict:
    n = len(result.frames)
    later = result.seconds[1:]
    return {
        "warping_error": warping_error(result.frames, motion[:n]),
        "reliable_fraction": float(np.mean([m.mask.mean() for m in motion[1:n]])) if n > 1 else None,
        "style_distance": style_distance(cnn, result.frames, styles[0]),
        "seconds_first_frame": result.seconds[0],
        "seconds_per_frame": float(np.mean(later)) if later else result.seconds[0],
        "seconds_total": float(sum(result.seconds)),
        "evals": result.evals,
    }


# ---------------------------------------------------------------------------------------
# The demo clip, and stills for the README
# ---------------------------------------------------------------------------------------

def make_demo(path=DEMO_CLIP, photo=DEMO_PHOTO, frames: int = 24, fps: float = 12.0,
              size: tuple[int, int] = (320, 240)) -> Path:
    """A slow pan and zoom across a photo: the window moves right and closes in by 15%."""
    img = open_image(photo)
    W, H = img.size
    w0 = 0.75 * W
    out = []
    for i in range(frames):
        s = i / max(1, frames - 1)
        w = w0 * (1 - 0.15 * s)
        h = w * size[1] / size[0]
        cx = w0 / 2 + s * (W - w0) * 0.8 + 0.1 * w0 * s
        cy = H * 0.55 - 0.05 * H * s
        box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
        out.append(np.asarray(img.transform(size, Image.Transform.EXTENT, box, Image.Resampling.BICUBIC)))
    return write_mp4(out, path, fps)


def sheet(videos, path, count: int = 6, size: int | None = None) -> Path:
    """One strip of `count` evenly spaced frames per video, stacked: a still for the README."""
    rows = [strip(fit_frames(read_video(v, max_frames=None).frames, size), count) for v in videos]
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    gap = np.full((4, width, 3), 255, np.uint8)
    Image.fromarray(np.concatenate([x for r in rows for x in (r, gap)][:-1])).save(path)
    return Path(path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="the video demo clip, and comparison stills")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--make-demo", type=Path, metavar="PATH", help="write the pan-and-zoom demo clip (mp4)")
    what.add_argument("--sheet", type=Path, nargs="+", metavar=("OUT.png", "VIDEO"),
                      help="OUT.png: a strip of frames from each VIDEO, one under the other")
    p.add_argument("--size", type=int, help="with --sheet: longest side of the frames")
    args = p.parse_args(argv)
    try:
        if args.make_demo:
            print(make_demo(args.make_demo))
        else:
            if len(args.sheet) < 2:
                raise InputError("--sheet takes OUT.png and at least one video")
            print(sheet(args.sheet[1:], args.sheet[0], size=args.size))
        return 0
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
