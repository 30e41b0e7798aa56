"""A clip through the engine: frame 1 as a still image, each later frame from the previous
output (warped along the flow, with the temporal loss, unless frame by frame), and the
figures that describe the result (flicker, style, time)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from stylekit.optim.engine import stylize
from stylekit.settings import Settings
from stylekit.video.flow import Motion, clip_motion, to_unit, warp_output, warping_error

# Temporal loss weight: the pixel-space MSE to the warped previous frame, over reliable pixels.
TEMPORAL_WEIGHT = 1e3
# Later frames start from (nearly) the answer: 40 evaluations sufficed when frame 1 took 200 from
# the photo (see README); frame 1 now takes 100 from the one-pass picture, and the later frames keep 40.
LATER_STEPS_FRACTION = 0.4


def default_later_steps(steps: int) -> int:
    return max(1, round(steps * LATER_STEPS_FRACTION))


def to_tensor(frame: np.ndarray, device="cpu") -> torch.Tensor:
    return torch.from_numpy(to_unit(frame)).permute(2, 0, 1).unsqueeze(0).contiguous().to(device)


def to_frame(t: torch.Tensor) -> np.ndarray:
    return (t.detach().float().cpu()[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


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
        if res is not None and res.status == "interrupted":   # a frame cut short is not one done
            result.status, result.message = res.status, res.message
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
        prev = to_unit(out)
        if res is not None and res.status == "nan":
            result.status, result.message = res.status, res.message
            break
    return result


def style_distance(cnn, outputs: list[np.ndarray], style: torch.Tensor) -> float:
    """Mean over frames of metrics.Distances' style distance to `style`."""
    from stylekit.optim.metrics import Distances
    d = Distances(cnn)
    device = style.device
    return float(np.mean([d.style(to_tensor(f, device), style) for f in outputs]))


def summary(cnn, result: VideoResult, motion, styles) -> dict:
    """The figures a run's JSON records: flicker, reliable share, style distance, timings."""
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
