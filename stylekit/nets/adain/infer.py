"""AdaIN at work: load a trained decoder and stylise a photo with any style images in one
forward pass, with a content-style trade-off, style blends, masks and colour preservation."""
from __future__ import annotations

from copy import deepcopy
from functools import partial
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from stylekit.base.device import autocast_context, resolve_precision
from stylekit.base.errors import InputError
from stylekit.base.tensors import fit_longest, mirrored, resize_tensor
from stylekit.nets.adain.model import MODEL_FORMAT, Decoder, Encoder, adain
from stylekit.nets.adain.shipped import (HISTOGRAM_LEVEL, LITE_ENCODER, MASK_AND_BLEND, STRIDE, TRANSFORM,
                                         check_style_size, default_decoders, guarded_alpha, sharpen_taps)
from stylekit.nets.adain import wct
from stylekit.nets.adain.student import load_student
from stylekit.base.files import file_sha256
from stylekit.base.kept import Kept, pixels_key
from stylekit.nets.fused import fused
from stylekit.nets.onnx_rewrite import rewritten
from stylekit.nets.training import load_network
from stylekit.settings import OnePassSettings
from stylekit.base import color
from utils import load_image

# The defaults of a run (method, size, style scale, alpha) are `settings.OnePassSettings`'s presets.
TRANSFORMS = {"wct": wct.whiten_colour, "adain": adain}   # shipped.TRANSFORM's values
# WCT's decoders learned to invert ReLU outputs, never below 0, while coloured features can be:
# clipped there, the same four bench pairs came 5% closer to the photos at the same distance to
# the paintings (BENCHMARKS.md, "WCT's features clipped at 0"). AdaIN's decoder was trained on
# AdaIN's outputs, negatives included, so its input stays as it is.
WCT_FLOOR = 0.0
# A painting's features and histograms kept with the encoder between passes, by its pixels: a
# folder of photos and the web app's jobs mostly reuse one, and its encode is a quarter of WCT's
# pass (the ONNX copies keep its statistics: `portable._Pipeline`). VGG-19's four levels of a
# 512 px painting take 94 MB in fp32; a print-size painting's are not kept.
KEPT_STYLES = 2
KEPT_STYLE_BYTES = 256 << 20


def load_decoder(path: str | Path, device="cpu", what: str = "AdaIN decoder",
                 hint: str = "train one with python -m stylekit train-adain") -> tuple[Decoder, dict]:
    """A saved decoder (eval mode, on `device`) and its training settings.

    Raises InputError (one line, naming `what` the file should be and `hint` how to make one)
    for a missing, corrupt or foreign file.
    """
    return load_network(path, MODEL_FORMAT, Decoder, what, hint, device)


def for_inference(decoder: Decoder) -> Decoder:
    """A copy of `decoder` (eval mode) whose layers are rewritten as its ONNX copy's are
    (`nets.onnx_rewrite`): the same pictures in a shorter pass. Not for training."""
    copy = deepcopy(decoder)
    copy.net = rewritten(copy.net)
    return copy.to(memory_format=torch.channels_last).eval()


def for_torch(decoder: Decoder) -> Decoder:
    """`for_inference`'s copy with each ReLU fused into the convolution before it
    (`nets.fused`): what torch's own passes run; the ONNX copies are made from `for_inference`."""
    copy = for_inference(decoder)
    copy.net = fused(copy.net)
    return copy


def inference_encoder(cnn: nn.Module | Encoder) -> Encoder:
    """The encoder (`model.Encoder` of the VGG-19 `cnn`, or a narrow one given whole) with each
    ReLU fused into the convolution before it (`nets.fused`): for passes without gradients,
    not for training."""
    encoder = deepcopy(cnn) if isinstance(cnn, Encoder) else Encoder(cnn)
    encoder.stages = nn.ModuleList(fused(stage) for stage in encoder.stages)
    encoder.kept_styles = Kept(KEPT_STYLES, KEPT_STYLE_BYTES, lambda found: sum(f.nbytes for f in found["features"]))
    return encoder


