"""WCT's sharpening: an unsharp mask on the picture the finest level encodes. The mask itself
(torch and numpy alike, flat areas untouched, edges steepened), where the cascade applies it, the
two pipelines' pixels with it, and the commands' records and refusals."""

import numpy as np
import pytest
import torch

from conftest import structured
from nets_helpers import adain_refuses, adain_sidecar, command_picture, fp32_wct, pixels, onepass
from stylekit.base.tensors import tensor_to_pil
from stylekit.nets.adain import infer, model, numpy_transforms, shipped
from stylekit.settings import OnePassSettings


def test_the_taps_are_a_gaussian_of_the_shipped_deviation():
    taps = np.asarray(shipped.sharpen_taps())
    k = np.arange(len(taps)) - len(taps) // 2
    assert taps.sum() == pytest.approx(1) and np.allclose(taps, taps[::-1])
    assert (taps * k * k).sum() == pytest.approx(shipped.SHARPEN_SIGMA ** 2, rel=0.05)


@pytest.mark.parametrize("shape", [(1, 3, 37, 50), (1, 3, 2, 3), (1, 3, 1, 9)])
def test_numpy_and_torch_sharpen_alike_at_any_size(shape):
    x = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    mine, theirs = numpy_transforms.sharpened(x.numpy(), 2.0), infer.sharpened(x, 2.0).numpy()
    assert mine.shape == theirs.shape == shape and mine.dtype == np.float32
    assert np.abs(mine - theirs).max() < 1e-5
    assert theirs.min() >= 0 and theirs.max() <= 1


def test_flat_areas_stay_and_edges_steepen():
    flat = torch.full((1, 3, 20, 24), 0.3)
    assert torch.allclose(infer.sharpened(flat, 5.0), flat, atol=1e-6)
    edge = torch.zeros(1, 3, 20, 24)
    edge[..., 12:] = 0.6
    edge += 0.2
    out = infer.sharpened(edge, 1.0)
    row = out[0, 0, 10]
    assert torch.allclose(row[:8], edge[0, 0, 10, :8], atol=1e-6) and torch.allclose(row[16:], edge[0, 0, 10, 16:], atol=1e-6)
    assert row[11] < 0.2 - 0.05 and row[12] > 0.8 + 0.05   # an undershoot and overshoot at the step
    assert torch.equal(infer.sharpened(edge, 0.0), edge)
    soft = 0.4 + (edge - 0.2) / 3   # 0.4 to 0.6: no clipping at amount 2
    once, twice = infer.sharpened(soft, 1.0) - soft, infer.sharpened(soft, 2.0) - soft
    assert once.abs().max() > 0.02 and torch.allclose(twice, 2 * once, atol=1e-6)   # the change scales with the amount


@pytest.fixture(scope="module")
def pipelines(cnn):
    return fp32_wct(cnn), (model.Encoder(cnn), infer.load_decoders("wct")[0])


@torch.inference_mode()
def test_the_cascade_sharpens_only_the_picture_the_finest_level_encodes(pipelines):
    _, (encoder, decoders) = pipelines
    content, style = structured(40, 48, seed=1), structured(32, 32, seed=7)
    finest = min(decoders, key=lambda d: d.level)
    coarser = [d for d in decoders if d is not finest]

    def run(decs, picture, sharpen=0.0):
        return infer.stylize(encoder, decs, picture, [style], onepass("wct", alpha=0.8, sharpen=sharpen))

    by_hand = run([finest], infer.sharpened(run(coarser, content), 1.5))
    assert torch.allclose(run(decoders, content, sharpen=1.5), by_hand, atol=1e-5)
    assert (run(decoders, content, sharpen=1.5) - run(decoders, content)).abs().mean() > 2 / 255
    assert torch.equal(run([finest], content, sharpen=1.5), run([finest], content))   # one level: nothing before it


@torch.inference_mode()
def test_both_pipelines_give_the_same_sharpened_picture(pipelines):
    exact, (encoder, decoders) = pipelines
    content, style = structured(40, 48, seed=1), structured(32, 32, seed=7)
    out = infer.stylize(encoder, decoders, content, [style], onepass("wct", alpha=0.8, ridge=0.1, sharpen=2.0))
    mine = pixels(exact.stylize(content.numpy(), [style.numpy()], onepass("wct", alpha=0.8, ridge=0.1, sharpen=2.0)))
    plain = pixels(exact.stylize(content.numpy(), [style.numpy()], onepass("wct", alpha=0.8, ridge=0.1)))
    assert np.abs(mine - np.asarray(tensor_to_pil(out)).astype(int)).max() <= 1
    assert np.abs(mine - plain).mean() > 1


@pytest.mark.parametrize("flags, sharpen", [([], OnePassSettings.preset().sharpen),
                                            (["--method", "wct"], OnePassSettings.preset("wct").sharpen),
                                            (["--method", "wct-lite", "--sharpen", "0"], 0.0),
                                            (["--sharpen", "1.5", "--preserve-color", "luminance"], 1.5),
                                            (["--method", "adain", "--sharpen", "0"], 0.0),
                                            # one level: nothing finer to sharpen for, so none recorded
                                            (["--decoder", str(shipped.wct_decoder_path(4, lite=True))], 0.0)])
def test_the_sidecar_records_the_sharpening(tmp_path, flags, sharpen):
    meta = adain_sidecar(tmp_path, flags)
    assert meta["sharpen"] == sharpen
    assert meta["runtime"] == ("torch" if "--preserve-color" in flags else "onnxruntime")


def test_sharpening_changes_the_commands_picture(tmp_path):
    plain, sharp = (command_picture(tmp_path / amount, ["--method", "wct-lite", "--sharpen", amount])
                    for amount in ("0", "3"))
    assert np.abs(plain - sharp).mean() > 1


@pytest.mark.parametrize("flags, words", [
    (["--sharpen", "-1"], "--sharpen must be a number from 0 to 10, not -1.0"),
    (["--sharpen", "nan"], "--sharpen must be a number from 0 to 10, not nan"),
    (["--sharpen", "inf"], "--sharpen must be a number from 0 to 10, not inf"),
    (["--sharpen", "10.5"], "--sharpen must be a number from 0 to 10, not 10.5"),
    (["--method", "adain", "--sharpen", "0.5"], "--sharpen applies to wct and wct-lite, not adain (0 is accepted)"),
])
def test_a_bad_sharpening_is_refused_before_a_file_is_made(tmp_path, capsys, flags, words):
    adain_refuses(tmp_path, capsys, flags, words)
