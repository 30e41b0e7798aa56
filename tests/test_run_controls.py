"""run.py's controls end to end: --preserve-color, --mask and --hist-weight reach the engine
through the command line and change the picture the way they should (tests/optim/test_control.py
checks the engine on its own). Tiny images, the network loaded once per session."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import structured, write_png
import run
from stylekit.base import color

STEPS = 12
pytestmark = pytest.mark.slow  # a real run each, 12 evaluations at 64 px


@pytest.fixture(autouse=True)
def shared_network(cnn, monkeypatch):
    monkeypatch.setattr(run, "load_vgg19", lambda weights, device: cnn)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A 64x48 photo, a red-and-blue striped painting, and the plain run's output (no control)."""
    d = tmp_path_factory.mktemp("controls")
    content = write_png(d / "photo.png", structured(48, 64))
    stripes = np.zeros((48, 48, 3), np.uint8)
    stripes[:, :, 0] = (np.arange(48)[None, :] % 8 < 4) * 230
    stripes[:, :, 2] = (np.arange(48)[:, None] % 6 < 3) * 230
    style = write_png(d / "painting.png", stripes)
    return d, content, style


def transfer(inputs, name, *extra):
    d, content, style = inputs
    out = d / f"{name}.png"
    if not out.exists():
        assert run.main([str(a) for a in ("--content", content, "--style", style, "--size", 64, "--steps", STEPS,
                                          "--precision", "fp32", "--out", out, *extra)]) == 0
    meta = json.loads(out.with_suffix(".json").read_text())
    return torch.from_numpy(np.asarray(Image.open(out).convert("RGB"), np.float32) / 255).permute(2, 0, 1)[None], meta


def photo(inputs):
    return torch.from_numpy(np.asarray(Image.open(inputs[1]).convert("RGB"), np.float32) / 255).permute(2, 0, 1)[None]


def chroma(img):
    return color.rgb_to_yiq(img)[:, 1:]


def test_preserve_color_luminance_keeps_the_photos_colours(inputs):
    kept, meta = transfer(inputs, "luminance", "--preserve-color", "luminance")
    plain, _ = transfer(inputs, "plain")
    content = photo(inputs)
    assert meta["settings"]["preserve_color"] == "luminance"
    inside = ((kept > 0.02) & (kept < 0.98)).all(1, keepdim=True).expand(-1, 2, -1, -1)  # not clipped
    assert inside.float().mean() > 0.3
    err_kept = (chroma(kept) - chroma(content))[inside].abs().mean().item()
    err_plain = (chroma(plain) - chroma(content))[inside].abs().mean().item()
    assert err_kept < 0.01 and err_plain > 3 * err_kept, (err_kept, err_plain)
    assert (kept - content).abs().mean() > 0.02  # and the luminance was stylised


def test_mask_keeps_the_black_half_as_the_photo(inputs):
    d = inputs[0]
    mask = np.zeros((48, 64), np.uint8)
    mask[:, 32:] = 255  # right half stylised
    mask_path = d / "mask.png"
    Image.fromarray(mask).save(mask_path)
    masked, meta = transfer(inputs, "masked", "--mask", mask_path)
    plain, _ = transfer(inputs, "plain")
    content = photo(inputs)
    assert meta["settings"]["mask"] == str(mask_path)
    left = (masked - content)[..., :, :26].abs().mean().item()
    right = (masked - content)[..., :, 38:].abs().mean().item()
    plain_left = (plain - content)[..., :, :26].abs().mean().item()
    assert left < 0.5 * plain_left, (left, plain_left)
    assert right > 2 * left, (left, right)


def test_hist_weight_adds_the_histogram_loss(inputs):
    hist, meta = transfer(inputs, "hist", "--hist-weight", "1e4")
    plain, plain_meta = transfer(inputs, "plain")
    assert meta["settings"]["hist_weight"] == 1e4
    assert meta["final_losses"].get("hist", 0) > 0 and "hist" not in plain_meta["final_losses"]
    assert (hist - plain).abs().mean() > 0.01
