"""WCT's histogram matching at relu3_1 as the commands use it: in the presets, recorded in the
sidecar, changing the picture, skipped with masks (each region takes whitening and colouring
alone), and a bad amount refused before a file is made. The transform's own statistics are in
test_wct.py; the two pipelines' agreement in test_wct_portable.py."""
import numpy as np
import pytest
import torch

from conftest import structured, write_png
from nets_helpers import adain_refuses, adain_sidecar, command_picture, onepass
from stylekit.nets.adain import infer, model, shipped, wct
from stylekit.settings import OnePassSettings


def test_both_wct_presets_match_the_histograms_and_adain_has_none():
    assert OnePassSettings.preset("wct").histograms == 1.0
    assert OnePassSettings.preset("wct-lite").histograms == 1.0
    assert OnePassSettings.preset("adain").histograms == 0.0
    assert shipped.HISTOGRAM_LEVEL in shipped.LEVELS


@pytest.mark.parametrize("flags, amount", [([], 1.0), (["--method", "wct-lite", "--histograms", "0.5"], 0.5),
                                           (["--histograms", "0", "--preserve-color", "luminance"], 0.0),
                                           (["--method", "adain"], 0.0)])
def test_the_sidecar_records_the_histograms(tmp_path, flags, amount):
    assert adain_sidecar(tmp_path, flags)["histograms"] == amount


def test_the_sidecar_records_none_where_the_pass_applies_none(tmp_path):
    """Decoders without relu3_1, and masks, take whitening and colouring alone: the sidecar says 0."""
    (tmp_path / "one").mkdir()
    lite_relu1 = str(shipped.wct_decoder_path(1, lite=True))
    assert adain_sidecar(tmp_path / "one", ["--method", "wct-lite", "--decoder", lite_relu1])["histograms"] == 0.0
    folder = tmp_path / "mask"
    folder.mkdir()
    mask = write_png(folder / "mask.png", torch.cat([torch.zeros(1, 3, 24, 16), torch.ones(1, 3, 24, 16)], -1))
    second = write_png(folder / "second.png", structured(32, 32, seed=8))
    meta = adain_sidecar(folder, ["--method", "wct-lite", "--mask", str(mask),
                                  "--style", str(folder / "style.png"), str(second)])   # the helper's painting and another
    assert meta["mask"] and len(meta["styles"]) == 2 and meta["histograms"] == 0.0
    assert adain_sidecar(tmp_path, ["--method", "wct-lite"])["histograms"] == 1.0   # and 1 where it applies


def test_histogram_matching_changes_the_commands_picture(tmp_path):
    plain, matched = (command_picture(tmp_path / amount, ["--method", "wct-lite", "--histograms", amount])
                      for amount in ("0", "1"))
    assert np.abs(plain - matched).mean() > 0.5


@pytest.fixture(scope="module")
def pipeline(cnn):
    torch.manual_seed(0)
    return model.Encoder(cnn), [model.Decoder(width=0.125, level=level).eval() for level in model.LEVELS]


def test_the_matching_runs_at_relu3_1_alone(pipeline, monkeypatch):
    encoder, decoders = pipeline
    seen = []
    real = wct.matched_histograms
    monkeypatch.setattr(wct, "matched_histograms", lambda feat, *a: seen.append(feat.shape[1]) or real(feat, *a))
    infer.stylize(encoder, decoders, torch.rand(1, 3, 32, 40), torch.rand(1, 3, 24, 24), onepass("wct", histograms=1.0))
    assert seen == [256]   # VGG-19's relu3_1, once
    seen.clear()
    infer.stylize(encoder, decoders, torch.rand(1, 3, 32, 40), torch.rand(1, 3, 24, 24), onepass("wct"))
    assert seen == []


def test_masks_take_whitening_and_colouring_alone(pipeline):
    encoder, decoders = pipeline
    content, styles = torch.rand(1, 3, 32, 40), [torch.rand(1, 3, 24, 24), torch.rand(1, 3, 16, 32)]
    mask = torch.zeros(1, 1, 32, 40)
    mask[..., :20] = 1
    with_, without = (infer.stylize(encoder, decoders, content, styles, onepass("wct", histograms=amount),
                                    masks=[mask, 1 - mask]) for amount in (1.0, 0.0))
    assert torch.equal(with_, without)
    alone = infer.stylize(encoder, decoders, content, styles[0], onepass("wct", histograms=1.0))
    plain = infer.stylize(encoder, decoders, content, styles[0], onepass("wct"))
    assert not torch.allclose(alone, plain, atol=1e-3)


@pytest.mark.parametrize("flags, words", [
    (["--histograms", "-0.5"], "--histograms must be a number from 0 to 1, not -0.5"),
    (["--histograms", "nan"], "--histograms must be a number from 0 to 1, not nan"),
    (["--histograms", "1.5"], "--histograms must be a number from 0 to 1, not 1.5"),
    (["--method", "adain", "--histograms", "1"], "--histograms applies to wct and wct-lite, not adain (0 is accepted)"),
])
def test_a_bad_amount_is_refused_before_a_file_is_made(tmp_path, capsys, flags, words):
    adain_refuses(tmp_path, capsys, flags, words)
