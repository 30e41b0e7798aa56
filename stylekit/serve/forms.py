"""The job form: the fields of a multipart POST /api/jobs -> a validated `Spec`.

The options are the command line's flags without their dashes (`size`, `steps`, `style_weight`,
`alpha`...) and are checked by the CLI's own argument parsers (`stylekit.cli.transfer_options` builds the
optimization's, with `Settings` presets behind it), so a bad value gets the words of the CLI's
`error:` line and the defaults live in one place. `content` and `style` are uploaded files or the
names of bundled images; uploads are decoded by the project's loader (pixel limit, formats) from a
temporary file the server names itself: an uploaded file's name is only ever shown, never used
as a path. Images are loaded here, at submission, so bad input is refused before it queues.
"""
from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from PIL import Image

from utils import LAYER_NAMES, min_image_side
from stylekit.base.errors import InputError, clipped
from stylekit.base.numbers import check_blend_count
from stylekit.base.images import DEFAULT_MAX_PIXELS, check_min_side, fit_size, open_image, resize_longest
from stylekit.base.tensors import fit_longest, pil_to_tensor, resize_tensor
from stylekit.base.limits import check_side
from stylekit.cli.options import add_styles
from stylekit.cli.transfer_options import add_optimization, refuse_ignored, settings_from
from stylekit.cli.common import Parser, float_list, number, positive_float, side, seed
from stylekit.nets.adain import infer
from stylekit.nets.adain.shipped import check_style_size
from stylekit.serve.runners import onepass_method
from stylekit.settings import MAX_SHARPEN, ONEPASS_METHODS, OnePassSettings, Settings
from utils import load_image

METHODS = ("optimize", "fast", "adain", "texture")
MAX_STYLES = 8
TEXTURE_SIZE = 512        # `python -m stylekit texture`'s default side
# Inputs kept for a queued job are capped at this longest side (pixels beyond it only cost memory
# while the job waits; the bundled images are all smaller).
KEEP_SIDE = 2048

# The option fields each method takes (the CLI flags of the same name); anything else is refused.
OPTIMIZE_FIELDS = ("part", "size", "steps", "init", "seed", "content_weight", "style_weight", "style_normalize",
                   "tv_weight", "hist_weight", "hist_layers", "preserve_color", "content_layers", "style_layers",
                   "optimizer", "lr", "multiscale", "style_blend", "style_scale", "precision")
FIELDS = {"optimize": OPTIMIZE_FIELDS,
          "fast": ("model", "size", "precision"),
          "adain": ("model", "size", "alpha", "max_move", "ridge", "sharpen", "histograms", "margin", "style_blend",
                    "style_scale", "preserve_color", "precision"),
          "texture": ("model", "size", "seed", "precision")}
BOOLEAN_FIELDS = {"style_normalize"}


@dataclass
class Limits:
    """What one job may ask of the server (`serve --max-pixels`, `--max-size`, `--max-steps`)."""
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_size: int = 1024     # longest side of an output, px
    max_steps: int = 2000    # loss evaluations at the coarsest scale
    max_styles: int = MAX_STYLES


@dataclass
class Upload:
    """An uploaded file: its bytes, and the name the browser gave it (shown, never opened)."""
    filename: str
    data: bytes


@dataclass
class Picture:
    """An input image, 8-bit, and how the sidecar names it."""
    name: str
    pixels: torch.Tensor     # (1, 3, H, W) uint8

    @classmethod
    def of(cls, name: str, img: torch.Tensor) -> Picture:
        if max(img.shape[-2:]) > KEEP_SIDE:
            img = resize_tensor(img, fit_longest(img, KEEP_SIDE))
        return cls(name, (img * 255).round().to(torch.uint8))

    def tensor(self, device="cpu") -> torch.Tensor:
        return (self.pixels.float() / 255).to(device)


@dataclass
class Spec:
    """What a job needs: the method, its images, and its settings (optimize, adain) or options."""
    method: str
    content: Picture | None = None
    styles: list[Picture] = field(default_factory=list)
    settings: Settings | None = None
    onepass: OnePassSettings | None = None
    options: dict = field(default_factory=dict)


def shown_name(filename: str | None) -> str:
    """An uploaded file's name as the messages and the sidecar show it: its last part, printable."""
    name = re.split(r"[\\/]", filename or "")[-1]
    name = "".join(c for c in name if c.isprintable())[:80].strip()
    return f"upload:{name}" if name else "upload"