def style_features(encoder: Encoder, style: torch.Tensor, level: int, precision: str, histograms: bool = False,
                   moments: tuple[int, ...] = ()) -> tuple[list[torch.Tensor], tuple | None, dict]:
    """relu1_1 ... relu{level}_1 of a style image under autocast at `precision`; with
    `histograms` what matching needs of its relu3_1 (`wct.style_histograms`; else None); and
    for each of the levels `moments` what colouring needs (`wct.style_moments`), by level. All
    kept with an `inference_encoder` and found again when the same pixels come at the same level
    and precision (the callers only read them)."""
    kept, found = getattr(encoder, "kept_styles", None), None
    if kept is not None:
        key = pixels_key(style.detach().float().cpu().numpy()) + repr((level, precision, str(style.device))).encode()
        found = kept.get(key)
    if found is None:
        found = {"features": encoder(style, level)}
    if histograms and "histograms" not in found:
        found["histograms"] = wct.style_histograms(found["features"][HISTOGRAM_LEVEL - 1])
    stats = found.setdefault("moments", {})
    for n in moments:
        if n not in stats:
            with torch.autocast(style.device.type, enabled=False):
                stats[n] = wct.style_moments(found["features"][n - 1])
    if kept is not None:
        kept.put(key, found)
    return found["features"], found.get("histograms"), {n: stats[n] for n in moments}


def forget_styles(encoder: Encoder) -> None:
    """Drop the paintings kept with `encoder`: the next pass encodes its painting again (for
    timing a pass as a new painting gets it)."""
    if getattr(encoder, "kept_styles", None) is not None:
        encoder.kept_styles.clear()


def encoder_sha(trained: list[dict]) -> str | None:
    """The sha256 of the narrow encoder decoders with the training settings `trained` decode,
    None for VGG-19's features; InputError (one line) for decoders of different encoders."""
    made_on = {settings.get("encoder_sha256") for settings in trained}
    if len(made_on) > 1:
        raise InputError("these decoders were trained on different encoders: give decoders made together")
    return made_on.pop() if made_on else None


def encoder_for(trained: list[dict], device="cpu", cnn: nn.Module | None = None) -> Encoder:
    """The encoder whose features decoders with the training settings `trained` decode, ready
    for inference: VGG-19 (`cnn` when the caller has it loaded), or the narrow encoder whose
    sha256 they recorded (the shipped `shipped.LITE_ENCODER`). InputError (one line) for
    decoders of different encoders, or of a narrow encoder that is not the shipped one."""
    from utils import load_vgg19
    sha = encoder_sha(trained)
    if sha is None:
        return inference_encoder(cnn if cnn is not None else load_vgg19("original", device))
    if not LITE_ENCODER.is_file():
        raise InputError(f"the decoders decode a narrow encoder's features, and {LITE_ENCODER} is missing: "
                         f"make models, or python -m stylekit train-student")
    if file_sha256(LITE_ENCODER) != sha:
        raise InputError(f"the decoders were trained on a narrow encoder that is not {LITE_ENCODER.name} "
                         f"(sha256 {sha[:12]}...): train them with train-wct --encoder {LITE_ENCODER.name}")
    return inference_encoder(load_student(LITE_ENCODER, device)[0])


def pad_to_stride(img: torch.Tensor) -> torch.Tensor:
    """Pad bottom and right to a multiple of STRIDE, and to at least 2 STRIDE (the decoder's
    reflection padding needs 2 px of relu4_1): by reflection, or by repeating the edge for
    images too small to reflect."""
    h, w = img.shape[-2:]
    ph, pw = (max(2 * STRIDE, h + (-h) % STRIDE) - h, max(2 * STRIDE, w + (-w) % STRIDE) - w)
    if not ph and not pw:
        return img
    mode = "reflect" if min(h, w) > max(ph, pw) else "replicate"
    return F.pad(img, (0, pw, 0, ph), mode=mode)


