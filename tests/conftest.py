import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from utils import load_vgg19


@pytest.fixture(scope="session")
def cnn():
    return load_vgg19("original")


def structured(h=48, w=64, seed=0) -> torch.Tensor:
    """A small image with edges, gradients and colour: something features can describe."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    r = (torch.sin(xx * 12) * 0.5 + 0.5)
    g = ((xx + yy) / 2)
    b = ((xx - 0.5) ** 2 + (yy - 0.5) ** 2 < 0.08).float() * 0.8 + 0.1
    return torch.stack([r, g, b]).unsqueeze(0)


def write_png(path: Path, tensor_or_array) -> Path:
    arr = tensor_or_array
    if isinstance(arr, torch.Tensor):
        arr = (arr[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(arr).save(path)
    return path


@pytest.fixture
def tiny_images(tmp_path):
    """A 64x48 'photo' and a 56x56 'painting' on disk."""
    content = write_png(tmp_path / "content.png", structured(48, 64))
    rng = np.random.default_rng(1)
    stripes = np.zeros((56, 56, 3), np.uint8)
    stripes[:, :, 0] = (np.arange(56)[None, :] % 8 < 4) * 220
    stripes[:, :, 2] = rng.integers(0, 255, (56, 56))
    style = write_png(tmp_path / "style.png", stripes)
    return content, style


WHITE, RED, BLUE = (255, 255, 255), (255, 0, 0), (0, 0, 255)


def png_bytes(img: Image.Image, fmt="PNG", **kw) -> bytes:
    """An image file's bytes, in any format Pillow writes."""
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def photo(w=64, h=48) -> Image.Image:
    """`structured` as an 8-bit PIL image."""
    arr = (structured(h, w)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    return Image.fromarray(arr)


def gif_bytes() -> bytes:
    """A three-frame animated GIF (red, blue, green)."""
    frames = [Image.new("RGB", (24, 16), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    return png_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=40, loop=0)


def sidecar(path: Path) -> dict:
    """The JSON sidecar beside an output image."""
    return json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))


def no_temporary_files(folder: Path) -> bool:
    """No half-written file (`*.tmp`, `base.files`' atomic writes) left anywhere under `folder`."""
    return not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def pan_gif(path: Path, w: int = 48, h: int = 32, n: int = 3) -> Path:
    """An animated GIF of `structured` panning right: a short clip for the video commands."""
    base = np.asarray(structured(h, w)[0].permute(1, 2, 0) * 200, np.uint8)
    frames = [Image.fromarray(np.roll(base, 3 * i, axis=1)) for i in range(n)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=80, loop=0)
    return path


@pytest.fixture
def work(tmp_path, monkeypatch):
    """Photos, paintings, clips and odd files in the current folder (the hostile-user tests')."""
    write_png(tmp_path / "content.png", structured(48, 64))
    write_png(tmp_path / "style.png", structured(56, 56, seed=1).flip(-1))
    write_png(tmp_path / "style2.png", structured(40, 56, seed=2).flip(-2))
    write_png(tmp_path / "tiny4.png", structured(4, 4))
    write_png(tmp_path / "strip.png", np.full((3000, 1, 3), 90, np.uint8))
    pan_gif(tmp_path / "clip.gif")
    pan_gif(tmp_path / "tinyclip.gif", 10, 10)
    (tmp_path / "photos").mkdir()
    for i in range(2):
        write_png(tmp_path / "photos" / f"p{i}.png", structured(48, 64, seed=i))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def no_network(monkeypatch):
    """Refused runs must be refused before the VGG-19 loads."""
    from stylekit.cli import train_adain, train_fast, video
    import utils

    def fail(*a, **k):
        pytest.fail("the network loaded for a refused run")
    for module in (train_fast, train_adain, video, utils):   # `adain` imports utils' when it runs
        monkeypatch.setattr(module, "load_vgg19", fail)