def _parser(method: str) -> Parser:
    p = Parser(prog=f"method {method}", add_help=False, allow_abbrev=False)
    if method == "optimize":
        p.add_argument("--part", type=int, choices=(1, 2, 3), help="1, 2 or 3 (default 3)")
        add_optimization(p)
        add_styles(p)
    else:
        p.add_argument("--model", help="a shipped model, by name (GET /api/models)")
        p.add_argument("--size", type=side)
    if method == "adain":
        p.add_argument("--alpha", type=number)
        for name in ("--max-move", "--ridge", "--sharpen", "--histograms"):   # WCT's; the settings refuse them for AdaIN
            p.add_argument(name, type=number)
        p.add_argument("--margin", type=int)
        p.add_argument("--style-blend", type=float_list)
        p.add_argument("--style-scale", type=positive_float)
        p.add_argument("--preserve-color", choices=("luminance", "histogram"))
    if method == "texture":
        p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"))
    return p


PARSERS = {m: _parser(m) for m in METHODS}


def _argv(method: str, fields: list[tuple[str, str]]) -> list[str]:
    """Form fields -> the command line they stand for (`size=256` -> `--size=256`)."""
    argv, seen = [], set()
    for name, value in fields:
        key = name.lstrip("-").replace("-", "_")   # `size`, or the flag as typed, `--size`
        flag = "--" + key.replace("_", "-")
        if not key:
            raise InputError("a form field has no name")
        if key not in FIELDS[method]:
            raise InputError(f"{clipped(flag)} does not apply to method {method}")
        if key in seen:
            raise InputError(f"{flag} is given twice")
        seen.add(key)
        value = value.strip()
        if value == "":
            continue  # an empty form field: the default
        if key in BOOLEAN_FIELDS:
            if value.lower() not in ("true", "false", "on", "off", "1", "0", "yes", "no"):
                raise InputError(f"argument {flag}: expected true or false, not {value!r}")
            argv.append(flag if value.lower() in ("true", "on", "1", "yes") else f"--no-{flag[2:]}")
        else:
            argv.append(f"{flag}={value}")
    return argv