def sharpened(picture: torch.Tensor, amount: float) -> torch.Tensor:
    """picture + amount x (picture - its Gaussian blur, `shipped.sharpen_taps`), in [0, 1]:
    an unsharp mask, in fp32 whatever the autocast (`numpy_transforms.sharpened` is its numpy twin). The
    blur sums shifted slices: a depthwise convolution took five times as long on a CPU."""
    taps = sharpen_taps()
    radius, (h, w) = len(taps) // 2, picture.shape[-2:]
    picture = picture.float()
    mode = "reflect" if min(h, w) > radius else "replicate"
    padded = F.pad(picture, (radius,) * 4, mode=mode)
    across = sum(t * padded[..., k:k + w] for k, t in enumerate(taps))
    blurred = sum(t * across[..., k:k + h, :] for k, t in enumerate(taps))
    return (picture + amount * (picture - blurred)).clamp_(0, 1)


def transfer_features(content_feat: torch.Tensor, style_feats: list[torch.Tensor], *, alpha: float = 1.0,
                      weights: list[float] | None = None, masks: list[torch.Tensor] | None = None,
                      method: str = "adain", ridge: float = 0.0, style_stats: list | None = None) -> torch.Tensor:
    """A decoder's input: the content features given the styles' statistics by `method`,
    'adain' (channel means and deviations) or 'wct' (means and covariance, `wct.whiten_colour`).

    weights: convex combination of the per-style outputs (AdaIN paper, sec. 7). masks: soft
    masks (1, 1, h, w) at the features' size; inside mask i the content features' statistics
    there are replaced by style i's, and wherever the masks sum to less than 1 the content
    features stay. alpha: 1 full style, 0 the content features unchanged. ridge: WCT's
    (`wct._powers`); AdaIN has none. style_stats: WCT's, each style's `wct.style_moments` where
    the caller keeps them.
    """
    is_wct = TRANSFORM[method] == "wct"
    stats = style_stats or [None] * len(style_feats)
    transform = TRANSFORMS[TRANSFORM[method]]
    transforms = [partial(transform, ridge=ridge, style_stats=st) for st in stats] if is_wct else [transform] * len(stats)
    if masks is None and len(style_feats) == 1:
        return transforms[0](content_feat, style_feats[0], alpha=alpha)   # one pass over the features
    if masks is None and is_wct:   # a blend of affine maps is one affine map: one pass, however many styles
        weights = weights or [1.0 / len(style_feats)] * len(style_feats)
        maps = [(w, wct.colour_map(content_feat, s, ridge=ridge, style_stats=st))
                for w, s, st in zip(weights, style_feats, stats) if w]
        return wct.apply_map(content_feat, sum(w * t for w, (t, _) in maps), sum(w * b for w, (_, b) in maps),
                             alpha=alpha)
    content = content_feat.float()
    if masks is None:
        weights = weights or [1.0 / len(style_feats)] * len(style_feats)
        target = sum(w * t(content, s) for w, t, s in zip(weights, transforms, style_feats) if w)
    else:
        target = (1 - sum(masks)) * content
        for mask, t, style in zip(masks, transforms, style_feats):
            if mask.max() > 0:
                target = target + mask * t(content, style, mask=mask)
    return target if alpha == 1 else torch.lerp(content, target, alpha)


def relative_move(feat: torch.Tensor, target: torch.Tensor) -> float:
    """|target - feat| / |feat|: how far a transform moves a photo's features."""
    feat = feat.float()
    return float((target.float() - feat).norm() / feat.norm().clamp_min(1e-12))


def load_style(path, side: int, device="cpu", max_pixels: int | None = None) -> torch.Tensor:
    """A style image with longest side `side`, resized from the original file by the filter
    the optimizer and the metrics use (`base.tensors.resize_tensor`)."""
    img = load_image(path, None, device, max_pixels, min_side=STRIDE, layer="relu4_1")
    return resize_tensor(img, fit_longest(img, side))


