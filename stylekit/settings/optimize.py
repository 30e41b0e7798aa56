"""The typed settings of an optimization run, with named presets: the one place its defaults live.

Every front end (run.py, the toolkit's commands, the report, the benchmark, video) builds a
`Settings` and hands it whole to the engine (`optim.engine.stylize`) or to a file-to-file run
(`optim.jobs.Job`). The field defaults are the assignment's (`run_optimization`'s): style
weight 1e6, the content loss at conv4_2, the style losses at conv1_1 ... conv5_1. The presets
`part1`, `part2` and `part3` are what `run.py --part N` starts from.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from stylekit.base.errors import InputError
from stylekit.base.numbers import check_float, check_lr, check_seed, normalized_weights
from stylekit.settings.common import COLOR_MODES, PRECISIONS, flag, graded_modules, split_layers

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise", "wct")
MULTISCALE = {"auto": None, "on": True, "off": False}
# Risser et al. 2017 put their histogram losses at relu1_1 and relu4_1.
HIST_LAYERS_DEFAULT = ("relu1_1", "relu4_1")


# multiscale "auto": coarse to fine for outputs larger than this (px, longest side).
MULTISCALE_ABOVE = 256


def scale_schedule(longest: int, steps: int, min_size: int = 128, multiscale: bool | None = None,
                   finer: float = 0.5) -> list[tuple[int, int]]:
    """[(longest side, evaluations)] from coarse to fine: `steps` at the coarsest scale, then
    each scale x2 the previous with `finer` times the previous scale's evaluations (it starts
    from the coarser result upsampled, and an evaluation costs 4x), never fewer than a fifth
    of `steps`. The sides halve from `longest` while they stay at least `min_size`."""
    if multiscale is None:
        multiscale = longest > MULTISCALE_ABOVE
    sizes = [longest]
    while multiscale and sizes[0] / 2 >= min_size:
        sizes.insert(0, round(sizes[0] / 2))
    floor = max(1, steps // 5)
    return [(side, steps if i == 0 else max(floor, math.floor(steps * finer ** i))) for i, side in enumerate(sizes)]


@dataclass
class Settings:
    """What determines an optimized picture, apart from the images themselves."""
    part: int = 3                      # 1 reconstruction, 2 texture, 3 transfer (recorded, for the file names)
    size: int | None = 256             # longest side of the output, px (None: the input's own)
    steps: int = 300                   # loss evaluations at the coarsest scale
    finer_steps: float = 0.5           # each finer scale's evaluations, a fraction of the scale before's
    coarsest: int = 128                # coarse to fine: the sides halve down to no less than this, px
    init: str = "content"              # content | noise | wct (the photo stylised in one pass)
    seed: int = 0                      # of the noise image
    content_weight: float = 1.0
    style_weight: float = 1e6
    tv_weight: float = 0.0
    hist_weight: float = 0.0
    content_layers: list[str] = field(default_factory=lambda: list(graded_modules()[0].content_layers_default))
    style_layers: list[str] = field(default_factory=lambda: list(graded_modules()[0].style_layers_default))
    style_normalize: bool = False      # each style layer's loss relative to its target
    style_layer_weights: dict[str, float] = field(default_factory=dict)  # {layer: weight}, others 1
    coarse_only_layers: list[str] = field(default_factory=list)  # style layers left out after the coarsest scale
    hist_layers: list[str] = field(default_factory=lambda: list(HIST_LAYERS_DEFAULT))
    style_blend: list[float] | None = None   # weights of several style images (default equal)
    preserve_color: str | None = None  # None | luminance | histogram
    style_scale: float = 1.0           # style image size relative to the output
    optimizer: str = "lbfgs"
    lr: float | None = None            # None: 1 for L-BFGS, 0.02 for Adam
    precision: str = "auto"            # auto | fp32 | bf16
    multiscale: str = "auto"           # auto | on | off
    weights: str = "original"          # which VGG-19 weights

    def __post_init__(self):
        utils = graded_modules()[1]
        self.style_layers, self.style_layer_weights = split_layers(self.style_layers, self.style_layer_weights)
        self.content_layers = utils.resolve_layers(self.content_layers)
        self.style_layers = utils.resolve_layers(self.style_layers)
        self.hist_layers = utils.resolve_layers(self.hist_layers)
        self.coarse_only_layers = utils.resolve_layers(self.coarse_only_layers)
        for option, layers in (("--content-layers", self.content_layers), ("--style-layers", self.style_layers),
                               ("--hist-layers", self.hist_layers)):
            twice = sorted({n for n in layers if layers.count(n) > 1})
            if twice:   # its loss counted twice; a `:weight` says that
                raise InputError(f"{option}: {', '.join(twice)} is given twice (a :weight scales a layer's loss)")
        stray = [n for n in self.coarse_only_layers if n not in self.style_layers]
        if stray and self.style_layers and self.style_weight:
            raise InputError(f"coarse-only layers {', '.join(stray)} are not style layers "
                             f"({', '.join(self.style_layers)})")
        if self.style_layers and set(self.style_layers) <= set(self.coarse_only_layers):
            raise InputError("every style layer is coarse-only: the finer scales would have no style loss")
        self.style_layer_weights = {utils.resolve_layer(k): check_float(v, f"the weight of {k}")
                                    for k, v in self.style_layer_weights.items()}
        if self.style_weight and self.style_layers and not any(self.style_layer_weights.get(n, 1.0)
                                                               for n in self.style_layers):
            # the style loss would be 0 whatever the picture: the run would "converge" on its start
            raise InputError(f"every style layer's weight is 0 ({', '.join(self.style_layers)}): give one a "
                             f"weight above 0, or --style-weight 0")
        for name, value, allowed in (("init", self.init, INITS), ("optimizer", self.optimizer, OPTIMIZERS),
                                     ("precision", self.precision, PRECISIONS),
                                     ("multiscale", self.multiscale, tuple(MULTISCALE)),
                                     ("preserve_color", self.preserve_color, (None, *COLOR_MODES))):
            if value not in allowed:
                shown = ", ".join(str(a) for a in allowed if a is not None)
                raise InputError(f"{flag(name)} must be one of {shown}, not {value!r}")
        if (self.size is not None and self.size < 1) or self.steps < 1:
            raise InputError("size and steps must be positive")
        if self.coarsest < 1:
            raise InputError(f"--coarsest must be a positive number of px, not {self.coarsest}")
        used = ((self.content_layers if self.content_weight else []) + (self.style_layers if self.style_weight else [])
                + (self.hist_layers if self.hist_weight else []))
        deepest = max(used, key=utils.min_image_side, default=None)
        if deepest and self.coarsest < utils.min_image_side(deepest):
            raise InputError(f"--coarsest must be at least {utils.min_image_side(deepest)} px, the least {deepest} "
                             f"takes, not {self.coarsest}")
        if not 0 < self.finer_steps <= 1:
            raise InputError(f"--finer-steps must be above 0 and at most 1, not {self.finer_steps}")
        # Numbers within what the arithmetic they go to holds (base.numbers), as on the command line.
        check_seed(self.seed)
        for name in ("content_weight", "style_weight", "tv_weight", "hist_weight"):
            check_float(getattr(self, name), flag(name))
        check_float(self.style_scale, "--style-scale", positive=True)
        if self.lr is not None:
            check_lr(self.lr, "--lr")
        if self.style_blend is not None:
            self.style_blend = normalized_weights(self.style_blend, "--style-blend")

    @classmethod
    def preset(cls, name: str, **changes) -> Settings:
        """The preset `name` with `changes` on top; a change of None keeps the preset's value."""
        if name not in PRESETS:
            raise InputError(f"no preset {name!r}; there are {', '.join(PRESETS)}")
        given = {k: v for k, v in changes.items() if v is not None}
        if "style_layers" in given:   # a preset's layer weights and coarse-only layers belong to its own layers
            given.setdefault("style_layer_weights", {})
            given.setdefault("coarse_only_layers", [])
        return cls(**{**PRESETS[name], **given})

    def replace(self, **changes) -> Settings:
        return dataclasses.replace(self, **changes)

    def for_inputs(self, has_content: bool, has_styles: bool) -> Settings:
        """The same settings with the layers of losses that cannot apply emptied: no content
        loss without a content image or weight, no style or histogram loss without styles."""
        use_content = has_content and self.content_weight != 0
        use_style = has_styles and self.style_weight != 0
        return self.replace(content_layers=self.content_layers if use_content else [],
                            style_layers=self.style_layers if use_style else [],
                            style_layer_weights=self.style_layer_weights if use_style else {},
                            coarse_only_layers=self.coarse_only_layers if use_style else [],
                            hist_layers=self.hist_layers if has_styles and self.hist_weight else [])

    @property
    def multiscale_flag(self) -> bool | None:
        return MULTISCALE[self.multiscale]

    def plan(self, reference_longest: int) -> list[tuple[int, int]]:
        """[(longest side, evaluations)] of each scale, for a reference image whose longest
        side is `reference_longest` px (used when `size` is None)."""
        return scale_schedule(self.size or reference_longest, self.steps, self.coarsest, self.multiscale_flag,
                              self.finer_steps)

    def layers_at(self, scale: int) -> tuple[list[str], dict[str, float]]:
        """The style layers and their weights at scale `scale` (0 the coarsest)."""
        if scale == 0 or not self.coarse_only_layers:
            return self.style_layers, self.style_layer_weights
        kept = [n for n in self.style_layers if n not in self.coarse_only_layers]
        return kept, {k: v for k, v in self.style_layer_weights.items() if k in kept}