class FormReader:
    """Turns form fields into a `Spec`; knows the bundled images and the shipped models."""

    def __init__(self, bundled: dict[str, dict[str, Path]], models: dict[str, dict[str, Path]],
                 limits: Limits | None = None, temp_dir: str | os.PathLike | None = None):
        self.bundled, self.models, self.limits = bundled, models, limits or Limits()
        self.temp_dir = temp_dir

    def read(self, items: list[tuple[str, str | Upload]]) -> Spec:
        method = [v for k, v in items if k == "method"]
        if len(method) > 1:
            raise InputError("--method is given twice")
        if method and isinstance(method[0], Upload):
            raise InputError("method takes a value, not a file")
        if len(method) != 1 or method[0] not in METHODS:
            given = method[0] if len(method) == 1 and isinstance(method[0], str) else None
            raise InputError(f"method must be one of {', '.join(METHODS)}, not {given!r}")
        method = method[0]
        content = [v for k, v in items if k == "content"]
        styles = [v for k, v in items if k == "style"]
        fields = []
        for key, value in items:
            if key in ("method", "content", "style"):
                continue
            if not isinstance(value, str):
                raise InputError(f"--{key.replace('_', '-')} takes a value, not a file")
            fields.append((key, value))
        args = PARSERS[method].parse_args(_argv(method, fields))
        if args.size is not None and args.size > self.limits.max_size:
            raise InputError(f"argument --size: must be at most {self.limits.max_size} on this server, not {args.size}")
        if len(content) > 1:
            raise InputError(f"--content takes 1 image here, got {len(content)}")
        if len(styles) > self.limits.max_styles:
            raise InputError(f"--style takes at most {self.limits.max_styles} images here, got {len(styles)}")
        if method in ("fast", "texture") and styles:
            raise InputError(f"--style does not apply to method {method}")
        if method == "texture" and content:
            raise InputError("--content does not apply to method texture")
        # Not for concurrent calls with images: the app decodes one request's at a time (several
        # at once multiplied the peak).
        return getattr(self, f"_{method}")(args, content[0] if content else None, styles)

    # -- the methods ----------------------------------------------------------------------

    def _optimize(self, args, content, styles) -> Spec:
        part = args.part or 3
        settings = settings_from(args, f"part{part}")
        if args.size is None and settings.size > self.limits.max_size:   # the preset's, within the limit
            settings = settings.replace(size=self.limits.max_size)
        if settings.steps > self.limits.max_steps:
            raise InputError(f"argument --steps: must be at most {self.limits.max_steps} on this server, "
                             f"not {settings.steps}")
        # A field the part would not use is refused, as the command line refuses the flag.
        where = f"method optimize, part {part}"
        if part == 2 and content is not None:
            raise InputError(f"--content does not apply to {where}: it takes no content image")
        if part == 1 and styles:
            raise InputError(f"--style does not apply to {where}: it takes no style image")
        if part != 2 and content is None:
            raise InputError(f"part {part} needs a content image (field content)")
        if part != 1 and not styles:
            raise InputError(f"part {part} needs at least one style image (field style)")
        check_blend_count(settings.style_blend, len(styles))
        refuse_ignored(args, settings, where, content=part != 2, styles=0 if part == 1 else len(styles) or 1)
        cfg = settings.for_inputs(content is not None, bool(styles))
        side, layer = _needed_side(cfg.content_layers + cfg.style_layers + cfg.hist_layers)
        spec = Spec("optimize", settings=settings)
        if content is not None:
            spec.content = self._load("content", content, settings.size, min_side=side, layer=layer)
        side, layer = _needed_side(cfg.style_layers + cfg.hist_layers)
        if styles:
            self._check_style_side(max(spec.content.pixels.shape[-2:]) if spec.content else settings.size,
                                   settings.style_scale)
        spec.styles = [self._load("style", s, None, min_side=side, layer=layer) for s in styles]
        _check_scales(cfg, spec.content, spec.styles)
        return spec

    def _adain(self, args, content, styles) -> Spec:
        if content is None:
            raise InputError("AdaIN needs --content")
        if not styles:
            raise InputError("AdaIN needs at least one --style image")
        model = self._model("adain", args.model)
        method = onepass_method(model, self.models["adain"][model])
        run = OnePassSettings.preset(method, size=args.size, style_scale=args.style_scale, alpha=args.alpha,
                                     max_move=args.max_move, ridge=args.ridge, sharpen=args.sharpen,
                                     histograms=args.histograms, margin=args.margin, style_blend=args.style_blend,
                                     preserve_color=args.preserve_color, precision=args.precision)
        if run.size > self.limits.max_size:   # the preset's size (an asked one is checked in `read`)
            run = replace(run, size=self.limits.max_size)
        self._check_style_side(run.size, run.style_scale)
        # The decoder's own checks, on stand-ins of the right count: the same words as the CLI's.
        stand_in = torch.zeros(1, 3, infer.STRIDE, infer.STRIDE)
        infer.check_inputs(run, stand_in, [stand_in] * len(styles))
        style_side = max(infer.STRIDE, round(run.size * run.style_scale))
        spec = Spec("adain", content=self._load("content", content, run.size, min_side=infer.STRIDE, layer="relu4_1"))
        spec.styles = [self._load("style", s, None, loader=lambda p: infer.load_style(p, style_side, "cpu",
                                                                                       self.limits.max_pixels))
                       for s in styles]
        for picture in spec.styles:   # as the command line, before the job queues (torch's path refused it late)
            check_style_size(picture.pixels.shape[-1], picture.pixels.shape[-2], picture.name)
        spec.options, spec.onepass = {"model": model}, run
        return spec

    def _fast(self, args, content, styles) -> Spec:
        if content is None:
            raise InputError("--fast needs --content (an image)")
        model = self._model("fast", args.model)
        loaded = {}   # the photo's own size, and the side it was read at (before a copy kept is capped)

        def loader(path):   # decoded once, brought to --size or within the server's limit in 8 bits
            img = open_image(path, self.limits.max_pixels)
            loaded["own"] = img.size
            pixels = pil_to_tensor(resize_longest(img, args.size or min(max(img.size), self.limits.max_size)))
            loaded["shape"] = pixels.shape[-2:]
            return pixels
        picture = self._load("content", content, args.size, loader=loader)
        if args.size:
            height, width = loaded["shape"]
            check_side(width, height, "fast", f"{picture.name} at --size {args.size}")
        else:
            width, height = loaded["own"]
            check_side(width, height, "fast", picture.name)
            if max(width, height) > self.limits.max_size:
                height, width = loaded["shape"]
                check_side(width, height, "fast", f"{picture.name} shrunk to this server's {self.limits.max_size} px")
        return Spec("fast", content=picture, options={"model": model, "precision": args.precision or "auto"})

    def _texture(self, args, content, styles) -> Spec:
        model = self._model("texture", args.model)
        size = args.size or min(TEXTURE_SIZE, self.limits.max_size)
        check_side(size, size, "texture", f"a texture of --size {size}")
        return Spec("texture", options={"model": model, "size": size, "seed": args.seed,
                                        "precision": args.precision or "auto"})

    # -- inputs ---------------------------------------------------------------------------

    def _check_style_side(self, side: int, style_scale: float) -> None:
        """The painting is worked at `side` x `style_scale` px: within the server's output limit,
        which bounds the memory a job takes as the output's does."""
        if side * style_scale > self.limits.max_size:
            raise InputError(f"argument --style-scale: the style image would be worked at {side * style_scale:,.0f} px, "
                             f"more than this server's {self.limits.max_size}; use a smaller --style-scale or --size")

    def _model(self, kind: str, name: str | None) -> str:
        shipped = self.models.get(kind, {})
        if name is None and (len(shipped) == 1 or kind == "adain" and shipped):
            return next(iter(shipped))   # any painting: the catalogue lists the default method first
        if name not in shipped:
            names = ", ".join(shipped) or "none"
            raise InputError(f"--model: no shipped {kind} model {name!r}; there are {names}" if name is not None
                             else f"--model: choose a shipped {kind} model: {names}")
        return name

    def _load(self, kind: str, value: str | Upload, size: int | None, min_side: int = 1, layer: str | None = None,
              loader=None) -> Picture:
        """A bundled image by name, or an upload through a temporary file of the server's own naming."""
        loader = loader or (lambda p: _load_kept(p, size, self.limits.max_pixels, min_side, layer))
        if isinstance(value, str):
            choices = self.bundled.get(kind, {})
            if value not in choices:
                raise InputError(f"no bundled {kind} image {clipped(value)!r}; there are {', '.join(choices)}")
            return Picture.of(f"images/{kind}/{value}", _shown(loader, choices[value], f"images/{kind}/{value}"))
        name = shown_name(value.filename)
        fd, tmp = tempfile.mkstemp(prefix="upload-", suffix=".bin", dir=self.temp_dir)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(value.data)
            return Picture.of(name, _shown(loader, Path(tmp), name))
        finally:
            os.unlink(tmp)


