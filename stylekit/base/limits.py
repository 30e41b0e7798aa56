"""What a run can compute: the smallest picture each method takes, and the memory a run of a
given size needs, checked against what the machine has before any work starts.

Every front end asks here before it loads or computes anything: `check_side` with the sides
of the picture a method will work on, `check_memory` with its number of pixels. Both raise
InputError (one line, exit 2) naming the method, the figure and the flag to change.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

# The smallest side, in px, each method takes (found by trying every side from 1 up).
MIN_SIDE = {
    # The style and texture networks: the first layer's 9x9 convolution pads by reflection
    # (4 px), which needs a side of more than 4 px.
    "fast": 5,
    "texture": 5,
    # OpenCV's DIS optical flow (medium preset) refuses frames under 8 px and crashes the
    # process (segmentation fault) on frames 8 to 15 px high and 48 px or more wide.
    "video": 16,
    # Every VGG-19 layer down to pool5, which needs 2 px after four 2x poolings.
    "inspect": 32,
}
METHOD_NAMES = {"fast": "the style network", "texture": "the texture network", "video": "the video's optical flow",
                "inspect": "every VGG-19 layer (--inspect)", "optimization": "the optimization",
                "adain": "AdaIN", "wct": "the whitening and colouring transform (WCT)",
                "wct-lite": "the whitening and colouring transform on the narrow encoder (WCT lite)", "train-fast": "training a style network", "train-texture": "training a texture network",
                "train-adain": "training the AdaIN decoder"}


MAX_SIDE = 100_000   # px: no machine holds a larger picture


def scaled_style_side(side: int, style_scale: float, least: int = 1) -> int:
    """The painting's longest side for an output of `side` px at `--style-scale`, refused beyond
    MAX_SIDE (1e30 gave a memory estimate in the septillions of GB)."""
    scaled = side * style_scale
    if scaled > MAX_SIDE:
        raise InputError(f"--style-scale {style_scale:g} makes the painting {scaled:.3g} px on its longest side at "
                         f"{side} px, more than the largest side taken, {MAX_SIDE:,} px")
    return max(least, round(scaled))


def check_side(width: int, height: int, method: str, what: str = "the picture") -> None:
    """Refuse a picture of width x height px that is too small for `method` (MIN_SIDE)."""
    need = MIN_SIDE[method]
    if min(width, height) < need:
        raise InputError(f"{what} is {width}x{height} px, too small for {METHOD_NAMES[method]}: "
                         f"it needs at least {need} px on each side")


# ---------------------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cost:
    """Peak memory of a run ~ base + per_pixel * pixels + per_style_pixel * style pixels, or,
    where the painting is much larger than the picture, the pass that reads the painting alone
    (base + style_pass_per_pixel * style pixels), whichever is more."""
    base: float              # bytes: the interpreter, torch, the networks' weights
    per_pixel: float         # bytes per pixel of the output (of all the crops of a batch, training)
    per_style_pixel: float = 0.0   # bytes per pixel of the style image at its working size
    lean_per_pixel: float | None = None   # per pixel where the run keeps less for its backward pass
    style_pass_per_pixel: float = 0.0   # the painting's own pass through the network, per its pixel


GB = 1e9
# L-BFGS keeps this many pairs of (step, gradient change), 24 B per pixel each (two fp32 RGB
# images), but no more than about LBFGS_BYTES of them: at 2048 px fifty would take 3.8 GB.
LBFGS_PAIRS, LBFGS_BYTES, LBFGS_MIN_PAIRS = 50, 1 * GB, 5


def lbfgs_pairs(pixels: int) -> int:
    """How many history pairs L-BFGS keeps when it optimizes an image of `pixels` pixels."""
    return max(LBFGS_MIN_PAIRS, min(LBFGS_PAIRS, int(LBFGS_BYTES // (24 * max(1, pixels)))))


# Fitted, rounded up, to the peak RSS (getrusage of a child) of 23 runs, 2-3 sizes a method; 2 threads, bf16, Xeon.
MEMORY = {
    # 915 B/px at 3 evaluations, 2750 at 80, of which 1200 is L-BFGS's 50 history pairs; the
    # history is added by `estimate` (`lbfgs_pairs`). With the layers that keep less (`optim.lean`,
    # fp32 prints on the CPU) 2048 px prints peaked at 990 B/px, or about 1,180 with the AVX2
    # path's Winograd convolutions, which the lean term covers with 5% to spare: BENCHMARKS.md,
    # "Memory at print size".
    # The painting's own pass: 3.4 and 11.2 GB for a 64 px picture with the painting at 2048 and
    # 4096 px (780 B per its pixel); AdaIN 2.2 / 7.1 GB (490), WCT 3.6 / 11.1 GB (760), training
    # a style network 3.8 / 12.9 GB (910); machine B, fp32 and bf16 alike: BENCHMARKS.md, "Memory
    # when the painting is larger than the picture".
    "optimization": Cost(1.1 * GB, 1550.0, 200.0, lean_per_pixel=1300.0, style_pass_per_pixel=800.0),
    "inspect": Cost(0.65 * GB, 2560.0),           # every layer's activation kept
    "fast": Cost(0.65 * GB, 400.0),
    "texture": Cost(0.7 * GB, 400.0),
    # AdaIN and WCT refitted in fp32 (AMD EPYC, AVX2, 1024 and 2048 px, style at half size),
    # where they peak higher than in bf16: BENCHMARKS.md, "Any painting: ... WCT".
    "adain": Cost(0.87 * GB, 920.0, 10.0, style_pass_per_pixel=500.0),
    "wct": Cost(0.99 * GB, 1490.0, 10.0, style_pass_per_pixel=800.0),
    "wct-lite": Cost(0.99 * GB, 1490.0, 10.0, style_pass_per_pixel=800.0),   # WCT's: a narrow encoder holds less
    # Per pixel of all the crops of a batch (AdaIN: of its content crops; the style crops are as many).
    "train-fast": Cost(1.1 * GB, 3000.0, 200.0, style_pass_per_pixel=950.0),
    "train-texture": Cost(1.1 * GB, 3000.0, 200.0, style_pass_per_pixel=950.0),   # the same code reads it
    "train-adain": Cost(0.95 * GB, 6000.0),
}


# The width (first layer's channels) of the style networks "fast" was measured with. A wider
# network's activations grow with it, and ONNX Runtime's arena (grown in powers of two) more:
# at 2048x1536 the 24-channel network's per-pixel part was 2.5 times the 16-channel one's, so
# `fast` scales the per-pixel term by the square of the ratio (BENCHMARKS.md, "Wider style networks").
MEASURED_NETWORK_WIDTH = 16


def estimate(method: str, pixels: int, style_pixels: int = 0, lean: bool = False) -> int:
    """Bytes a run of `method` needs for an output of `pixels` pixels (MEMORY); `lean`: its
    finest scale runs the layers that keep less (`optim.engine.runs_lean`)."""
    cost = MEMORY[method]
    # Beyond any machine either way; capped so that a 400-digit --size still makes a float.
    pixels, style_pixels = min(pixels, 10 ** 30), min(style_pixels, 10 ** 30)
    history = 24 * pixels * lbfgs_pairs(pixels) if method == "optimization" else 0
    per_pixel = cost.lean_per_pixel if lean and cost.lean_per_pixel is not None else cost.per_pixel
    return int(cost.base + max(per_pixel * pixels + cost.per_style_pixel * style_pixels + history,
                               cost.style_pass_per_pixel * style_pixels))


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_available() -> int | None:
    """What the container's memory limit (cgroup v2) leaves, if it sets one."""
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit == "max":
            return None
        return int(limit) - int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
    except (OSError, ValueError):
        return None


