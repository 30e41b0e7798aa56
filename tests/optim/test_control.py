"""The engine's controls: colour preservation, masks, histogram loss, several styles."""
import numpy as np
import pytest
import torch
from PIL import Image

from stylekit.base import color
from conftest import structured
from stylekit.settings import Settings
from stylekit.optim.engine import stylize
from style_and_content import HistogramLoss, build_model, masked_gram_matrix, gram_matrix
from stylekit.base.tensors import load_mask
from stylekit.base.errors import InputError


def painting(h=64, w=64):
    """Saturated orange/purple stripes: colours far from the test photo's."""
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    stripes = ((xx + yy) // 6 % 2).float()
    return torch.stack([0.9 * stripes + 0.1, 0.4 * stripes, 0.8 * (1 - stripes)]).unsqueeze(0)


def chroma(img):
    return color.rgb_to_yiq(img)[:, 1:]


def test_yiq_round_trip_and_luminance_grey():
    img = torch.rand(1, 3, 8, 8)
    torch.testing.assert_close(color.yiq_to_rgb(color.rgb_to_yiq(img)), img, atol=1e-5, rtol=0)
    grey = color.luminance(img)
    assert torch.allclose(grey[:, 0], grey[:, 1]) and torch.allclose(grey[:, 1], grey[:, 2])
    assert chroma(grey).abs().max() < 1e-5


def test_colour_histogram_matching_gives_content_mean_and_covariance():
    torch.manual_seed(0)  # a painting with full-rank colour covariance (stripes alone are rank 1)
    content, style = structured(40, 40) * 0.5 + 0.25, painting(40, 40) * 0.3 + torch.rand(1, 3, 40, 40) * 0.3
    matched = color.match_color_histogram(style, content)
    flat_m, flat_c = matched[0].reshape(3, -1), content[0].reshape(3, -1)
    torch.testing.assert_close(flat_m.mean(1), flat_c.mean(1), atol=2e-3, rtol=0)
    torch.testing.assert_close(torch.cov(flat_m), torch.cov(flat_c), atol=2e-3, rtol=0)


@pytest.mark.slow
def test_preserve_luminance_keeps_the_photos_chroma(cnn):
    content, style = structured(64, 64), painting()
    plain = stylize(cnn, content, style, Settings(size=None, steps=30, precision="fp32"))
    kept = stylize(cnn, content, style, Settings(size=None, steps=30, precision="fp32", preserve_color="luminance"))
    err_kept = (chroma(kept.image) - chroma(content)).abs().mean().item()
    err_plain = (chroma(plain.image) - chroma(content)).abs().mean().item()
    assert err_kept < 0.02, err_kept  # not 0: clipping to [0, 1] after the YIQ round trip
    assert err_plain > 3 * err_kept and err_plain > 0.03, (err_plain, err_kept)
    # and the luminance was stylised: it moved away from the content's
    assert (kept.image - content).abs().mean() > 0.02


def test_masked_gram_with_full_mask_is_the_gram():
    f = torch.randn(1, 8, 6, 5)
    torch.testing.assert_close(masked_gram_matrix(f, torch.ones(1, 1, 6, 5)), gram_matrix(f))
    half = torch.zeros(1, 1, 6, 5)
    half[..., :3, :] = 1
    torch.testing.assert_close(masked_gram_matrix(f, half), gram_matrix(f[..., :3, :]))


@pytest.mark.slow
def test_half_black_mask_keeps_that_half_as_content(cnn):
    content, style = structured(64, 64), painting()
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., :, 32:] = 1  # right half stylised
    out = stylize(cnn, content, style, Settings(size=None, steps=40, precision="fp32"), style_masks=[mask]).image
    left = (out - content)[..., :, :28].abs().mean().item()
    right = (out - content)[..., :, 36:].abs().mean().item()
    assert right > 3 * left, (left, right)
    unmasked = stylize(cnn, content, style, Settings(size=None, steps=40, precision="fp32")).image
    assert left < 0.5 * (unmasked - content)[..., :, :28].abs().mean().item()


