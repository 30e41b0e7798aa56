"""The one optimization loop, and coarse-to-fine `stylize` on top of it.

Everything that optimizes pixels (the three parts, the report's experiments, every later
feature) comes through `optimize`: a model with passthrough loss modules, a dict of weights,
an image. Departures from the textbook loop, and why:
- Gradients are taken with `torch.autograd.grad` with respect to the image only, so no
  weight gradients are ever computed or stored.
- L-BFGS uses a strong-Wolfe line search (without one it can overshoot and saturate pixels)
  and zero tolerances (PyTorch's defaults stop silently once the loss gets small, as it does
  with normalised Gram matrices). `num_steps` counts loss evaluations exactly.
- The best image seen is kept, so Ctrl-C or a NaN still returns a finite, useful result.
"""
from __future__ import annotations

import copy
import math
import time
import weakref
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn as nn

from stylekit.optim import winograd
from stylekit.base import color
from stylekit.optim.lean import lean
from stylekit.optim.start import check_init, wct_start
from stylekit.settings import OPTIMIZERS, Settings
from style_and_content import build_model
from utils import LAYER_NAMES
from stylekit.base import interrupt
from stylekit.base.errors import InputError
from stylekit.base.device import autocast_context, resolve_precision
from stylekit.base.tensors import fit_longest, noise_like, resize_tensor
from stylekit.base.limits import check_memory, lbfgs_pairs, resident_bytes



@dataclass
class Result:
    image: torch.Tensor                     # (1, 3, H, W) in [0, 1], finite
    history: list[dict] = field(default_factory=list)  # weighted loss terms per evaluation
    evals: int = 0
    seconds: float = 0.0
    status: str = "done"                    # done | converged | interrupted | nan
    message: str = ""
    plan: list = field(default_factory=list)   # [(longest side, steps)] of stylize's scales
    precision: str = "fp32"

    @property
    def final(self) -> dict:
        """The weighted terms of the image kept: the lowest total among the last scale's
        evaluations, not the last evaluation, which can be a line search's trial point far
        above it (a texture's sidecar once said 479 for an image at 0.1)."""
        if not self.history:
            return {}
        last_scale = [row for row in self.history if row.get("size") == self.history[-1].get("size")]
        return min(last_scale, key=lambda row: row["total"])


class _Stop(Exception):
    """Raised inside the closure to end the optimizer's step early."""

    def __init__(self, status: str, message: str = ""):
        super().__init__(message)
        self.status, self.message = status, message


def optimize(model: nn.Module, losses: dict[str, list[nn.Module]], weights: dict[str, float],
             input_img: torch.Tensor, num_steps: int = 300, *, optimizer: str = "lbfgs",
             lr: float | None = None, precision: str = "fp32",
             callback: Callable[[dict], None] | None = None) -> Result:
    """Minimise sum_k weights[k] * sum(m.loss for m in losses[k]) over the pixels of input_img.

    `input_img` is not modified. `callback(info)` is called after every loss evaluation with
    info = {'step', 'steps', 'terms', 'total', 'image'} ('image' is the evaluated tensor:
    detach or copy it before keeping it).
    """
    if optimizer not in OPTIMIZERS:
        raise InputError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {optimizer!r}")
    if num_steps < 1:
        raise InputError(f"steps must be at least 1, not {num_steps}")
    active = {k: (float(weights.get(k, 0.0)), mods) for k, mods in losses.items()
              if mods and float(weights.get(k, 0.0)) != 0.0}
    if not active:
        raise InputError("nothing to optimize: every loss weight is zero")
    device = input_img.device
    x = input_img.detach().clone().requires_grad_(True)
    result = Result(image=input_img.detach().clamp(0, 1).clone())
    best = {"total": math.inf}
    amp = autocast_context(device, precision)

    def closure():
        if result.evals >= num_steps:
            raise _Stop("done")
        with amp, interrupt.responsive():   # Ctrl-C stops the backward pass too, not only after it
            model(x)
        terms = {k: w * sum(m.loss for m in mods) for k, (w, mods) in active.items()}
        total = sum(terms.values())
        if not torch.isfinite(total):
            raise _Stop("nan", "the loss became " + str(total.item()))
        grad, = torch.autograd.grad(total, x)
        x.grad = grad.contiguous()   # channels-last convolutions hand back a channels-last gradient
        result.evals += 1
        row = {k: v.item() for k, v in terms.items()}
        row["total"] = total.item()
        result.history.append(row)
        if row["total"] < best["total"]:
            best["total"] = row["total"]
            result.image = x.detach().clamp(0, 1).clone()
        if callback is not None:
            callback({"step": result.evals, "steps": num_steps, "terms": row,
                      "total": row["total"], "image": x.detach()})
        return total.detach()

    start = time.perf_counter()
    try:
        if optimizer == "lbfgs":
            _run_lbfgs(x, closure, num_steps, result, lr or 1.0)
        else:
            _run_adam(x, closure, num_steps, lr or 0.02)
    except _Stop as stop:
        result.status, result.message = stop.status, stop.message
    except KeyboardInterrupt:
        result.status = "interrupted"
    result.seconds = time.perf_counter() - start
    return result