TRANSFER_STYLE_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]

PRESETS: dict[str, dict] = {
    # The assignment's defaults, as `run_optimization` has them; the report's experiments use these.
    "assignment": {},
    "part1": dict(part=1, init="noise", content_weight=1.0, style_weight=0.0, steps=300),
    "part2": dict(part=2, init="noise", content_weight=0.0, style_weight=1e6, steps=300),
    # Transfer: the style losses on the rectified activations (the ReLUs of Gatys et al.'s Caffe
    # model work in place, so their "conv1_1" is relu1_1), each relative to its target so every
    # layer counts alike; relu5_1 at a tenth, since counted fully it paints a structured
    # painting's composition over the photo. 200 evaluations do as well as 300, and cheaper
    # coarse-to-fine plans lost style on the Great Wave (BENCHMARKS.md, "The plan"). The content
    # loss on relu4_2 too (Gatys et al.'s "conv4_2", rectified in place): on conv4_2 the content term
    # left an 8 px checker in flat skies, relu4_2 does not; 2.5 keeps the photo about as well.
    # The run starts from the photo stylised in one pass (WCT), which has the painting's colours
    # and strokes already: 100 evaluations at the coarsest scale and 0.7 as many at each finer
    # one (384 px: 192x100 -> 384x70) end as near the photo and the painting as 192x200 ->
    # 384x75 from the photo did, at two thirds to three quarters of its time; without a coarse
    # scale the Great Wave lost its large crests (BENCHMARKS.md, "Starting from the one-pass picture").
    "part3": dict(part=3, init="wct", content_weight=2.5, content_layers=["relu4_2"], style_weight=1e3,
                  style_normalize=True, steps=100, finer_steps=0.7,
                  style_layers=TRANSFER_STYLE_LAYERS, style_layer_weights={"relu5_1": 0.1}),
}