def _load_kept(path: Path, size: int | None, max_pixels: int, min_side: int, layer: str | None) -> torch.Tensor:
    """`load_image`, but an image kept at its own size (a style) is brought within `KEEP_SIDE`
    before its float copy: a 9000 px painting of 258 KB took a gigabyte as floats, and three
    such requests at once 9 GB. Pillow's bilinear filter is antialiased, as `resize_tensor`."""
    if size is not None:
        return load_image(path, size, "cpu", max_pixels, min_side=min_side, layer=layer)
    img = open_image(path, max_pixels)
    check_min_side(img, path, min_side, layer)
    if max(img.size) > KEEP_SIDE:
        img = img.resize(fit_size(img.width, img.height, KEEP_SIDE), Image.Resampling.BILINEAR)
    return pil_to_tensor(img)


def _shown(loader, path: Path, name: str) -> torch.Tensor:
    """loader(path), its error messages naming the image as the user knows it."""
    try:
        return loader(path)
    except InputError as exc:   # the command line's hint is the server's option here
        words = str(exc).replace(str(path), name).replace("pass a larger --max-pixels if you trust this file",
                                                           "this server was started with --max-pixels")
        raise InputError(words) from None


def _check_scales(cfg: Settings, content: Picture | None, styles: list[Picture]) -> None:
    """Refuse now, in the engine's words (`style_and_content.build_model`), what it would refuse
    at its coarsest scale: a content or style image too small there for the deepest layer."""
    reference = (content or styles[0]).pixels
    side = cfg.plan(max(reference.shape[-2:]))[0][0]
    style_side = max(1, round(side * cfg.style_scale))
    checks = [("style", fit_longest(s.pixels, style_side), cfg.style_layers + cfg.hist_layers) for s in styles]
    if content is not None:
        checks.insert(0, ("content", fit_longest(reference, side), cfg.content_layers + cfg.style_layers + cfg.hist_layers))
    for what, (h, w), layers in checks:
        need, deepest = _needed_side(layers)
        if min(h, w) < need:
            raise InputError(f"the {what} image is {w}x{h} px, too small for layer {deepest}: "
                             f"it needs at least {need} px on each side")


def _needed_side(layers) -> tuple[int, str | None]:
    """The smallest input side the deepest of `layers` needs, and that layer (as `optim.jobs`)."""
    deepest = max(layers, key=LAYER_NAMES.index, default=None)
    return (min_image_side(deepest), deepest) if deepest else (1, None)


def _onepass(run: OnePassSettings) -> dict:
    return {"size": run.size, "alpha": run.alpha, "style_scale": run.style_scale, "max_move": run.max_move,
            "ridge": run.ridge, "sharpen": run.sharpen, "histograms": run.histograms, "margin": run.margin}


def describe() -> dict:
    """The form's defaults and choices, for the page: from the presets, never copied."""
    presets = {f"part{n}": {k: v for k, v in vars(Settings.preset(f"part{n}")).items()
                            if k in OPTIMIZE_FIELDS} for n in (1, 2, 3)}
    return {"optimize": presets,
            "adain": {**_onepass(OnePassSettings.preset()), "max_sharpen": MAX_SHARPEN,
                      "methods": {m: _onepass(OnePassSettings.preset(m)) for m in ONEPASS_METHODS}},
            "fast": {"size": None}, "texture": {"size": TEXTURE_SIZE, "seed": 0},
            "fields": {m: list(f) for m, f in FIELDS.items()}}

