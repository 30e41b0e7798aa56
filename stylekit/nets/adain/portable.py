"""WCT and AdaIN without torch: VGG-19 up to relu4_1 and the decoders as ONNX, run by ONNX
Runtime on the CPU, with the whitening and colouring transform (or AdaIN's) in numpy
(`numpy_transforms`).

Why: a command that imports torch spends about a second on the import alone, so the first
picture of `python -m stylekit adain` costs far more than its pass (BENCHMARKS.md, "WCT
without torch"). This module imports neither torch nor anything that does. The bundle
(`shipped.PORTABLE_WCT`, one zip) is written by `nets.adain.export`: the encoder as one graph
from the image to relu1_1 ... relu4_1 (a painting's encode, and a photo's to relu4_1), and
as graphs from the image to relu1_1, relu2_1 and relu3_1 alone, since ONNX Runtime runs a
whole graph whatever outputs are asked for (a photo's encodes to the shallower levels); and
one decoder per level, each with the sha256 of the .pt it was made from: a decoder file that
is not the one a copy was made from is never stood in for.
An AdaIN decoder's copy lies beside its .pt (`adain_copy_path`, made by `export.export_adain`)
and runs on the bundle's encoder.

The pipeline mirrors `infer.stylize`, and its transforms `wct`'s and `model.adain`, so both
paths give the same picture to within a level of 255 over an fp32 encoder
(tests/nets/test_wct_portable.py, test_adain_portable.py).
"""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from stylekit.nets.adain.numpy_transforms import (adain, channel_stats, matched_histograms, sharpened, style_histograms,
                                                  style_moments, transfer, whitening)
from stylekit.nets.adain.shipped import (HISTOGRAM_LEVEL, LEVELS, PORTABLE_WCT, STRIDE, TRANSFORM, bundle_path,
                                         guarded_alpha)
from stylekit.base.files import file_sha256
from stylekit.settings import OnePassSettings
from stylekit.base.kept import Kept, pixels_key
from stylekit.nets.portable import mirrored, onnxruntime_or_none, pad_bottom_right

FORMAT = "style-transfer-wct-onnx/2"
ADAIN_FORMAT = "style-transfer-adain-onnx/1"
INPUT, OUTPUT = "input", "output"
# As `infer.WCT_FLOOR`, which cannot be imported here (that module imports torch);
# tests/nets/test_wct_portable.py checks that they agree.
WCT_FLOOR = 0.0
# Where a painting's kept statistics hold its histograms (`_Pipeline.style_statistics`).
HISTOGRAMS = "histograms"


# ---------------------------------------------------------------------------------------
# Images in and out
# ---------------------------------------------------------------------------------------

def to_array(img: Image.Image) -> np.ndarray:
    """An RGB PIL image as (1, 3, H, W) float32 in [0, 1], as `base.tensors.pil_to_tensor`."""
    return (np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0).transpose(2, 0, 1)[None].copy()


def to_image(x: np.ndarray) -> Image.Image:
    """(1, 3, H, W) in [0, 1] as an RGB PIL image, rounded as `base.tensors.tensor_to_pil`."""
    if not np.isfinite(x).all():
        raise ValueError("refusing to convert an image with NaN or Inf values")
    return Image.fromarray((np.clip(x[0], 0, 1).transpose(1, 2, 0) * 255.0 + 0.5).astype(np.uint8), "RGB")