def check_inputs(run: OnePassSettings, content: torch.Tensor, styles: list[torch.Tensor],
                 masks: list[torch.Tensor] | None = None) -> list[float] | None:
    """Refuse images and masks `run` cannot stylise, with one line; the blend weights, scaled
    to sum to 1 (None: equal). `run` has checked its own numbers."""
    if not styles:
        raise InputError("AdaIN needs at least one style image")
    for s in styles:
        check_style_size(s.shape[-1], s.shape[-2])
    weights = run.blend(len(styles))
    if masks is not None:
        if weights is not None:
            raise InputError(MASK_AND_BLEND)
        if len(masks) != len(styles):
            raise InputError(f"{len(masks)} mask regions for {len(styles)} style images")
        if any(tuple(m.shape[-2:]) != tuple(content.shape[-2:]) for m in masks):
            raise InputError("each mask must have the content image's size")
    return weights


def load_decoders(method: str, paths: list[str | Path] | None = None,
                  device="cpu") -> tuple[list[Decoder], list[dict]]:
    """The decoders `method` runs (the shipped ones unless `paths` are given), ready for
    inference in torch (`for_torch`), and their training settings. InputError (one line) for a
    missing or foreign file, a decoder of the other method, two of one level, or AdaIN given
    anything but one relu4_1 decoder."""
    _check_method(method)
    paths = paths or default_decoders(method)
    if method == "adain":
        loaded = [load_decoder(p, device) for p in paths]
    else:
        hint = "make models, or python -m stylekit train-wct --level N" + (" --encoder ..." if method == "wct-lite" else "")
        loaded = [load_decoder(p, device, "WCT decoder", hint) for p in paths]
    # A WCT decoder only rebuilds photos from their features, AdaIN's learned styles: the same
    # shapes, so only their training tells them apart (files from before `kind` are AdaIN's).
    for path, (decoder, settings) in zip(paths, loaded):
        wct = settings.get("kind") == "wct"
        if wct != (method != "adain"):
            fix = ("wct-lite" if decoder.arch.get("feature_width", 1.0) != 1.0 else "wct") if wct else "adain"
            raise InputError(f"{path} is {'a WCT' if wct else 'an AdaIN'} decoder: give --method {fix}, not {method}")
    _check_method(method, [decoder for decoder, _ in loaded])
    return [for_torch(d) for d, _ in loaded], [s for _, s in loaded]


def _check_method(method: str, decoders: list[Decoder] | None = None) -> None:
    """A method there is, and (when given) decoders it can run: AdaIN one of relu4_1, WCT at
    least one and no two of a level."""
    if method not in TRANSFORM:
        raise InputError(f"method must be one of {', '.join(TRANSFORM)}, not {method!r}")
    if decoders is None:
        return
    levels = [d.level for d in decoders]
    if method == "adain" and levels != [4]:
        raise InputError("AdaIN decodes relu4_1: give it one decoder of level 4")
    if not levels:
        raise InputError("WCT needs at least one decoder")
    if len(set(levels)) < len(levels):
        raise InputError(f"two WCT decoders of level {max(levels, key=levels.count)}: give one per level")
    if len({d.arch.get("feature_width", 1.0) for d in decoders}) > 1:
        raise InputError("these decoders decode different encoders' features: give decoders made together")
    # The decoders pick the encoder; the method picks the preset and the name in the sidecar.
    narrow = decoders[0].arch.get("feature_width", 1.0) != 1.0
    if method != "adain" and narrow != (method == "wct-lite"):
        features, theirs = ("the narrow encoder's features (WCT lite's)", "wct-lite") if narrow else \
            ("VGG-19's features (WCT's)", "wct")
        raise InputError(f"these decoders decode {features}: give --method {theirs}, not {method}")


