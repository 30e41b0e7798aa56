"""WCT's max_move: a photo whose relu4_1 features the painting would move further than
max_move (relative to their norm, at alpha 1) is made at alpha scaled by max_move / move, the
same in torch and without it; the commands record the alpha used and refuse a bad value."""

import numpy as np
import pytest
import torch

from conftest import structured
from nets_helpers import adain_refuses, adain_sidecar, fp32_wct, pixels, torch_pixels, onepass
from stylekit.nets.adain import infer, model
from stylekit.nets.adain.shipped import guarded_alpha
from stylekit.settings import OnePassSettings


def test_alpha_is_scaled_only_beyond_the_limit():
    assert guarded_alpha(0.6, 0.5, 0.75) == guarded_alpha(0.6, 0.75, 0.75) == 0.6
    assert guarded_alpha(0.6, 1.5, 0.75) == pytest.approx(0.3)
    assert guarded_alpha(1.0, 3.0, 0.75) == pytest.approx(0.25)
    assert guarded_alpha(0.6, 9.0, None) == guarded_alpha(0.6, 9.0, float("inf")) == 0.6


@pytest.fixture(scope="module")
def wct(cnn):
    return model.Encoder(cnn), infer.load_decoders("wct")[0]


@pytest.fixture(scope="module")
def pair():
    return structured(40, 48, seed=1), structured(32, 32, seed=7)


def move_at_alpha_1(wct, content, style) -> float:
    encoder, _ = wct
    feat = encoder(infer.pad_to_stride(content), 4)[-1]
    full = infer.transfer_features(feat, [encoder(style, 4)[-1]], method="wct").clamp_min(infer.WCT_FLOOR)
    return infer.relative_move(feat, full)


@torch.inference_mode()
def test_the_picture_is_the_one_at_the_scaled_alpha(wct, pair):
    content, style = pair
    move, used = move_at_alpha_1(wct, content, style), []
    limit = move / 2   # this photo and painting are then at half the alpha
    out = infer.stylize(*wct, content, [style], onepass("wct", alpha=0.8, max_move=limit), on_alpha=used.append)
    assert used == [pytest.approx(0.4)]
    plain = infer.stylize(*wct, content, [style], onepass("wct", alpha=0.4))
    assert (out - plain).abs().max() < 1e-4
    kept = []
    same = infer.stylize(*wct, content, [style], onepass("wct", alpha=0.8, max_move=move * 1.01), on_alpha=kept.append)
    assert kept == [0.8]
    assert (same - infer.stylize(*wct, content, [style], onepass("wct", alpha=0.8))).abs().max() < 1e-4


def test_the_pipeline_without_torch_scales_alpha_alike(cnn, wct, pair):
    exact = fp32_wct(cnn)
    content, style = (x.numpy() for x in pair)
    with torch.inference_mode():
        limit = move_at_alpha_1(wct, *pair) / 2
    used = []
    mine = exact.stylize(content, [style], onepass("wct", alpha=0.8, max_move=limit), used.append)
    assert used == [pytest.approx(0.4, abs=1e-4)]
    assert np.abs(pixels(mine) - torch_pixels(wct, "wct", content, [style], 0.4)).max() <= 1


@pytest.mark.parametrize("flags, max_move", [([], 0.75), (["--max-move", "0.05"], 0.05), (["--max-move", "inf"], None),
                                             (["--max-move", "0.05", "--preserve-color", "luminance"], 0.05)])
def test_the_sidecar_records_the_alpha_used(tmp_path, flags, max_move):
    meta, alpha = adain_sidecar(tmp_path, flags), OnePassSettings.preset("wct").alpha
    assert (meta["alpha"], meta["max_move"]) == (alpha, max_move)
    assert meta["runtime"] == ("torch" if "--preserve-color" in flags else "onnxruntime")
    # this photo and painting move relu4_1 by less than 0.75 of its norm at alpha 1, by more than 0.05
    assert (meta["alpha_used"] == alpha) == (max_move != 0.05) and meta["alpha_used"] > 0


def test_adain_takes_max_move_inf_which_is_its_own_way(tmp_path):
    meta = adain_sidecar(tmp_path, ["--method", "adain", "--max-move", "inf"])
    assert (meta["method"], meta["max_move"], meta["alpha_used"]) == ("adain", None, 1.0)


@pytest.mark.parametrize("flags, words", [
    (["--max-move", "0"], "--max-move must be a positive number, not 0.0"),
    (["--max-move", "-1"], "--max-move must be a positive number, not -1.0"),
    (["--max-move", "nan"], "--max-move must be a positive number, not nan"),
    (["--method", "adain", "--max-move", "1"],
     "--max-move applies to wct and wct-lite, not adain (inf, never scaled, is accepted)"),
])
def test_a_bad_max_move_is_refused_before_a_file_is_made(tmp_path, capsys, flags, words):
    adain_refuses(tmp_path, capsys, flags, words)