def available_bytes(device="cpu") -> int | None:
    """Memory this process can still take: free GPU memory on a CUDA device; otherwise the
    kernel's MemAvailable, or less under a container's limit. None when nothing says."""
    if getattr(device, "type", str(device)).startswith("cuda"):
        import torch
        return int(torch.cuda.mem_get_info(device)[0])
    known = [b for b in (_meminfo_available(), _cgroup_available()) if b is not None]
    return min(known) if known else None


def resident_bytes() -> int:
    """Memory this process holds now (its resident set), 0 where /proc does not say."""
    import os
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def gigabytes(n: float) -> str:
    return f"{n / GB:.1f} GB" if n < 1000 * GB else f"{n / GB:,.0f} GB"


def check_bytes(need: float, what: str, hint: str, device="cpu") -> None:
    """Refuse a run that needs `need` bytes when the machine has fewer available."""
    have = available_bytes(device)
    if have is not None and need > have:
        raise InputError(f"{what} needs about {gigabytes(need)} of memory, more than the {gigabytes(have)} "
                         f"available here; {hint}")


def check_memory(method: str, pixels: int, style_pixels: int = 0, *, what: str, hint: str,
                 extra: float = 0, device="cpu", lean: bool = False) -> int:
    """Refuse, before any work, a run of `method` at `pixels` output pixels (and `style_pixels`)
    that the machine cannot hold; `extra` bytes are added to the model's estimate (frames of a
    clip, a network's parameters). Returns the estimate."""
    need = estimate(method, pixels, style_pixels, lean) + int(extra)
    check_bytes(need, what, hint, device)
    return need
