"""Clips in and out: read a video file or a folder of frames, resize, write mp4 and GIF, and
the stills made from clips (a strip of frames, a sheet of strips), and the demo clip."""
from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from stylekit.base.errors import InputError, reason
from stylekit.base.files import atomic_write, cannot_write, commit
from stylekit.base.images import DEFAULT_MAX_PIXELS, open_image
from stylekit.base.interrupt import held
from stylekit.base.limits import check_bytes
from stylekit.base.paths import CONTENT_DIR, IMAGES
from utils import save_image

FOLDER_FPS = 12.0                   # frame rate of a folder of frames unless given
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".ogv", ".gif")
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm")
DEMO_PHOTO = CONTENT_DIR / "chenonceau.jpg"
DEMO_CLIP = IMAGES / "video" / "chenonceau_pan.mp4"


@dataclass
class Clip:
    frames: list[np.ndarray]        # (H, W, 3) uint8 RGB, all the same size
    fps: float | None               # None: the file does not tell
    frame_ms: list[int] | None = None   # a GIF's own frame times where they differ (fps: their mean)

    @property
    def size(self) -> tuple[int, int]:   # (width, height)
        return self.frames[0].shape[1], self.frames[0].shape[0]


def _natural_key(path: Path):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def read_video(path, max_frames: int | None = None, fps: float | None = None,
               max_pixels: int | None = None, size: int | None = None, check=None) -> Clip:
    """Frames and frame rate of a video file (mp4, avi, mov, mkv, webm, gif...) or a folder of
    frames (sorted by name, numbers in order; `fps` or FOLDER_FPS), each brought to `size` as it
    is read (`fitted_frame_size`; None: as they are). Before any frame is decoded, their size is held to
    `max_pixels` and `check(width, height, count, fps)` is called with the size the frames will
    have, their count and their rate as the header gives them (a count it does not give is
    estimated; a rate `fps`, or None where only the frames tell it): a clip refused is refused
    before it fills the memory. A frame rate the file does not tell (nor `fps`) is None. Raises
    InputError (one line)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"no such video: {path}")
    if path.is_dir():
        files = sorted((p for p in path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES and p.is_file()),
                       key=_natural_key)
        if not files:
            raise InputError(f"the folder {path} has no frames ({', '.join(FRAME_SUFFIXES)} files)")
        files = files[:max_frames] if max_frames else files
        with open_image(files[0], max_pixels) as first:
            fit = _fitting(path, first.size, len(files), max_pixels, size, check, float(fps or FOLDER_FPS))
        frames, shapes = [], set()
        for p in files:
            with open_image(p, max_pixels) as img:
                shapes.add(img.size)
                frames.append(fit(img))
        if len(shapes) > 1:
            raise InputError(f"the frames in {path} do not all have the same size")
        return Clip(frames, float(fps or FOLDER_FPS))
    if path.suffix.lower() in FRAME_SUFFIXES:
        raise InputError(f"{path} is a single image; a video is read from a video file "
                         "(mp4, avi, gif, ...) or a folder of frames")
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty (0 bytes)")
    try:
        frame_ms = None
        if path.suffix.lower() == ".gif":
            frames, frame_ms = _read_gif(path, max_frames, max_pixels, size, check, fps)
            found_fps = 1000.0 / float(np.mean(frame_ms))
        else:
            frames, found_fps = _read_ffmpeg(path, max_frames, max_pixels, size, check, fps)
    except InputError:
        raise
    except Exception as exc:  # imageio, FFmpeg and Pillow raise many kinds on what is not a video
        raise InputError(f"cannot read {path} as a video: {reason(exc)}") from None
    if not frames:
        raise InputError(f"{path} has no frames")
    if not found_fps or not np.isfinite(found_fps) or found_fps <= 0:
        found_fps = None
    uneven = not fps and frame_ms is not None and len(set(frame_ms)) > 1   # a rate given is the user's choice
    return Clip(frames, float(fps) if fps else found_fps, frame_ms if uneven else None)


def _fitting(path: Path, frame_size: tuple[int, int], count: int, max_pixels: int | None, size: int | None,
             check, fps: float | None):
    """The frames' checks before any is decoded (see `read_video`), and what brings one to `size`."""
    w, h = frame_size
    if w < 1 or h < 1:
        raise InputError(f"{path} has empty frames")
    if max_pixels and w * h > max_pixels:
        raise InputError(f"the frames of {path} have {w}x{h} = {w * h:,} pixels, more than the "
                         f"limit of {max_pixels:,}; pass a larger --max-pixels if you trust this file")
    nw, nh = fitted_frame_size(w, h, size) if size else (w, h)
    if check is not None:
        check(nw, nh, count, fps)

    def fit(img) -> np.ndarray:
        img = img if isinstance(img, Image.Image) else Image.fromarray(img)
        img = img.convert("RGB")
        if img.size != (nw, nh):
            img = img.resize((nw, nh), Image.Resampling.LANCZOS)
        return np.asarray(img)
    return fit


