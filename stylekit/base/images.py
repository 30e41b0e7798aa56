"""Images in: any file Pillow reads -> upright 8-bit sRGB, sizes and resizing. Torch-free, so that
a command that needs no torch (`fast` through ONNX Runtime) can read its photos; the tensors
are in `base.tensors`."""
from __future__ import annotations

import io
import os
import stat
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from .errors import InputError, reason

# Pillow's own decompression-bomb threshold, made explicit so the CLI can raise it.
DEFAULT_MAX_PIXELS = 89_478_485


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
        # Pillow's convert('RGB') would clip at 255: rescale the full 16-bit range, rounded, in
        # integers (float64 copies of a large scan took gigabytes).
        arr = (np.asarray(img).astype(np.uint32) * 255 + 32767) // 65535
        return Image.fromarray(arr.astype(np.uint8), "L").convert("RGB"), "16-bit greyscale rescaled to 8 bits"
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
        return f"cannot read {path}: {reason(exc)}"
    if stat.S_ISDIR(st.st_mode):
        return f"{path} is a directory, not an image"
    if not stat.S_ISREG(st.st_mode):
        return f"{path} is not a regular file"
    if st.st_size == 0:
        return f"{path} is empty (0 bytes)"
    return None


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
    except PermissionError:
        raise InputError(f"cannot read {path}: permission denied") from None
    except Exception as exc:  # Pillow's decoders raise many kinds on damaged files
        raise InputError(f"cannot read {path} as an image (damaged or truncated?): {reason(exc)}") from None
    finally:
        Image.MAX_IMAGE_PIXELS = old_limit
    if rgb.width < 1 or rgb.height < 1:
        raise InputError(f"{path} has no pixels")
    rgb.info = {"converted": note} if note else {}
    return rgb


def check_min_side(img: Image.Image | tuple[int, int], path, min_side: int, layer: str | None = None,
                   size: int | None = None) -> None:
    """Refuse an image (or a (width, height) read from its header) whose shorter side is under
    `min_side` px, before any upscaling (a 1x1 image scaled up to 256 px carries nothing for the
    deeper layers to see), or once its longest side is brought to `size` (a thin photo shrunk
    to a line); `layer` names the layer that needs it, for the message."""
    width, height = img if isinstance(img, tuple) else img.size
    need = f"layer {layer} needs" if layer else "it needs"
    if min(width, height) < min_side:
        raise InputError(f"{path} is {width}x{height} px, too small: {need} at least "
                         f"{min_side} px on each side")
    fitted = fit_size(width, height, size)
    if min(fitted) < min_side:
        raise InputError(f"{path} is {width}x{height} px, {fitted[0]}x{fitted[1]} at --size {size}: too small, "
                         f"{need} at least {min_side} px on each side; raise --size")


def fit_size(width: int, height: int, size: int | None) -> tuple[int, int]:
    """(width, height) scaled so that the longest side is `size` px (None: as they are)."""
    if size is None:
        return width, height
    if size < 1:
        raise InputError(f"size must be a positive number of pixels, not {size}")
    scale = size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def image_size(path: str | os.PathLike, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """(width, height) of an image file, upright, from its header where it can (so that a run
    can size its work before it decodes anything); InputError as `open_image` otherwise."""
    path = Path(path)
    if _file_problem(path) is None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with Image.open(path, formats=_readable_formats()) as img:
                    width, height = img.size
                    turned = img.getexif().get(0x0112) in (5, 6, 7, 8)   # EXIF orientation: a quarter turn
            if width >= 1 and height >= 1 and not (max_pixels and width * height > max_pixels):
                return (height, width) if turned else (width, height)
        except Exception:
            pass
    return open_image(path, max_pixels).size


def resize_longest(img: Image.Image, size: int | None) -> Image.Image:
    """Scale so that the longest side is `size` pixels (None keeps the image as it is)."""
    new = fit_size(img.width, img.height, size)
    return img if new == img.size else img.resize(new, Image.Resampling.LANCZOS)


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


def image_files(folder: str | Path) -> list[Path]:
    """The images in `folder` and below, sorted, hidden ones left out (a name starting with
    '.', or in such a folder: .git, .venv, a viewer's thumbnails); InputError when there is no
    such folder or no image."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"training photos not found: {folder} is not a folder "
                         "(build ours with `python -m stylekit photos`)")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if not files:
        raise InputError(f"no images in {folder}")
    return files
