"""Motion between frames: dense optical flow (OpenCV's DIS), warping a frame along it, the
mask of pixels where the flow can be trusted, and the warping error that measures flicker."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Reliability: mean RGB difference (in [0, 1]) between a frame and the warped previous one
# above which the flow is not trusted there.
COLOUR_TOLERANCE = 0.1


def to_unit(frame: np.ndarray) -> np.ndarray:
    """A frame as float32 RGB in [0, 1] (uint8 frames are scaled, float ones kept)."""
    return frame.astype(np.float32) / 255.0 if frame.dtype == np.uint8 else frame.astype(np.float32)


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
    stylised frame's fine strokes, which raises its style loss many times over, and both the
    initialisation and the temporal target would carry that blur. Lanczos can overshoot:
    clip images in [0, 1] afterwards (`warp_output`).
    Where the flow points outside the image (what a pan brings in) the image is mirrored:
    repeating the edge pixels would start those pixels as streaks that few steps do not undo.
    """
    h, w = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image, grid_x + flow[..., 0], grid_y + flow[..., 1], interpolation, borderMode=border)


def warp_output(frame: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """A frame (uint8 or float in [0, 1]) warped by `flow`, as float32 in [0, 1]."""
    return np.clip(warp(to_unit(frame), flow), 0.0, 1.0)


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
        unreliable |= np.abs(warp_output(prev, backward) - to_unit(frame)).mean(-1) > COLOUR_TOLERANCE
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


def warping_error(outputs: list[np.ndarray], motion: list[Motion | None]) -> float | None:
    """Mean over t >= 2 of mean |out_t - warp(out_{t-1})| over reliable pixels (RGB in [0, 1]);
    None where no pixel could be followed (one frame, or flat frames).

    The same Lanczos warp as the temporal loss's target, so resampling blur is not counted
    as flicker."""
    errors = []
    for t in range(1, len(outputs)):
        m = motion[t].mask
        if m.sum() == 0:
            continue
        diff = np.abs(to_unit(outputs[t]) - warp_output(outputs[t - 1], motion[t].backward)).mean(-1)
        errors.append(float((diff * m).sum() / m.sum()))
    return float(np.mean(errors)) if errors else None
