"""Images as tensors: PIL <-> (1, 3, H, W) in [0, 1], resizing, noise, masks."""
from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image

from .errors import InputError
from .images import DEFAULT_MAX_PIXELS, open_image


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


def mirrored(img: torch.Tensor, margin: int) -> torch.Tensor:
    """img (N, C, H, W) with `margin` px of itself mirrored on every side, edge pixels repeated
    where it is too small to mirror (`nets.portable.mirrored` is the numpy twin): the pass runs
    on it and the result is cropped back, so a frame a network draws at its padding falls outside."""
    if not margin:
        return img
    return torch.nn.functional.pad(img, (margin,) * 4, mode="reflect" if min(img.shape[-2:]) > margin else "replicate")


def noise_like(img: torch.Tensor, seed: int) -> torch.Tensor:
    """Uniform white noise in [0, 1] with the shape of `img`, from its own generator."""
    try:
        gen = torch.Generator().manual_seed(seed)
    except (ValueError, RuntimeError, OverflowError, TypeError):
        raise InputError(f"seed {seed} is out of range: it must fit in 64 bits") from None
    return torch.rand(img.shape, generator=gen).to(img.device)


MASK_SHAPE_SLACK = 1.05   # a mask's aspect may differ from the photo's by this factor (rounding, a crop)


def load_mask(path, size_hw: tuple[int, int], regions: int, max_pixels: int | None = DEFAULT_MAX_PIXELS,
              photo_wh: tuple[int, int] | None = None) -> list[torch.Tensor]:
    """A mask image -> `regions` soft masks (1, 1, H, W) that sum to 1 at every pixel.

    One region: white = 1 (stylised), black = 0 (kept as content), greys in between.
    Several: the image's grey levels (colours are taken by their luminance), in ascending
    order, mark regions 0, 1, ...; with exactly `regions` distinct levels those are used,
    otherwise levels are rounded to `regions` evenly spaced ones (0, 255 for two).
    photo_wh: the photo file's (width, height), whose proportions the mask must have; without
    it, the working size's (to a pixel of rounding).
    """
    img = open_image(path, max_pixels)
    if photo_wh is not None:
        shape, rounding, shown = photo_wh[0] / photo_wh[1], 1.0, f"{photo_wh[0]}x{photo_wh[1]} px"
    else:   # a small working size is the photo's shape to a pixel
        shape, rounding, shown = size_hw[1] / size_hw[0], 1 + 1 / min(size_hw), f"{size_hw[1]}x{size_hw[0]} px here"
    if abs(math.log((img.width / img.height) / shape)) > math.log(MASK_SHAPE_SLACK * rounding):
        # stretched to the photo, its regions would land elsewhere than drawn
        raise InputError(f"the mask {path} is {img.width}x{img.height} px, not the photo's shape "
                         f"({shown}): draw it at the photo's proportions")
    grey = img.convert("L").resize(size_hw[::-1], Image.Resampling.NEAREST)
    levels = torch.from_numpy(np.asarray(grey, dtype=np.float32)).view(1, 1, *size_hw)
    at = f"at {size_hw[1]}x{size_hw[0]} px"
    if regions == 1:
        if not levels.any():
            raise InputError(f"the mask {path} is black everywhere {at}: nothing would be stylised")
        return [levels / 255.0]
    distinct = torch.unique(levels)
    if len(distinct) == regions:
        index = torch.bucketize(levels, distinct)
    else:
        index = torch.round(levels / 255.0 * (regions - 1)).long()
    masks = [(index == r).float() for r in range(regions)]
    # A style without a region would be loaded and weighed for nothing, and the picture would
    # silently lack it (two grey levels for three styles, or a region lost at a small --size).
    empty = [r + 1 for r, m in enumerate(masks) if not m.any()]
    if empty:
        which = ", ".join(map(str, empty))
        raise InputError(f"the mask {path} leaves style image {which} of {regions} no pixels {at}: "
                         f"give it {regions} grey levels, darkest for the first style, each covering part "
                         f"of the picture")
    return masks