def resize(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(1, 3, H, W) float resized to (h, w) by Pillow's bilinear filter on each float channel,
    which widens to average when shrinking, as `base.tensors.resize_tensor` (torch's antialiased
    bilinear) does."""
    h, w = size
    if x.shape[-2:] == (h, w):
        return x
    planes = [np.asarray(Image.fromarray(c, "F").resize((w, h), Image.Resampling.BILINEAR)) for c in x[0]]
    return np.stack(planes)[None].astype(np.float32)


def pad_to_stride(x: np.ndarray) -> np.ndarray:
    """As `infer.pad_to_stride`: to a multiple of STRIDE and at least 2 STRIDE."""
    return pad_bottom_right(x, STRIDE, 2 * STRIDE)


# ---------------------------------------------------------------------------------------
# The pipeline
# ---------------------------------------------------------------------------------------

def _checked(run: OnePassSettings, transform: str, count: int) -> list[float]:
    """The blend weights of `count` styles (equal when none are given) for a `run` these copies
    can make; ValueError for one the front ends route to torch (colour kept, bf16) or for
    another transform's pipeline."""
    if TRANSFORM[run.method] != transform or run.preserve_color is not None or run.precision == "bf16":
        raise ValueError(f"the ONNX copies of {transform} run {transform} in fp32 without colour "
                         f"preservation, not {run.method} ({run.precision}, {run.preserve_color})")
    return run.blend(count) or [1.0 / count] * count


class _Pipeline:
    """The encoder (a session from the image to relu1_1 ... relu4_1), the graphs from the image
    to one shallower level alone ({level: session}), the decoders {level: session} and their
    training settings (in the order the caller named the decoder files).

    Kept between pictures, by their pixels: what the transform needs of the last KEPT_STYLES
    paintings (`statistics`, per level), and the deepest features of the last photos with what
    the transform needs of them (`content_statistics`), up to KEPT_PHOTO_BYTES. A web app's
    jobs and a folder of photos mostly reuse a painting, a painting's encode is a quarter of
    WCT's pass, and a photo's first encode another quarter, which trying another painting or
    style strength on it need not repeat (BENCHMARKS.md, "A painting's statistics kept, and a
    photo's first encode")."""

    KEPT_STYLES = 8                 # WCT's four levels of a painting, whatever its size: 2.8 MB each
    KEPT_PHOTOS = 4
    KEPT_PHOTO_BYTES = 64 << 20     # relu4_1 of a 512 px photo: 6.3 MB; of a 2048 px one: 100 MB, not kept

    def __init__(self, encoder, through: dict, decoders: dict, training: list[dict]):
        self.encoder, self.through, self.decoders, self.training = encoder, through, decoders, training
        self.levels = sorted(decoders, reverse=True)
        self.kept_styles = Kept(self.KEPT_STYLES)
        self.kept_photos = Kept(self.KEPT_PHOTOS, self.KEPT_PHOTO_BYTES, lambda kept: kept[0].nbytes)

    def forget(self) -> None:
        """Drop every painting and photo kept: the next pass computes all of it (for timing
        a pass as a new photo and painting get it)."""
        self.kept_styles.clear()
        self.kept_photos.clear()

    @staticmethod
    def statistics(feat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What the transform needs of a style's features at one level."""
        raise NotImplementedError

    @staticmethod
    def content_statistics(feat: np.ndarray, ridge: float) -> tuple[np.ndarray, np.ndarray]:
        """What the transform needs of a photo's features at the deepest level."""
        raise NotImplementedError

    def encode(self, x: np.ndarray, levels: int) -> list[np.ndarray]:
        """relu1_1 ... relu{levels}_1 of an image (1, 3, H, W). The graph always runs to relu4_1:
        decoders that stop short of it (a subset a user names) pay for the deeper stages."""
        return self.encoder.run(None, {INPUT: x})[:levels]

    def deepest(self, x: np.ndarray, level: int) -> np.ndarray:
        """relu{level}_1 alone of an image (1, 3, H, W): through its own graph, or relu4_1 as
        the encoder's last output."""
        if level in self.through:
            return self.through[level].run([OUTPUT], {INPUT: x})[0]
        return self.encoder.run(None, {INPUT: x})[level - 1]

    def decode(self, level: int, feat: np.ndarray) -> np.ndarray:
        return np.clip(self.decoders[level].run([OUTPUT], {INPUT: feat})[0], 0, 1)

    def style_statistics(self, style: np.ndarray, histograms: bool = False) -> dict:
        """{level: `statistics`} of a style image (1, 3, h, w), from those kept when the same
        pixels came before; with `histograms`, also {HISTOGRAMS: `style_histograms`} of its
        relu3_1 when the decoders have that level."""
        style = np.ascontiguousarray(style, dtype=np.float32)
        key = pixels_key(style)
        found = self.kept_styles.get(key)
        wanted = histograms and HISTOGRAM_LEVEL in self.levels
        if found is None or (wanted and HISTOGRAMS not in found):
            feats = self.encode(style, self.levels[0])
            found = {level: self.statistics(feats[level - 1]) for level in self.levels}
            if wanted:
                found[HISTOGRAMS] = style_histograms(feats[HISTOGRAM_LEVEL - 1])
            self.kept_styles.put(key, found)
        return found

    def photo_features(self, picture: np.ndarray, ridge: float = 0.0) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """The deepest level's features of a (padded) photo, the caller's to overwrite, and
        their `content_statistics` at `ridge`; from those kept when the same pixels came before."""
        key = (pixels_key(picture), ridge)
        kept = self.kept_photos.get(key)
        if kept is not None:
            return kept[0].copy(), kept[1]
        feat = self.deepest(picture, self.levels[0])
        found = self.content_statistics(feat, ridge)
        if feat.nbytes <= self.KEPT_PHOTO_BYTES:   # a print-size photo is not copied only to be dropped
            self.kept_photos.put(key, (feat.copy(), found))
        return feat, found


class PortableAdaIN(_Pipeline):
    """The bundle's encoder and an AdaIN decoder's copy (level 4)."""

    statistics = staticmethod(channel_stats)

    @staticmethod
    def content_statistics(feat: np.ndarray, ridge: float) -> tuple[np.ndarray, np.ndarray]:
        return channel_stats(feat)

    def stylize(self, content: np.ndarray, styles: list[np.ndarray], run: OnePassSettings,
                on_alpha=None) -> np.ndarray:
        """content (1, 3, H, W) in [0, 1] -> the stylised picture, the same shape, in [0, 1], as
        `run` (an AdaIN one) says; on_alpha(alpha), as WCT's."""
        weights, alpha = _checked(run, "adain", len(styles)), run.alpha
        if on_alpha is not None:
            on_alpha(alpha)
        (h, w), m = content.shape[-2:], run.margin
        feat, stats = self.photo_features(pad_to_stride(mirrored(content, m)))
        target = adain(feat, [self.style_statistics(s)[4] for s in styles], weights, alpha, stats)
        return np.ascontiguousarray(self.decode(4, target)[..., m:m + h, m:m + w])


class PortableWCT(_Pipeline):
    """A loaded bundle: the encoder's stages and the decoders of `levels` (deepest first)."""

    statistics = staticmethod(style_moments)
    content_statistics = staticmethod(whitening)

    def stylize(self, content: np.ndarray, styles: list[np.ndarray], run: OnePassSettings,
                on_alpha=None) -> np.ndarray:
        """content (1, 3, H, W) in [0, 1] -> the stylised picture, the same shape, in [0, 1], as
        `run` (a WCT one) says: the levels deepest first, each encoding the picture so far
        (`infer.stylize`); the first encodes the photo itself. on_alpha: as `infer.stylize`'s."""
        weights = _checked(run, "wct", len(styles))
        alpha, max_move, ridge, sharpen = run.alpha, run.max_move, run.ridge, run.sharpen
        (h, w), m = content.shape[-2:], run.margin
        picture = pad_to_stride(mirrored(content, m))
        style_stats = [self.style_statistics(s, histograms=bool(run.histograms)) for s in styles]
        for level in self.levels:
            if level == self.levels[0]:
                feat, whitened = self.photo_features(picture, ridge)
            else:
                feat = self.deepest(picture, level)
                whitened = whitening(feat, ridge)
            guard = max_move is not None and level == self.levels[0]
            matching = run.histograms and level == HISTOGRAM_LEVEL
            if guard or matching:
                photo = feat.copy()
                target = transfer(feat, [s[level] for s in style_stats], weights, 1.0, whitened)
                if matching:   # target + amount (matched - target), in place
                    matched = matched_histograms(target, [s[HISTOGRAMS] for s in style_stats], weights)
                    matched -= target
                    matched *= np.float32(run.histograms)
                    target += matched
                    del matched
                if guard:
                    moved = np.maximum(target, WCT_FLOOR)   # what the decoder would get
                    moved -= photo
                    alpha = guarded_alpha(alpha, float(np.linalg.norm(moved) / max(np.linalg.norm(photo), 1e-12)),
                                          max_move)
                    del moved
                if alpha != 1:   # photo + alpha (target - photo), in place: no copies of a print-size relu4_1
                    target -= photo
                    target *= np.float32(alpha)
                    target += photo
            else:
                target = transfer(feat, [s[level] for s in style_stats], weights, alpha, whitened)
            np.maximum(target, WCT_FLOOR, out=target)   # as `infer.stylize`: the decoders never saw less
            picture = self.decode(level, target)
            if sharpen and len(self.levels) > 1 and level == self.levels[-2]:
                picture = sharpened(picture, sharpen)
        if on_alpha is not None:
            on_alpha(alpha)
        return np.ascontiguousarray(picture[..., m:m + h, m:m + w])


def _session(data: bytes):
    import onnxruntime
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4   # fatal only: a failed run raises, and the CLI says it in one line
    # numpy's products run between the passes: threads that spin waiting for the next pass
    # would take the cores from them.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # Eight sessions run in turn: each one's arena would keep its largest activations after its
    # run (and grow by powers of two), so together they held 2.7 times what torch holds at
    # 2048 px. Without arenas, memory goes back as each run ends (BENCHMARKS.md, "WCT without torch").
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False
    return onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def load(decoder_paths: list[str | Path], bundle: str | Path = PORTABLE_WCT) -> PortableWCT | None:
    """The bundle's pipeline for the decoder files `decoder_paths`, or None when it cannot stand
    in for them: onnxruntime is not installed, there is no readable bundle, or a file is not
    one the bundle's decoders were made from (then the caller runs the .pt files with torch,
    which also gives the errors for files that are no decoders)."""
    if onnxruntime_or_none() is None:
        return None
    try:
        with zipfile.ZipFile(bundle) as archive:
            meta = json.loads(archive.read("meta.json"))
            if meta.get("format") != FORMAT:
                return None
            by_hash = {d["source_sha256"]: int(level) for level, d in meta["decoders"].items()}
            levels = [by_hash.get(file_sha256(p)) if Path(p).is_file() else None for p in decoder_paths]
            if None in levels or len(set(levels)) < len(levels) or not levels:
                return None
            encoder, through = _encoder(archive, levels)
            decoders = {level: _session(archive.read(f"decoder{level}.onnx")) for level in levels}
    except Exception:   # a damaged, foreign or partial bundle: the .pt files are the decoders
        return None
    return PortableWCT(encoder, through, decoders, [meta["decoders"][str(level)]["settings"] for level in levels])


def _encoder(archive: zipfile.ZipFile, levels: list[int]) -> tuple:
    """The bundle's encoder, and the graphs to those of `levels` that have one of their own."""
    return (_session(archive.read("encoder.onnx")),
            {level: _session(archive.read(f"through{level}.onnx")) for level in levels if level < LEVELS[-1]})


def adain_copy_path(decoder: str | Path) -> Path:
    """Where an AdaIN decoder's ONNX copy lies: beside it, as .onnx."""
    return Path(decoder).with_suffix(".onnx")


def load_adain(decoder_path: str | Path, bundle: str | Path = PORTABLE_WCT) -> PortableAdaIN | None:
    """The AdaIN decoder `decoder_path` through its ONNX copy on the bundle's encoder, or None
    when they cannot stand in for it: onnxruntime is not installed, the copy or the bundle is
    missing or unreadable, or the copy was made from another file than the one at
    `decoder_path` now (then the caller runs the .pt with torch)."""
    if onnxruntime_or_none() is None:
        return None
    copy = adain_copy_path(decoder_path)
    if not (copy.is_file() and Path(decoder_path).is_file()):
        return None
    try:
        decoder = _session(copy.read_bytes())
        meta = decoder.get_modelmeta().custom_metadata_map
        if meta.get("format") != ADAIN_FORMAT or meta.get("source_sha256") != file_sha256(decoder_path):
            return None
        with zipfile.ZipFile(bundle) as archive:
            if json.loads(archive.read("meta.json")).get("format") != FORMAT:
                return None
            encoder, through = _encoder(archive, [4])
    except Exception:   # a damaged or foreign file: the .pt is the decoder
        return None
    return PortableAdaIN(encoder, through, {4: decoder}, [json.loads(meta.get("settings") or "{}")])


def load_for(method: str, decoder_paths: list[str | Path]) -> PortableWCT | PortableAdaIN | None:
    """The ONNX pipeline of `method` ('wct' or 'adain') standing in for `decoder_paths`, or None
    (then the caller runs the .pt files with torch, which also gives the errors for files that
    are no decoders of `method`, or too many of them)."""
    if method in ("wct", "wct-lite"):
        return load(decoder_paths, bundle_path(method))
    return load_adain(decoder_paths[0]) if len(decoder_paths) == 1 else None


def bundle_bytes(encoder: bytes, through: list[bytes], decoders: dict[int, tuple[bytes, str, dict]]) -> bytes:
    """A bundle: the encoder (ONNX, the image to relu1_1 ... relu4_1), the graphs from the
    image to relu1_1, relu2_1 and relu3_1 alone, and {level: (ONNX, sha256 of the .pt it was
    made from, its training settings)}."""
    buffer = io.BytesIO()
    meta = {"format": FORMAT, "decoders": {str(level): {"source_sha256": sha, "settings": settings}
                                           for level, (_, sha, settings) in decoders.items()}}
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("meta.json", json.dumps(meta, indent=1, default=str))
        archive.writestr("encoder.onnx", encoder)
        for level, data in enumerate(through, start=1):
            archive.writestr(f"through{level}.onnx", data)
        for level, (data, _, _) in decoders.items():
            archive.writestr(f"decoder{level}.onnx", data)
    return buffer.getvalue()
