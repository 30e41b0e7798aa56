"""One run from files to files: load the images, stylize, save PNG + JSON sidecar + loss plot.

The CLI, the report's experiments and the benchmark all describe a run as a `Job` (inputs,
output, `Settings`) and hand it to `run_job`; the sidecar records the inputs and every
setting, so a result can be reused when a later job asks for the same (`reusable`).
"""
from __future__ import annotations

import contextlib
import platform
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch

from utils import LAYER_NAMES, min_image_side
from stylekit.base.device import resolve_precision
from stylekit.base.errors import InputError, PartlyWritten
from stylekit.base.figures import plot_losses
from stylekit.base.files import file_sha256, read_json, sidecar_path
from stylekit.base.images import DEFAULT_MAX_PIXELS, fit_size, image_size
from stylekit.base.tensors import load_mask
from stylekit.base.limits import check_memory, scaled_style_side
from stylekit.base.plan import Numbered, check_plan
from stylekit.optim.engine import Result, runs_lean, stylize, winograd_bytes
from stylekit.settings import Settings
from utils import load_image, save_image


@dataclass
class Job:
    """One run from files to files: the inputs, where the picture goes, and its `Settings`."""
    out: Path
    settings: Settings = field(default_factory=Settings)
    content: Path | None = None
    styles: list[Path] = field(default_factory=list)
    mask: Path | None = None           # spatial control: regions for the style images
    max_pixels: int = DEFAULT_MAX_PIXELS
    save_every: int | None = None      # also save the current image every N evaluations

    def __post_init__(self):
        self.out = Path(self.out)
        self.content = Path(self.content) if self.content else None
        self.styles = [Path(s) for s in self.styles]
        self.mask = Path(self.mask) if self.mask else None
        self.settings = self.settings.for_inputs(self.content is not None, bool(self.styles))
        if self.mask and not self.content:
            raise InputError("a mask needs a content image")
        if self.out.suffix.lower() != ".png":
            raise InputError(f"output must be a .png file, not {self.out.name!r}")

    def recorded(self) -> dict:
        """What determines the picture (not where it goes, nor how it is watched): the
        sidecar's `settings`, compared field for field when a later run could reuse it."""
        return {"content": str(self.content) if self.content else None, "styles": [str(s) for s in self.styles],
                "mask": str(self.mask) if self.mask else None, **asdict(self.settings)}

    def input_hashes(self) -> dict[str, str]:
        """The sha256 of each image the run reads, by path: a later run reuses this one's picture
        only if the files are still what they were (a photo copied over another by name kept
        the old picture, labelled as the new one's)."""
        return {str(p): file_sha256(p) for p in self.inputs}

    @property
    def inputs(self) -> list[Path]:
        return [p for p in (self.content, *self.styles, self.mask) if p is not None]

    def outputs(self) -> list[Path | Numbered]:
        """Every file the run writes: the picture, its sidecar, the loss plot and, with
        `save_every`, the numbered snapshots (their count is known only as the run goes)."""
        files: list[Path | Numbered] = [self.out, sidecar_path(self.out), losses_path(self.out)]
        if self.save_every:
            files.append(self.snapshots())
        return files

    def snapshots(self) -> Numbered:
        """The numbered snapshots `save_every` writes, OUT_stepNNNN.png."""
        most = sum(n for _, n in self.plan) if self.settings.size else 10 * self.settings.steps   # digits
        return Numbered(self.out.parent, re.escape(self.out.stem) + r"_step\d{4,}\.png",
                        snapshot_path(self.out, most), f"{self.out.stem}_stepNNNN.png")

    def read_files(self) -> list[Path]:
        """Every file the run reads: the images, and the VGG weights when they are a file."""
        weights = Path(self.settings.weights)
        return self.inputs + ([weights] if self.settings.weights not in ("original", "torchvision") else [])

    @property
    def plan(self) -> list[tuple[int, int]]:
        return self.settings.plan(self.settings.size)


# Fields added after results were first cached, with their defaults: a sidecar written
# before a field existed was made with that default, and stays reusable.
_ADDED_LATER = {"style_normalize": False, "style_layer_weights": {}, "finer_steps": 0.5, "coarsest": 128,
                "coarse_only_layers": []}


def losses_path(out: Path) -> Path:
    return out.with_name(out.stem + "_losses.png")


def check_out(out: Path, inputs) -> None:
    """Refuse an output that would overwrite one of the inputs, or that is a folder: the
    picture, its sidecar and its loss plot (`base.plan.check_plan`)."""
    check_plan([out, sidecar_path(out), losses_path(out)], inputs)


def check_memory_for(job: Job, device) -> int:
    """Refuse, from the images' headers and before anything is loaded, a job whose output or
    style working size the machine cannot hold (`base.limits`). Returns the estimate."""
    cfg = job.settings
    content = image_size(job.content, job.max_pixels) if job.content else None
    styles = [image_size(p, job.max_pixels) for p in job.styles]
    reference = content or (styles[0] if styles else None)
    if reference is None:
        return 0
    width, height = fit_size(*reference, cfg.size)
    style_side = scaled_style_side(max(width, height), cfg.style_scale)
    worked = [fit_size(w, h, style_side) for w, h in styles]
    style_pixels = sum(w * h for w, h in worked)
    # The files themselves, decoded: the styles as float tensors at their own size, the content in 8 bits.
    originals = 16 * sum(w * h for w, h in styles) + (4 * content[0] * content[1] if content else 0)
    device = torch.device(device) if isinstance(device, str) else device
    extra = originals + winograd_bytes(cfg, device)
    lean = runs_lean(device, resolve_precision(cfg.precision, device), width * height)
    shown = f" (style {worked[0][0]}x{worked[0][1]} px)" if worked else ""
    return check_memory("optimization", width * height, style_pixels, extra=extra, device=device, lean=lean,
                        what=f"the optimization at {width}x{height} px{shown}",
                        hint="use a smaller --size" + (" or --style-scale" if worked else ""))