def _read_gif(path: Path, max_frames, max_pixels, size, check, fps) -> tuple[list[np.ndarray], list[int]]:
    """A GIF's frames one at a time (Pillow), and each frame's time in ms: a GIF gives each
    frame its own time, a video one rate for all (the caller takes their mean)."""
    old_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None   # held to max_pixels here, with the file's name in the message
    try:
        with Image.open(path) as img:
            count = min(getattr(img, "n_frames", 1), max_frames or 1 << 62)
            fit = _fitting(path, img.size, count, max_pixels, size, check, fps)
            frames, durations = [], []
            for i in range(count):
                img.seek(i)
                durations.append(img.info.get("duration") or 100)
                frames.append(fit(img))
    finally:
        Image.MAX_IMAGE_PIXELS = old_limit
    return frames, [int(d) for d in durations]


def _read_ffmpeg(path: Path, max_frames, max_pixels, size, check, fps) -> tuple[list[np.ndarray], float | None]:
    import imageio.v2 as iio2
    # ffmpeg is spawned with a preexec_fn, so Python runs its fork hooks, which drop a
    # KeyboardInterrupt raised inside them: a signal is held until the spawn is over.
    with held():
        reader = iio2.get_reader(path, format="FFMPEG")
    with reader:
        meta = reader.get_meta_data()
        found_fps, count = meta.get("fps"), meta.get("nframes")
        if not (isinstance(count, (int, float)) and np.isfinite(count) and count > 0):
            count = max(1, round((meta.get("duration") or 0) * (found_fps or 0)))
        count = min(int(count), max_frames or 1 << 62)
        known = fps or (found_fps if found_fps and np.isfinite(found_fps) and found_fps > 0 else None)
        fit = _fitting(path, tuple(meta["size"]), count, max_pixels, size, check, known)
        frames = []
        for frame in reader:
            frames.append(fit(np.ascontiguousarray(np.asarray(frame)[..., :3])))
            if max_frames and len(frames) >= max_frames:
                break
            if check is not None and len(frames) > count:   # more than the header said: held again
                count *= 2
                check(frames[0].shape[1], frames[0].shape[0], count, known)
    return frames, found_fps


# Memory a run keeps per pixel of each frame of a clip at the output's size: the frame, its
# stylised copy (8-bit RGB each), the flow back to the previous frame (2 float32) and the
# reliability mask (float32), plus what computing them takes for a moment.
FRAME_BYTES_PER_PIXEL = 32