@torch.inference_mode()
def stylize(encoder: Encoder, decoders: Decoder | list[Decoder], content: torch.Tensor, styles,
            run: OnePassSettings, *, masks: list[torch.Tensor] | None = None, on_alpha=None) -> torch.Tensor:
    """One pass: content (1, 3, H, W) in [0, 1] -> stylised (1, 3, H, W) in [0, 1], as `run`
    says (its size and style scale are the caller's: the images come at their sizes).

    run.method 'adain': one relu4_1 decoder. 'wct' and 'wct-lite': a decoder per level, applied
    deepest first (Li et al.'s coarse to fine): at each level the picture so far is encoded, its
    features whitened and coloured with the styles', and decoded, so the deep levels lay out
    the large structures and the shallow ones the fine texture and colour.
    styles: one image (1, 3, h, w) or a list, each of any size, blended by run.style_blend
    (default equal). masks: one soft mask (1, 1, H, W) per style (spatial control).
    run.precision: autocast's ('auto' resolved for the content's device); the statistics stay
    in fp32, WCT's eigen-decompositions in fp64. run.max_move: alpha is scaled down for a photo
    whose deepest features the styles would move further than this (`shipped.guarded_alpha`),
    and on_alpha(alpha) told the alpha used. run.ridge eases WCT's whitening (`wct._powers`).
    run.sharpen: the picture the finest level encodes is first sharpened by this amount
    (`sharpened`), giving back detail the coarser decoders blurred; a single level: never.
    run.margin: the photo (and the masks) mirrored this many px further for the pass
    (`base.tensors.mirrored`). run.histograms: at relu3_1 the whitened and coloured features are
    mixed by this amount with the same matched to the styles' histograms
    (`wct.matched_histograms`), before alpha mixes them with the photo's; not with masks.
    """
    method, alpha, ridge = run.method, run.alpha, run.ridge
    decoders = sorted([decoders] if isinstance(decoders, Decoder) else decoders, key=lambda d: -d.level)
    _check_method(method, decoders)
    styles = [styles] if isinstance(styles, torch.Tensor) else list(styles)
    weights = check_inputs(run, content, styles, masks)
    preserve_color, precision = run.preserve_color, resolve_precision(run.precision, content.device)
    original = content
    content, styles = color.prepare(content, styles, preserve_color)
    (h, w), m = content.shape[-2:], run.margin
    if masks is not None:
        masks = [mirrored(mask.float(), m) for mask in masks]
    with autocast_context(content.device, precision):
        picture = pad_to_stride(mirrored(content, m))
        wanted = bool(run.histograms) and masks is None and HISTOGRAM_LEVEL in [d.level for d in decoders]
        colouring = tuple(d.level for d in decoders) if TRANSFORM[method] == "wct" else ()
        found = [style_features(encoder, s, decoders[0].level, precision, wanted, colouring) for s in styles]
        style_feats = [feats for feats, _, _ in found]
        histograms = [h for _, h, _ in found] if wanted else None
        for decoder in decoders:
            level = decoder.level
            feat_masks = None
            if masks is not None:
                feat_masks = [F.avg_pool2d(pad_to_stride(mask), 2 ** (level - 1)) for mask in masks]
            feat = encoder(picture, level)[-1]
            transfer = partial(transfer_features, feat, [f[level - 1] for f in style_feats], weights=weights,
                               masks=feat_masks, method=method, ridge=ridge,
                               style_stats=[stats[level] for _, _, stats in found] if colouring else None)
            guard = run.max_move is not None and decoder is decoders[0]
            matching = histograms is not None and level == HISTOGRAM_LEVEL
            if guard or matching:
                full = transfer(alpha=1.0)
                if matching:
                    matched = wct.matched_histograms(full, histograms, weights or [1 / len(styles)] * len(styles))
                    full = torch.lerp(full.float(), matched, run.histograms).to(full.dtype)
                if guard:
                    decoded = full.clamp_min(WCT_FLOOR) if TRANSFORM[method] == "wct" else full   # what the decoder gets
                    alpha = guarded_alpha(alpha, relative_move(feat, decoded), run.max_move)
                target = full if alpha == 1 else torch.lerp(feat.to(full.dtype), full, alpha)
            else:
                target = transfer(alpha=alpha)
            if TRANSFORM[method] == "wct":   # see WCT_FLOOR
                target = target.clamp_min_(WCT_FLOOR)
            picture = decoder(target).float().clamp(0, 1)
            if run.sharpen and len(decoders) > 1 and decoder is decoders[-2]:
                picture = sharpened(picture, run.sharpen)
    if on_alpha is not None:
        on_alpha(alpha)
    out = picture[..., m:m + h, m:m + w].contiguous()
    if preserve_color == "luminance":
        out = color.with_content_chroma(out, original)
    return out