def _needed_side(layers) -> tuple[int, str | None]:
    deepest = max(layers, key=LAYER_NAMES.index, default=None)
    return (min_image_side(deepest), deepest) if deepest else (1, None)


def reusable(job: Job, device: torch.device) -> dict | None:
    """The sidecar of an earlier, finished run with exactly these settings, if there is one."""
    meta = read_json(sidecar_path(job.out))
    if not meta or meta.get("status") not in ("done", "converged") or not job.out.exists():
        return None
    want = job.recorded()
    want["precision"] = resolve_precision(job.settings.precision, device)
    have = {**_ADDED_LATER, **meta.get("settings", {})}
    if have != want:
        return None
    try:   # sidecars written before the hashes were recorded compare by settings alone
        same_files = "input_sha256" not in meta or meta["input_sha256"] == job.input_hashes()
    except OSError:
        return None
    return meta if same_files else None


def snapshot_path(out: Path, evals: int) -> Path:
    return out.with_name(f"{out.stem}_step{evals:04d}.png")


def _with_snapshots(job: Job, callback: Callable[[dict], None] | None,
                    written: list[Path]) -> Callable[[dict], None] | None:
    """`callback`, and with `job.save_every` the image saved every that many evaluations and
    at each change of scale (the last image of the coarser scale, upsampled); each snapshot's
    path is appended to `written`."""
    if not job.save_every:
        return callback
    seen = {"count": 0, "scale": None}

    def each(info):
        if callback is not None:
            callback(info)
        seen["count"] += 1
        new_scale = info["scale"] != seen["scale"]
        if seen["count"] % job.save_every == 0 or (new_scale and seen["count"] > 1):
            path = snapshot_path(job.out, seen["count"])
            save_image(info["image"].clamp(0, 1), path)
            written.append(path)
        seen["scale"] = info["scale"]
    return each


def _remove_stale_snapshots(job: Job, written: list[Path]) -> None:
    """An earlier run to the same --out left snapshots this one did not write (another --steps
    or --save-every): they are that run's files, replaced by this one's as its picture is, and
    kept they would read as this run's frames."""
    if not job.save_every:
        return
    family, keep = job.snapshots(), {p.name for p in written}
    for path in job.out.parent.iterdir():
        if path.name not in keep and family.matches(path) and path.is_file():
            path.unlink(missing_ok=True)


def run_job(job: Job, cnn, device: torch.device, callback: Callable[[dict], None] | None = None) -> Result:
    """Load, optimize, save. `callback` gets the engine's per-evaluation info."""
    check_plan(job.outputs(), job.read_files())
    check_memory_for(job, device)
    cfg = job.settings
    # A tiny file scaled up to --size carries nothing for the deep layers: refuse it as it is.
    # The output takes the content's shape, so every layer used must fit the content image.
    side, layer = _needed_side(cfg.content_layers + cfg.style_layers + cfg.hist_layers)
    content = (load_image(job.content, cfg.size, device, job.max_pixels, min_side=side, layer=layer)
               if job.content else None)
    side, layer = _needed_side(cfg.style_layers + cfg.hist_layers)
    # Styles at their own resolution: `stylize` resizes them once per scale, by one filter, so
    # every scale's Gram targets come from the original (not from a copy resized before).
    styles = [load_image(p, None, device, job.max_pixels, min_side=side, layer=layer) for p in job.styles]
    masks = None
    if job.mask:
        masks = [m.to(device) for m in load_mask(job.mask, tuple(content.shape[-2:]), len(styles), job.max_pixels,
                                                 image_size(job.content, job.max_pixels))]
    hashes = job.input_hashes()   # of the files as read, before the run's minutes
    snapshots: list[Path] = []
    result = stylize(cnn, content, styles, cfg, style_masks=masks, callback=_with_snapshots(job, callback, snapshots))
    if result.evals == 0 and result.status in ("interrupted", "nan"):
        return result   # nothing computed (the start image): an earlier run's picture at `out` stays
    settings = job.recorded()
    settings["precision"] = result.precision
    meta = {
        "settings": settings, "input_sha256": hashes, "status": result.status, "message": result.message,
        "output_size": list(result.image.shape[-2:][::-1]), "plan": result.plan,
        "evals": result.evals, "snapshots": [p.name for p in snapshots], "wall_seconds": round(result.seconds, 2),
        "final_losses": result.final, "device": str(device), "torch": torch.__version__,
        "machine": platform.machine(), "threads": torch.get_num_threads(),
        "command": " ".join(sys.argv),
    }
    save_image(result.image, job.out, meta)
    if result.history:
        try:
            plot_losses(result.history, losses_path(job.out), title=job.out.stem)
        except (InputError, OSError) as exc:   # an earlier run's plot beside this run's picture would mislead
            with contextlib.suppress(OSError):
                losses_path(job.out).unlink(missing_ok=True)
            words = str(exc) if isinstance(exc, InputError) else f"cannot write {losses_path(job.out)}: {exc}"
            raise PartlyWritten(f"{words}; the picture and its record are in {job.out.name}, "
                             f"{sidecar_path(job.out).name}") from None
    _remove_stale_snapshots(job, snapshots)
    return result
