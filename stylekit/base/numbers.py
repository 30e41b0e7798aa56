"""Numbers a user gives, kept within what the arithmetic they go to can hold.

The command lines' argument types (`cli.common`) and the settings' own checks
(`settings.Settings`, `TrainSettings`) both call these, so that a library caller is held to
the same ranges as the command line.
"""
from __future__ import annotations

import math

from .errors import InputError

# torch.Generator takes a seed of 64 bits (it maps negative ones onto positive ones: refused
# here, so that one picture has one seed).
SEED_MAX = 2 ** 64 - 1
# The largest finite 32-bit float: weights and step sizes multiply float32 tensors, and
# anything larger is infinity there (torch refuses such a step size outright).
FLOAT32_MAX = 3.4028234663852886e38
# Frame rates both writers take: a GIF stores each frame's time in hundredths of a second in
# 16 bits (10 ms to 655.35 s), and FFmpeg's H.264 writer accepts these.
FPS_RANGE = (1000 / 655350, 100.0)


def check_seed(value, what: str = "seed") -> int:
    """`value` as a seed: a whole number from 0 to 2**64 - 1."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{what} must be a whole number, not {value!r}")
    if not 0 <= value <= SEED_MAX:
        raise InputError(f"{what} must be from 0 to {SEED_MAX} (64 bits), not {value}")
    return value


def check_float(value, what: str, *, positive: bool = False) -> float:
    """A finite number, >= 0 (> 0 with `positive`), no larger than a 32-bit float holds."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number, not {value!r}") from None
    low_ok = number > 0 if positive else number >= 0
    if not (low_ok and math.isfinite(number)):
        raise InputError(f"{what} must be a finite number {'>' if positive else '>='} 0, not {value}")
    if number > FLOAT32_MAX:
        raise InputError(f"{what} must be at most {FLOAT32_MAX:.3g} (the largest 32-bit float), not {value}")
    return number


MAX_LR = 1e4


def check_lr(value, what: str = "lr") -> float:
    """An optimizer's step size: above 0 and at most MAX_LR (Adam moves each weight or pixel by
    about lr a step; far larger steps overflow the update's arithmetic in 32 bits)."""
    number = check_float(value, what, positive=True)
    if number > MAX_LR:
        raise InputError(f"{what} must be at most {MAX_LR:g}, not {value}")
    return number


def normalized_weights(values, what: str = "blend weights") -> list[float]:
    """Non-negative finite weights with a positive sum, scaled to sum to 1.

    Weights whose sum overflows (1e308, 1e308) are divided by the largest first, so that they
    still give (0.5, 0.5), never zeros."""
    try:
        weights = [float(v) for v in values]
    except (TypeError, ValueError):
        raise InputError(f"{what} must be numbers, not {list(values)!r}") from None
    if not weights or not all(math.isfinite(w) and w >= 0 for w in weights) or max(weights) <= 0:
        raise InputError(f"{what} must be non-negative numbers with a positive sum, not {weights}")
    total = sum(weights)
    if math.isfinite(total):
        return [w / total for w in weights]
    top = max(weights)
    scaled = [w / top for w in weights]
    total = sum(scaled)
    return [w / total for w in scaled]


def check_blend_count(weights, count: int) -> None:
    """InputError unless `weights` (None: none given) has one weight per style image: the one
    wording of every front end's refusal."""
    if weights is not None and len(weights) != count:
        def counted(n, noun):
            return f"{n} {noun}" + ("" if n == 1 else "s")
        raise InputError(f"--style-blend has {counted(len(weights), 'weight')} for {counted(count, 'style image')}")


def style_blend(weights, count: int) -> list[float] | None:
    """Blend weights of `count` style images, normalised to sum to 1 (None: none given)."""
    if weights is None:
        return None
    check_blend_count(weights, count)
    return normalized_weights(weights)   # (1e308, 1e308) gives halves, not zeros


def check_fps(value, what: str = "frame rate") -> float:
    """A frame rate both the GIF and the mp4 writer take (FPS_RANGE)."""
    try:
        fps = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number, not {value!r}") from None
    low, high = FPS_RANGE
    if not (math.isfinite(fps) and low <= fps <= high):
        raise InputError(f"{what} must be from {low:.4g} to {high:g} frames per second, not {value}")
    return fps