def _run_lbfgs(x, closure, num_steps, result, lr):
    opt = torch.optim.LBFGS([x], lr=lr, max_iter=num_steps, max_eval=num_steps + 25,
                            tolerance_grad=0.0, tolerance_change=0.0, history_size=lbfgs_pairs(x.numel() // x.shape[1]),
                            line_search_fn="strong_wolfe")
    while result.evals < num_steps:
        before = result.evals
        opt.step(closure)
        if result.evals - before <= 1:
            # The line search found no lower point along a fresh direction: a true minimum
            # (or a flat region) for this image; spending more evaluations changes nothing.
            result.status = "converged"
            return


def _run_adam(x, closure, num_steps, lr):
    opt = torch.optim.Adam([x], lr=lr)
    # The textbook's step schedule: shrink the step as the image settles.
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, num_steps // 5), gamma=0.6)
    for _ in range(num_steps):
        closure()
        opt.step()
        sched.step()
        with torch.no_grad():
            x.clamp_(0, 1)


# ---------------------------------------------------------------------------------------
# Coarse-to-fine stylisation
# ---------------------------------------------------------------------------------------

# On CPU the engine optimizes through a copy of the network laid out for speed
# (BENCHMARKS.md): channels-last, which oneDNN's AVX-512 convolutions prefer, and, in fp32
# where torch's kernels are AVX2 (oneDNN has no Winograd there), the wide 3x3 layers by
# Winograd's F(4x4, 3x3). The image itself stays NCHW.
CHANNELS_LAST_ON_CPU = True
WINOGRAD_ON_AVX2 = True
_fast_copies: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# From this many pixels a scale in fp32 on the CPU runs layers that keep less for the backward
# pass (`lean`): at 2048x1536 a lower peak and shorter evaluations; at 1024x768, which stays as
# it was, they saved little and cost time. (Measured on CPUs only; a GPU keeps its own way.)
LEAN_FROM_PIXELS = 1_500_000


def runs_lean(device: torch.device, precision: str, pixels: int) -> bool:
    """Whether a scale of `pixels` pixels runs the layers that keep less (`lean`)."""
    return device.type == "cpu" and precision == "fp32" and pixels >= LEAN_FROM_PIXELS


def uses_winograd(device: torch.device, precision: str) -> bool:
    return (WINOGRAD_ON_AVX2 and device.type == "cpu" and precision == "fp32"
            and torch.backends.cpu.get_cpu_capability() == "AVX2")


def for_speed(cnn: nn.Module, device: torch.device, precision: str = "fp32") -> nn.Module:
    """The network laid out for the fastest convolutions on `device` in `precision` (a cached copy, or itself)."""
    if device.type != "cpu":
        return cnn
    key = (CHANNELS_LAST_ON_CPU, uses_winograd(device, precision))
    if key == (False, False):
        return cnn
    copies = _fast_copies.setdefault(cnn, {})
    if key not in copies:
        fast = copy.deepcopy(cnn)
        if CHANNELS_LAST_ON_CPU:
            fast = fast.to(memory_format=torch.channels_last)
        copies[key] = winograd.winograd_copy(fast) if key[1] else fast
    return copies[key]


def winograd_bytes(cfg: Settings, device: torch.device) -> int:
    """Memory for the Winograd filter banks a run of `cfg` on `device` will make (0 if none)."""
    used = cfg.content_layers + cfg.style_layers + cfg.hist_layers
    if not used or not uses_winograd(device, resolve_precision(cfg.precision, device)):
        return 0
    return winograd.vgg19_filter_bytes(max(used, key=LAYER_NAMES.index))


def _check_memory(reference: torch.Tensor, styles: list[torch.Tensor], side: int, style_scale: float, device,
                  precision: str, extra: int = 0) -> None:
    """Refuse (InputError) a finest scale the machine cannot hold, before any work: the CLI
    checks from the files' headers (`jobs.check_memory_for`); this guards library callers.
    What the process holds already (the network, the loaded images) counts as spent."""
    height, width = fit_longest(reference, side)
    style_side = max(1, round(side * style_scale))
    style_pixels = sum(h * w for h, w in (fit_longest(s, style_side) for s in styles))
    held = resident_bytes() if device.type == "cpu" else 0
    check_memory("optimization", width * height, style_pixels, extra=extra - held, device=device,
                 lean=runs_lean(device, precision, width * height),
                 what=f"the optimization at {width}x{height} px", hint="ask for a smaller Settings.size")


def _inputs_at(side: int, style_scale: float, reference: torch.Tensor, content: torch.Tensor | None,
               styles: list[torch.Tensor], masks: list[torch.Tensor] | None):
    """The run's inputs at a scale whose longest side is `side`: (shape, content, styles at
    `style_scale` of the side, masks)."""
    shape = fit_longest(reference, side)
    content_s = resize_tensor(content, shape) if content is not None else None
    style_side = max(1, round(side * style_scale))
    styles_s = [resize_tensor(s, fit_longest(s, style_side)) for s in styles]
    masks_s = None if masks is None else [resize_tensor(m, shape).clamp(0, 1) for m in masks]
    return shape, content_s, styles_s, masks_s


def stylize(cnn: nn.Module, content: torch.Tensor | None, styles, settings: Settings, *,
            style_masks=None, callback: Callable[[dict], None] | None = None,
            init_image: torch.Tensor | None = None, temporal_target: torch.Tensor | None = None,
            temporal_mask: torch.Tensor | None = None, temporal_weight: float = 0.0) -> Result:
    """Optimize an image to match `content` (features) and `styles` (Gram matrices), as `settings` say.

    content: (1, 3, H, W) in [0, 1] or None (texture synthesis: the output takes the first
    style image's shape). styles: a tensor, a list of tensors, or None (reconstruction).
    settings.size is the output's longest side (None: the reference image's); above 256 px the
    work is done coarse to fine.
    style_masks: one soft mask (1, 1, H, W) per style (spatial control).
    init_image: start from this image (resized to the first scale) instead of `settings.init`
    (video: the previous output frame, warped or not). temporal_target, temporal_mask: the
    previous output frame warped to this one and its reliability mask (1, 1, H, W), for the
    temporal loss weighted by `temporal_weight` (see `style_and_content.TemporalLoss`).
    Returns the `Result` of the finest scale, with the history of all scales.
    """
    if isinstance(styles, torch.Tensor):
        styles = [styles]
    styles = list(styles or [])
    cfg = settings.for_inputs(content is not None, bool(styles))
    init, preserve_color = cfg.init, cfg.preserve_color
    reference = content if content is not None else (styles[0] if styles else None)
    if reference is None:
        raise InputError("need a content image, a style image, or both")
    if init == "content" and content is None:
        init = "noise"
    check_init(init, content is not None, bool(styles))
    if temporal_weight != 0 and temporal_target is None:
        raise InputError("a temporal weight needs a temporal target (the warped previous frame)")
    if preserve_color is not None and content is None:
        raise InputError("colour preservation needs a content image")
    original_content = content
    content, styles = color.prepare(content, styles, preserve_color)
    device = reference.device
    precision = resolve_precision(cfg.precision, device)
    vgg, cnn = cnn, for_speed(cnn, device, precision)
    plan = cfg.plan(max(reference.shape[-2:]))
    _check_memory(reference, styles, plan[-1][0], cfg.style_scale, device, precision, winograd_bytes(cfg, device))
    weights = {"content": cfg.content_weight, "style": cfg.style_weight, "tv": cfg.tv_weight, "hist": cfg.hist_weight,
               "temporal": temporal_weight}

    x = None
    history: list[dict] = []
    total_seconds, total_evals = 0.0, 0
    for index, (side, n_steps) in enumerate(plan):
        shape, content_s, styles_s, masks_s = _inputs_at(side, cfg.style_scale, reference, content, styles,
                                                         style_masks)
        temporal = None
        if temporal_weight != 0:
            mask = torch.ones_like(temporal_target[:, :1]) if temporal_mask is None else temporal_mask
            temporal = (resize_tensor(temporal_target, shape), resize_tensor(mask, shape).clamp(0, 1))
        style_layers, layer_weights = cfg.layers_at(index)
        model, losses = build_model(cnn, content_s, styles_s, content_layers=cfg.content_layers,
                                    style_layers=style_layers, hist_layers=cfg.hist_layers,
                                    style_blend=cfg.style_blend, style_masks=masks_s, tv=cfg.tv_weight != 0,
                                    temporal=temporal, style_normalize=cfg.style_normalize,
                                    style_layer_weights=layer_weights)
        if runs_lean(device, precision, shape[0] * shape[1]):
            lean(model, losses)
        if x is None and init == "wct" and init_image is None:
            # After the first model, whose layers refuse images too small for them. Made at the
            # second scale's size (the only one's) and brought down to the first: made at the
            # first's own size, the runs ended up to 10% further from the photo.
            _, *inputs = _inputs_at(plan[min(1, len(plan) - 1)][0], cfg.style_scale, reference, content, styles,
                                    style_masks)
            init_image = wct_start(cfg, vgg, *inputs, precision)
        if x is None and init_image is not None:
            x = resize_tensor(init_image, shape).clamp(0, 1)
        elif x is None:
            x = content_s.clone() if init == "content" else noise_like(torch.empty(1, 3, *shape, device=device), cfg.seed)
        else:
            x = torch.nn.functional.interpolate(x, size=shape, mode="bicubic", align_corners=False).clamp(0, 1)

        def report(info, index=index, side=side):
            if callback is not None:
                callback({**info, "scale": index, "scales": len(plan), "size": side})

        result = optimize(model, losses, weights, x, n_steps, optimizer=cfg.optimizer, lr=cfg.lr,
                          precision=precision, callback=report)
        for row in result.history:
            row["size"] = side
        history += result.history
        total_seconds += result.seconds
        total_evals += result.evals
        x = result.image
        if result.status in ("interrupted", "nan"):
            break
    if preserve_color == "luminance":
        result.image = color.with_content_chroma(result.image, original_content)
    result.history, result.seconds, result.evals = history, total_seconds, total_evals
    result.plan = plan
    result.precision = precision
    return result
