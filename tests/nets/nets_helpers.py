"""Small inputs shared by the tests of stylekit/nets (imported by name: tests/nets is on the
path of its own test modules)."""
from pathlib import Path

import numpy as np
import torch

from conftest import structured, write_png


def stripes(h: int, w: int, rgb=(220, 40, 40), period: int = 6, seed: int = 0) -> torch.Tensor:
    """A striped 'painting' of one dominant colour, with some noise."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.float32)
    on = (np.arange(w)[None, :] % period < period // 2)
    img[:] = np.array(rgb, np.float32) / 255 * on[..., None]
    img += rng.uniform(0, 0.2, (h, w, 3))
    return torch.from_numpy(img.clip(0, 1)).permute(2, 0, 1)[None]


def photo_folder(tmp_path: Path, count: int = 4) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(count):
        write_png(folder / f"p{i}.png", structured(48 + 8 * i, 64, seed=i))
    return folder


def tiny_decoder():
    """A narrow, freshly initialised AdaIN decoder, the same every time."""
    from stylekit.nets.adain.model import Decoder
    torch.manual_seed(0)
    return Decoder(width=0.125).eval()
