"""Training batches from a folder of images: random square crops, reproducible by index.

Any folder works: our offline photos (`nets.photos`), AdaIN's training styles, or COCO from disk.
"""
from __future__ import annotations

import random
import warnings
from pathlib import Path

import torch
from PIL import Image

from stylekit.base.errors import InputError, reason
from stylekit.base.tensors import pil_to_tensor


class RandomCrops(torch.utils.data.Dataset):
    """`length` random square crops of side `size` from the images in `files`, with flips.

    Each image is first scaled so its shorter side is between `size` and 1.25 `size`, so a
    crop shows most of a scene rather than a small patch of it. Index i always gives the same
    crop for the same seed, so runs (and resumed runs) are reproducible. Files that cannot be
    read are skipped (`skipped` says which and why); none readable is an InputError.
    """

    def __init__(self, files: list[Path], size: int, length: int, seed: int = 0):
        self.files, self.size, self.length, self.seed = list(files), size, length, seed
        self._cache: dict[Path, Image.Image] = {}
        self.skipped: dict[Path, str] = {}     # unreadable files, and why

    def __len__(self) -> int:
        return self.length

    def _image(self, path: Path) -> Image.Image | None:
        """The image as RGB, or None (and noted in `skipped`) when the file cannot be read."""
        if path in self.skipped:
            return None
        if path not in self._cache:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    with Image.open(path) as img:
                        self._cache[path] = img.convert("RGB")
            except Exception as exc:   # damaged, truncated, not an image: Pillow raises many kinds
                self.skipped[path] = reason(exc)
                return None
        return self._cache[path]

    def __getitem__(self, index: int) -> torch.Tensor:
        rng = random.Random(self.seed * 1_000_003 + index)
        # An unreadable file is skipped for the next draw of the same generator: the crops of a
        # folder without one are as before, and a resumed run draws the same crops again.
        img = self._image(rng.choice(self.files))
        while img is None:
            if len(self.skipped) == len(self.files):
                path, why = next(iter(self.skipped.items()))
                raise InputError(f"none of the {len(self.files)} images can be read (e.g. {path}: {why})")
            img = self._image(rng.choice(self.files))
        scale = self.size * rng.uniform(1.0, 1.25) / min(img.size)
        w, h = max(self.size, round(img.width * scale)), max(self.size, round(img.height * scale))
        img = img.resize((w, h), Image.BILINEAR)
        x, y = rng.randint(0, w - self.size), rng.randint(0, h - self.size)
        crop = img.crop((x, y, x + self.size, y + self.size))
        if rng.random() < 0.5:
            crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
        return pil_to_tensor(crop)[0]
