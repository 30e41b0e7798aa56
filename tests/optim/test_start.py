"""The optimization's first image: --init wct starts from the one-pass picture, with the run's
styles, blend and masks; it is refused where there is no photo or no painting."""
import pytest
import torch

from conftest import structured
from stylekit.base.errors import InputError
from stylekit.nets.adain import infer
from stylekit.optim import engine
from stylekit.optim.engine import stylize
from stylekit.optim.start import WCT_ALPHA, wct_start
from stylekit.settings import OnePassSettings, Settings


def _red_and_blue(h=64, w=64):
    texture = structured(h, w).flip(-1) * 0.3
    red = (texture + torch.tensor([0.7, 0.0, 0.0]).view(1, 3, 1, 1)).clamp(0, 1)
    blue = (texture + torch.tensor([0.0, 0.0, 0.7]).view(1, 3, 1, 1)).clamp(0, 1)
    return red, blue


def test_wct_start_is_the_one_pass_picture(cnn):
    content, (red, _) = structured(64, 64), _red_and_blue()
    start = wct_start(Settings(init="wct"), cnn, content, [red], None, "fp32")
    decoders, _ = infer.load_decoders("wct")
    run = OnePassSettings(method="wct", alpha=WCT_ALPHA, precision="fp32")
    expected = infer.stylize(infer.inference_encoder(cnn), decoders, content, [red], run)
    assert start.shape == content.shape and 0 <= start.min() and start.max() <= 1
    assert torch.allclose(start, expected, atol=1e-5)
    # the painting's colour, not the photo's: redder than the photo by far
    assert start[:, 0].mean() - start[:, 2].mean() > content[:, 0].mean() - content[:, 2].mean() + 0.2


def test_wct_start_puts_each_style_where_its_mask_says(cnn):
    content, (red, blue) = structured(64, 64), _red_and_blue()
    left = torch.zeros(1, 1, 64, 64)
    left[..., :32] = 1
    start = wct_start(Settings(init="wct"), cnn, content, [red, blue], [left, 1 - left], "fp32")
    redness = start[:, 0] - start[:, 2]
    assert redness[..., 4:28].mean() > redness[..., 36:60].mean() + 0.3


def test_the_run_starts_from_the_wct_picture(cnn):
    content, (red, _) = structured(64, 64), _red_and_blue()
    firsts = {}
    for init in ("content", "wct"):
        result = stylize(cnn, content, red, Settings.preset("part3", size=None, steps=1, init=init, precision="fp32"))
        firsts[init] = result.history[0]
    # the first evaluation is of the start image: the one-pass picture is far nearer the painting
    assert firsts["wct"]["style"] < 0.5 * firsts["content"]["style"], firsts
    assert firsts["wct"]["content"] > firsts["content"]["content"], firsts


def test_the_wct_picture_is_made_at_the_second_scales_size(cnn, monkeypatch):
    content, (red, _) = structured(64, 64), _red_and_blue()
    made = []

    def recording(*args):
        made.append(max(args[2].shape[-2:]))   # the photo's longest side as the picture is made
        return wct_start(*args)

    monkeypatch.setattr(engine, "wct_start", recording)
    cfg = Settings.preset("part3", size=64, steps=1, coarsest=16, multiscale="on", precision="fp32")
    result = stylize(cnn, content, red, cfg)
    assert [side for side, _ in result.plan] == [16, 32, 64] and made == [32]
    stylize(cnn, content, red, cfg.replace(multiscale="off"))
    assert made == [32, 64]


@pytest.mark.parametrize("content, styles", [(None, "one"), ("one", None)])
def test_wct_start_needs_a_photo_and_a_painting(cnn, content, styles):
    img = structured(64, 64)
    with pytest.raises(InputError, match="--init wct needs a content image and a style image"):
        stylize(cnn, img if content else None, img if styles else None, Settings(init="wct", steps=1, size=None))
