"""The typed settings of a network's training (`nets.training`), with a preset per kind of
network: the one place their defaults live."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from stylekit.base.errors import InputError
from stylekit.base.numbers import check_float, check_lr, check_seed
from stylekit.settings.common import PRECISIONS, flag, graded_modules, split_layers

TRAIN_KINDS = ("style", "texture", "adain", "wct", "student")
FEATURE_LOSSES = ("encoder", "vgg19")


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
    full_size_width: float | None = None   # AdaIN, WCT: the last stage's channels (None: width)
    feature_loss: str = "encoder"      # WCT: the result compared in the features decoded | vgg19's
    res_blocks: int = 5                # residual blocks (style and texture networks)
    save_every: int = 50               # a checkpoint every this many steps
    seed: int = 0                      # of the random crops and the network's first weights
    precision: str = "auto"            # auto | fp32 | bf16
    weights: str = "original"          # which VGG-19 weights

    def __post_init__(self):
        # Names are resolved (which imports torch) only for a flag's string: the presets' are canonical.
        self.style_layers, self.style_layer_weights = split_layers(self.style_layers, self.style_layer_weights)
        if self.content_layer != TrainSettings.content_layer:   # the default is canonical; a flag's name resolves
            self.content_layer = graded_modules()[1].resolve_layer(self.content_layer)
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
        if self.feature_loss not in FEATURE_LOSSES:
            raise InputError(f"--feature-loss must be one of {', '.join(FEATURE_LOSSES)}, not {self.feature_loss!r}")
        if self.level not in (1, 2, 3, 4):
            raise InputError(f"level must be 1, 2, 3 or 4 (relu1_1 ... relu4_1), not {self.level!r}")
        for name in ("steps", "batch", "train_size", "style_size", "res_blocks", "save_every"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InputError(f"{flag(name)} must be a positive whole number, not {value}")
        for name in ("lr", "width", "full_size_width"):
            if getattr(self, name) is not None and not (getattr(self, name) > 0 and math.isfinite(getattr(self, name))):
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
