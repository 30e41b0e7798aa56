"""One run from files to files: load the images, stylize, save PNG + JSON sidecar + loss plot.

The CLI, the report's experiments and the benchmark all describe a run as a `Job` and hand it
to `run_job`; the sidecar records every field of the job, so a result can be reused when a
later job asks for the same settings (`reusable`).
"""
from __future__ import annotations

import platform
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch

from stylekit.optim.engine import HIST_LAYERS_DEFAULT, Result, scale_schedule, stylize
from stylekit.base.device import resolve_precision
from style_and_content import (LAYER_NAMES, content_layers_default, min_image_side, resolve_layer, resolve_layers,
                               style_layers_default)
from stylekit.base.images import DEFAULT_MAX_PIXELS, load_mask
from stylekit.base.errors import InputError
from stylekit.base.files import check_writable, read_json, sidecar_path
from utils import load_image, save_image
from stylekit.base.figures import plot_losses


@dataclass
class Job:
    out: Path
    content: Path | None = None
    styles: list[Path] = field(default_factory=list)
    part: int = 3
    size: int = 256
    steps: int = 300
    init: str = "content"
    seed: int = 0
    content_weight: float = 1.0
    style_weight: float = 1e6
    tv_weight: float = 0.0
    hist_weight: float = 0.0
    content_layers: list[str] = field(default_factory=lambda: list(content_layers_default))
    style_layers: list[str] = field(default_factory=lambda: list(style_layers_default))
    style_normalize: bool = False      # each style layer's loss relative to its target
    style_layer_weights: dict[str, float] = field(default_factory=dict)  # {layer: weight}, others 1
    hist_layers: list[str] = field(default_factory=lambda: list(HIST_LAYERS_DEFAULT))
    style_blend: list[float] | None = None
    mask: Path | None = None           # spatial control: regions for the style images
    preserve_color: str | None = None  # None | luminance | histogram
    style_scale: float = 1.0
    optimizer: str = "lbfgs"
    lr: float | None = None
    precision: str = "auto"
    multiscale: str = "auto"          # auto | on | off
    weights: str = "original"         # which VGG-19 weights
    max_pixels: int = DEFAULT_MAX_PIXELS
    save_every: int | None = None

    def __post_init__(self):
        self.out = Path(self.out)
        self.content = Path(self.content) if self.content else None
        self.styles = [Path(s) for s in self.styles]
        self.content_layers = resolve_layers(self.content_layers) if self.content and self.content_weight else []
        self.style_layers = resolve_layers(self.style_layers) if self.styles and self.style_weight else []
        self.style_layer_weights = ({resolve_layer(k): float(v) for k, v in self.style_layer_weights.items()}
                                    if self.style_layers else {})
        self.hist_layers = resolve_layers(self.hist_layers) if self.styles and self.hist_weight else []
        self.mask = Path(self.mask) if self.mask else None
        if self.mask and not self.content:
            raise InputError("a mask needs a content image")
        if self.out.suffix.lower() != ".png":
            raise InputError(f"output must be a .png file, not {self.out.name!r}")

    def settings(self) -> dict:
        """What determines the picture (not where it goes, nor how it is watched)."""
        d = asdict(self)
        for key in ("out", "save_every", "max_pixels"):
            d.pop(key)
        d["content"] = str(self.content) if self.content else None
        d["styles"] = [str(s) for s in self.styles]
        d["mask"] = str(self.mask) if self.mask else None
        return d

    @property
    def plan(self) -> list[tuple[int, int]]:
        return scale_schedule(self.size, self.steps, multiscale=_MULTISCALE[self.multiscale])


_MULTISCALE = {"auto": None, "on": True, "off": False}
# Fields added after results were first cached, with their defaults: a sidecar written
# before a field existed was made with that default, and stays reusable.
_ADDED_LATER = {"style_normalize": False, "style_layer_weights": {}}


def losses_path(out: Path) -> Path:
    return out.with_name(out.stem + "_losses.png")


def check_out(out: Path, inputs) -> None:
    """Refuse an output that would overwrite one of the inputs, or that is a folder."""
    written = {out.resolve(), sidecar_path(out).resolve(), losses_path(out).resolve()}
    for path in inputs:
        if path is not None and Path(path).exists() and Path(path).resolve() in written:
            raise InputError(f"output {out} would overwrite the input image {path}")
    check_writable(out)


def _needed_side(layers) -> tuple[int, str | None]:
    deepest = max(layers, key=LAYER_NAMES.index, default=None)
    return (min_image_side(deepest), deepest) if deepest else (1, None)


def reusable(job: Job, device: torch.device) -> dict | None:
    """The sidecar of an earlier, finished run with exactly these settings, if there is one."""
    meta = read_json(sidecar_path(job.out))
    if not meta or meta.get("status") not in ("done", "converged") or not job.out.exists():
        return None
    want = job.settings()
    want["precision"] = resolve_precision(job.precision, device)
    have = {**_ADDED_LATER, **meta.get("settings", {})}
    return meta if have == want else None


def run_job(job: Job, cnn, device: torch.device, callback: Callable[[dict], None] | None = None) -> Result:
    """Load, optimize, save. `callback` gets the engine's per-evaluation info."""
    check_out(job.out, [job.content, *job.styles, job.mask])
    # A tiny file scaled up to --size carries nothing for the deep layers: refuse it as it is.
    # The output takes the content's shape, so every layer used must fit the content image.
    side, layer = _needed_side(job.content_layers + job.style_layers + job.hist_layers)
    content = (load_image(job.content, job.size, device, job.max_pixels, min_side=side, layer=layer)
               if job.content else None)
    side, layer = _needed_side(job.style_layers + job.hist_layers)
    # Styles at their own resolution: `stylize` resizes them once per scale, by one filter, so
    # every scale's Gram targets come from the original (not from a copy resized before).
    styles = [load_image(p, None, device, job.max_pixels, min_side=side, layer=layer) for p in job.styles]
    masks = None
    if job.mask:
        masks = [m.to(device) for m in load_mask(job.mask, tuple(content.shape[-2:]), len(styles), job.max_pixels)]
    result = stylize(cnn, content, styles, size=job.size, steps=job.steps, init=job.init, seed=job.seed,
                     content_weight=job.content_weight, style_weight=job.style_weight,
                     tv_weight=job.tv_weight, hist_weight=job.hist_weight,
                     content_layers=job.content_layers, style_layers=job.style_layers,
                     style_normalize=job.style_normalize, style_layer_weights=job.style_layer_weights,
                     hist_layers=job.hist_layers,
                     style_blend=job.style_blend, style_masks=masks,
                     preserve_color=job.preserve_color, style_scale=job.style_scale, optimizer=job.optimizer, lr=job.lr,
                     precision=job.precision, multiscale=_MULTISCALE[job.multiscale],
                     callback=callback)
    settings = job.settings()
    settings["precision"] = result.precision
    meta = {
        "settings": settings, "status": result.status, "message": result.message,
        "output_size": list(result.image.shape[-2:][::-1]), "plan": result.plan,
        "evals": result.evals, "wall_seconds": round(result.seconds, 2),
        "final_losses": result.final, "device": str(device), "torch": torch.__version__,
        "machine": platform.machine(), "threads": torch.get_num_threads(),
        "command": " ".join(sys.argv),
    }
    save_image(result.image, job.out, meta)
    if result.history:
        plot_losses(result.history, losses_path(job.out), title=job.out.stem)
    return result