def test_two_styles_two_regions(cnn):
    content = structured(64, 64)
    red, blue = torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 64, 64)
    red[:, 0], blue[:, 2] = 0.9, 0.9
    top = torch.zeros(1, 1, 64, 64)
    top[..., :32, :] = 1
    out = stylize(cnn, content, [red, blue], Settings(size=None, steps=40, precision="fp32", content_weight=0.01), style_masks=[top, 1 - top]).image
    upper, lower = out[..., :28, :].mean((2, 3))[0], out[..., 36:, :].mean((2, 3))[0]
    assert upper[0] > upper[2] + 0.1 and lower[2] > lower[0] + 0.1, (upper, lower)


def test_load_mask_levels(tmp_path):
    arr = np.zeros((10, 20), np.uint8)
    arr[:, 10:] = 200
    Image.fromarray(arr).save(tmp_path / "m.png")
    one = load_mask(tmp_path / "m.png", (10, 20), 1)
    assert len(one) == 1 and one[0][0, 0, 0, 15].item() == pytest.approx(200 / 255)
    a, b = load_mask(tmp_path / "m.png", (10, 20), 2)
    assert a[0, 0, :, :10].eq(1).all() and b[0, 0, :, 10:].eq(1).all()
    torch.testing.assert_close(a + b, torch.ones_like(a))
    arr[:4, :10] = 120   # three levels, rounded to 0, 127.5, 255 for three styles
    Image.fromarray(arr).save(tmp_path / "m3.png")
    three = load_mask(tmp_path / "m3.png", (10, 20), 3)
    assert [m.sum().item() for m in three] == [60, 40, 100]
    # A style left without pixels is refused, not silently dropped: two levels for three
    # styles, a region lost at a small size, a one-style mask black everywhere.
    with pytest.raises(InputError, match=r"leaves style image 2 of 3 no pixels at 20x10 px"):
        load_mask(tmp_path / "m.png", (10, 20), 3)
    arr[:, :] = 0
    arr[0, 0] = 255
    Image.fromarray(arr).save(tmp_path / "dot.png")
    assert load_mask(tmp_path / "dot.png", (10, 20), 2)[1].sum().item() == 1
    with pytest.raises(InputError, match=r"leaves style image 2 of 2 no pixels at 4x2 px"):
        load_mask(tmp_path / "dot.png", (2, 4), 2)
    Image.fromarray(np.zeros((10, 20), np.uint8)).save(tmp_path / "black.png")
    with pytest.raises(InputError, match="black everywhere at 20x10 px: nothing would be stylised"):
        load_mask(tmp_path / "black.png", (10, 20), 1)


def test_histogram_loss_remaps_to_target_distribution():
    target = torch.randn(1, 4, 10, 10) * 3 + 1
    loss = HistogramLoss(target)
    loss(target)
    assert loss.loss.item() == pytest.approx(0.0, abs=1e-10)
    x = torch.randn(1, 4, 7, 9)
    assert loss(x) is x and loss.loss.item() > 1.0


def hist_distance(cnn, out, style):
    model, losses = build_model(cnn, None, style, content_layers=[], style_layers=[], hist_layers=["relu1_1", "relu4_1"])
    with torch.no_grad():
        model(out)
    return sum(m.loss.item() for m in losses["hist"])


@pytest.mark.slow
def test_histogram_loss_changes_the_result_and_lowers_its_distance(cnn):
    style = painting()
    plain = stylize(cnn, None, style, Settings(size=None, steps=40, precision="fp32", seed=1))
    hist = stylize(cnn, None, style, Settings(size=None, steps=40, precision="fp32", seed=1, hist_weight=1e4))
    assert (plain.image - hist.image).abs().mean() > 0.01
    assert "hist" in hist.history[-1] and "hist" not in plain.history[-1]
    assert hist_distance(cnn, hist.image, style) < 0.8 * hist_distance(cnn, plain.image, style)


def test_blend_weights_select_single_styles(cnn):
    a, b = structured(40, 40), painting(40, 40)
    single = [build_model(cnn, None, s, content_layers=[], style_layers=["conv3_1"])[1]["style"][0].target for s in (a, b)]
    for weights, expected in (([1, 0], single[0]), ([0, 1], single[1])):
        _, losses = build_model(cnn, None, [a, b], content_layers=[], style_layers=["conv3_1"], style_blend=weights)
        torch.testing.assert_close(losses["style"][0].target, expected)