def fitted_frame_size(width: int, height: int, size: int | None) -> tuple[int, int]:
    """(width, height) of frames of width x height brought to `size` (the longest side; None: as
    they are), both sides even (H.264)."""
    scale = (size / max(height, width)) if size else 1.0
    return max(2, int(round(width * scale)) // 2 * 2), max(2, int(round(height * scale)) // 2 * 2)


def _temp_beside(path: Path) -> Path:
    # The stem shortened: a name that fits the file system must leave room for the temporary one.
    return path.with_name(f".{path.stem[:80]}.tmp{os.getpid()}{path.suffix}")


def _even(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    return np.ascontiguousarray(frame[:h // 2 * 2, :w // 2 * 2])


def write_mp4(frames: list[np.ndarray], path, fps: float) -> Path:
    """H.264 (yuv420p) mp4 at `fps`, written to a temporary file, read back and renamed into
    place. InputError (one line) when it cannot be written: ffmpeg reports a full disk only in
    its log and leaves a file without its index, which must not take the output's name."""
    import imageio.v2 as iio2
    import imageio_ffmpeg
    path = Path(path)
    tmp = _temp_beside(path)
    try:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # held: ffmpeg's spawn (at the first frame) runs the fork hooks, as in `read_video`
            with held(), iio2.get_writer(tmp, format="FFMPEG", fps=fps, codec="libx264", pixelformat="yuv420p",
                                         quality=8, macro_block_size=2, ffmpeg_log_level="quiet") as writer:
                for f in frames:
                    writer.append_data(_even(f))
            written = imageio_ffmpeg.count_frames_and_secs(str(tmp))[0]
        except (OSError, RuntimeError) as exc:   # ffmpeg's own words are many lines: ours is one
            raise _cannot_encode(path, exc) from None
        if written != len(frames):
            raise InputError(f"cannot write {path}: the file holds {written} of {len(frames)} frames "
                             f"(is the disk full?)")
        commit(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _cannot_encode(path: Path, exc: BaseException) -> InputError:
    try:
        full = shutil.disk_usage(path.parent).free < (1 << 20)
    except OSError:
        full = False
    return InputError(f"cannot write {path}: the disk is full") if full else cannot_write(path, exc)


def write_gif(frames: list[np.ndarray], path, fps: float, frame_ms: list[int] | None = None) -> Path:
    """Looping GIF for pages that show no video (frame time rounded to 10 ms by the format), each
    frame shown 1/fps s or, given `frame_ms` (a GIF's own times), its own time; encoded in memory
    and written atomically."""
    import imageio.v3 as iio3
    duration = list(frame_ms[:len(frames)]) if frame_ms else round(1000.0 / fps)
    data = iio3.imwrite("<bytes>", np.stack(frames), extension=".gif", plugin="pillow", duration=duration, loop=0)
    atomic_write(Path(path), data)
    return Path(path)


def strip(frames: list[np.ndarray], count: int = 6, gap: int = 4) -> np.ndarray:
    """`count` evenly spaced frames side by side (a still for reports)."""
    picks = np.unique(np.linspace(0, len(frames) - 1, min(count, len(frames))).round().astype(int))
    h = frames[0].shape[0]
    parts = []
    for i in picks:
        parts += [frames[i], np.full((h, gap, 3), 255, np.uint8)]
    return np.concatenate(parts[:-1], axis=1)


def sheet(videos, path, count: int = 6, size: int | None = None) -> Path:
    """One strip of `count` evenly spaced frames per video, stacked: a still for the README."""
    rows = []
    for v in videos:
        def holds(width, height, frames, fps, v=v):
            check_bytes(6 * frames * width * height + 1e9, f"holding the frames of {v} at {width}x{height} px",
                        "use a smaller --size")
        rows.append(strip(read_video(v, max_pixels=DEFAULT_MAX_PIXELS, size=size, check=holds).frames, count))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    gap = np.full((4, width, 3), 255, np.uint8)
    return save_image(Image.fromarray(np.concatenate([x for r in rows for x in (r, gap)][:-1])), path)


def make_demo(path=DEMO_CLIP, photo=DEMO_PHOTO, frames: int = 24, fps: float = 12.0,
              size: tuple[int, int] = (320, 240)) -> Path:
    """A slow pan and zoom across a photo: the window moves right and closes in by 15%, so the
    clip has motion everywhere, a growing scale, and new pixels coming in at one edge."""
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
