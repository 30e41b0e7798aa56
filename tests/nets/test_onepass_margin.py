"""The one-pass margin: the photo mirrored further out for the pass and cut off after. The
mirroring (torch and numpy alike, at any size; the style networks' margin uses it too), the pictures of both pipelines with it, the
frame it removes from WCT lite's pictures, and the commands' records and refusals."""

import numpy as np
import pytest
import torch

from conftest import ROOT, structured
from nets_helpers import adain_refuses, adain_sidecar, command_picture, fp32_wct, onepass, pixels
from stylekit.base.tensors import mirrored, tensor_to_pil
from stylekit.nets.adain import infer, model
from stylekit.nets.portable import mirrored as numpy_twin
from stylekit.settings import OnePassSettings
from utils import load_image


@pytest.mark.parametrize("shape, margin", [((1, 3, 37, 50), 8), ((1, 3, 5, 7), 8), ((1, 1, 9, 9), 8), ((1, 3, 4, 4), 0)])
def test_numpy_and_torch_mirror_alike_at_any_size(shape, margin):
    x = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    mine, theirs = numpy_twin(x.numpy(), margin), mirrored(x, margin).numpy()
    h, w = shape[-2:]
    assert mine.shape == theirs.shape == (*shape[:2], h + 2 * margin, w + 2 * margin)
    assert np.array_equal(mine, theirs) and np.array_equal(theirs[..., margin:margin + h, margin:margin + w], x.numpy())
    if margin and min(h, w) > margin:   # mirrored about the edge pixel, which is not repeated
        assert np.array_equal(theirs[..., margin - 1, margin:margin + w], x.numpy()[..., 1, :])


@pytest.fixture(scope="module")
def pipelines(cnn):
    return fp32_wct(cnn), (model.Encoder(cnn), infer.load_decoders("wct")[0])


@torch.inference_mode()
@pytest.mark.parametrize("height, width", [(40, 48), (13, 9)])
def test_the_pass_runs_on_the_mirrored_photo_and_both_pipelines_agree(pipelines, height, width):
    exact, (encoder, decoders) = pipelines
    content, style = structured(height, width, seed=1), structured(32, 32, seed=7)
    run = onepass("wct", alpha=0.8, margin=8)
    out = infer.stylize(encoder, decoders, content, [style], run)
    by_hand = infer.stylize(encoder, decoders, mirrored(content, 8), [style], onepass("wct", alpha=0.8))
    assert out.shape == content.shape and torch.allclose(out, by_hand[..., 8:8 + height, 8:8 + width], atol=1e-6)
    mine = pixels(exact.stylize(content.numpy(), [style.numpy()], run))
    assert np.abs(mine - np.asarray(tensor_to_pil(out)).astype(int)).max() <= 1


@torch.inference_mode()
def test_masks_are_mirrored_with_the_photo(pipelines):
    _, (encoder, decoders) = pipelines
    content, red = structured(40, 48, seed=1), torch.zeros(1, 3, 32, 32)
    red[:, 0] = 0.9
    left = torch.zeros(1, 1, 40, 48)
    left[..., :24] = 1
    out = infer.stylize(encoder, decoders, content, [red, structured(32, 32, seed=7)],
                        onepass("wct", margin=8), masks=[left, 1 - left])
    redness = out[:, 0] - out[:, 2]
    assert out.shape == content.shape and redness[..., :20].mean() > redness[..., 28:].mean() + 0.2


def _frame(picture: torch.Tensor) -> float:
    """The worst side's |outermost row's mean colour - the six rows inside it|, levels of 255."""
    x = picture[0].numpy() * 255
    sides = [x[:, 0, :], x[:, -1, :], x[:, :, 0], x[:, :, -1]]
    insides = [x[:, 1:7, :].mean(1), x[:, -7:-1, :].mean(1), x[:, :, 1:7].mean(2), x[:, :, -7:-1].mean(2)]
    return max(float(np.abs(s.mean(-1) - i.mean(-1)).max()) for s, i in zip(sides, insides))


@torch.inference_mode()
def test_wct_lites_margin_takes_the_frame_off_its_pictures():
    """WCT lite's narrow decoders draw a light frame where their padding meets the picture's edge
    (about 30 levels of 255 on the castle's sky at 128 px, the photo's own edge rows 14): on the
    photo mirrored by the preset's margin it falls outside the part kept."""
    decoders, trained = infer.load_decoders("wct-lite")
    encoder = infer.encoder_for(trained)
    content = load_image(ROOT / "images/content/chenonceau.jpg", 128)
    style = infer.load_style(ROOT / "images/style/starry_night.jpg", 128)
    run = OnePassSettings.preset("wct-lite", precision="fp32")
    assert run.margin > 0 and OnePassSettings.preset("wct").margin == OnePassSettings.preset("adain").margin == 0
    framed, kept = (_frame(infer.stylize(encoder, decoders, content, [style], OnePassSettings.preset(
        "wct-lite", precision="fp32", margin=m))) for m in (0, run.margin))
    assert kept < 0.5 * framed and kept < _frame(content) + 3, (framed, kept, _frame(content))


@pytest.mark.parametrize("flags, margin", [([], OnePassSettings.preset().margin), (["--method", "wct"], 0),
                                           (["--method", "wct-lite", "--margin", "0"], 0),
                                           (["--margin", "16", "--preserve-color", "luminance"], 16),
                                           (["--method", "adain", "--margin", "8"], 8)])
def test_the_sidecar_records_the_margin(tmp_path, flags, margin):
    meta = adain_sidecar(tmp_path, flags)
    assert meta["margin"] == margin and meta["size"] == [24, 32]
    assert meta["runtime"] == ("torch" if "--preserve-color" in flags else "onnxruntime")


def test_the_margin_changes_the_commands_picture(tmp_path):
    plain, margined = (command_picture(tmp_path / m, ["--method", "wct-lite", "--margin", m]) for m in ("0", "8"))
    assert plain.shape == margined.shape and np.abs(plain - margined).mean() > 1


@pytest.mark.parametrize("flags, words", [
    (["--margin", "-1"], "--margin must be a whole number of px from 0 to 64, not -1"),
    (["--margin", "65"], "--margin must be a whole number of px from 0 to 64, not 65"),
    (["--margin", "1.5"], "argument --margin: invalid int value: '1.5'"),
])
def test_a_bad_margin_is_refused_before_a_file_is_made(tmp_path, capsys, flags, words):
    adain_refuses(tmp_path, capsys, flags, words)


@pytest.mark.parametrize("margin", [True, 8.0, "8", None])
def test_the_settings_take_a_whole_number_of_px_only(margin):
    from stylekit.base.errors import InputError
    with pytest.raises(InputError, match="--margin must be a whole number of px"):
        OnePassSettings(method="wct-lite", margin=margin)
