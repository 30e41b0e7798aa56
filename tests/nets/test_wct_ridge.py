"""WCT's ridge: the photo's features whitened as if each covariance eigenvalue were larger by
ridge x the largest. The output's covariance is then S^1/2 W C W S^1/2 (W = (C + ridge
lambda_max I)^-1/2), below the painting's in the photo's weak directions; the numpy pipeline gives
torch's pixels with it; the commands record it and refuse a bad value."""

import numpy as np
import pytest
import torch

from conftest import structured
from nets_helpers import adain_refuses, adain_sidecar, command_picture, fp32_wct, pixels, onepass
from stylekit.base.tensors import tensor_to_pil
from stylekit.nets.adain import infer, model, numpy_transforms, wct
from stylekit.settings import OnePassSettings


def features(channels: int, n: int, seed: int, spread) -> torch.Tensor:
    """(1, C, n, 1) correlated features whose spreads (square roots of the covariance's eigenvalues)
    span `spread`."""
    g = torch.Generator().manual_seed(seed)
    basis = torch.linalg.qr(torch.randn(channels, channels, generator=g, dtype=torch.float64))[0]
    scales = torch.logspace(0, -np.log10(spread), channels, dtype=torch.float64)
    x = basis @ (scales[:, None] * torch.randn(channels, n, generator=g, dtype=torch.float64)) + 1.5
    return x.float().reshape(1, channels, n, 1)


def stats(feat: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    x = feat.reshape(feat.shape[1], -1).double().numpy()
    mean = x.mean(1, keepdims=True)
    return mean, (x - mean) @ (x - mean).T / x.shape[1]


def power(cov: np.ndarray, exponent: float, ridge: float = 0.0) -> np.ndarray:
    values, vectors = np.linalg.eigh(cov)
    return (vectors * (values.clip(0) + ridge * values.max()) ** exponent) @ vectors.T


@pytest.mark.parametrize("ridge", [0.0, 0.01, 0.3])
def test_the_output_covariance_is_the_paintings_through_the_eased_whitening(ridge):
    content, style = features(8, 4000, seed=0, spread=100), features(8, 3000, seed=1, spread=10)
    out = wct.whiten_colour(content, style, ridge=ridge)
    (_, c_cov), (s_mean, s_cov), (o_mean, o_cov) = stats(content), stats(style), stats(out)
    eased = power(c_cov, -0.5, ridge)
    expected = power(s_cov, 0.5) @ eased @ c_cov @ eased @ power(s_cov, 0.5)
    assert np.allclose(o_cov, expected, atol=2e-3 * np.abs(s_cov).max())
    assert np.allclose(o_mean, s_mean, atol=1e-3)   # the mean is the painting's whatever the ridge
    if ridge:
        # below the painting's covariance (the difference is positive semi-definite), by more
        # in the photo's weakest direction than in its strongest
        assert np.linalg.eigvalsh(s_cov - o_cov).min() > -1e-3 * np.abs(s_cov).max()
        _, vectors = np.linalg.eigh(c_cov)
        whitened = wct.whiten_colour(content, content, ridge=ridge)   # colouring by the photo's own
        kept = np.diag(vectors.T @ stats(whitened)[1] @ vectors) / np.diag(vectors.T @ c_cov @ vectors)
        assert kept[0] < 0.5 * kept[-1] and kept[-1] == pytest.approx(1 / (1 + ridge), rel=0.02)


@pytest.mark.parametrize("ridge", [0.0, 0.05])
def test_numpy_and_torch_ease_the_whitening_alike(ridge):
    content, style = features(6, 2000, seed=2, spread=100), features(6, 1500, seed=3, spread=5)
    content, style = content.reshape(1, 6, 40, 50), style.reshape(1, 6, 30, 50)
    theirs = wct.whiten_colour(content, style, alpha=0.7, ridge=ridge).numpy()
    c = content.numpy().copy()
    mine = numpy_transforms.transfer(c, [numpy_transforms.style_moments(style.numpy())], [1.0], 0.7, numpy_transforms.whitening(c, ridge))
    assert np.allclose(mine, theirs, atol=1e-3)


@pytest.fixture(scope="module")
def pipelines(cnn):
    return fp32_wct(cnn), (model.Encoder(cnn), infer.load_decoders("wct")[0])


@torch.inference_mode()
def test_both_pipelines_give_the_same_picture_with_a_ridge_and_keep_photos_per_ridge(pipelines):
    exact, (encoder, decoders) = pipelines
    content, style = structured(40, 48, seed=1), structured(32, 32, seed=7)

    def torch_pixels(ridge):
        out = infer.stylize(encoder, decoders, content, [style], onepass("wct", alpha=0.8, ridge=ridge))
        return np.asarray(tensor_to_pil(out)).astype(int)

    plain = pixels(exact.stylize(content.numpy(), [style.numpy()], onepass("wct", alpha=0.8)))
    # the same photo again at another ridge: its kept statistics are not the ones at ridge 0
    eased = pixels(exact.stylize(content.numpy(), [style.numpy()], onepass("wct", alpha=0.8, ridge=0.1)))
    assert np.abs(plain - torch_pixels(0.0)).max() <= 1
    assert np.abs(eased - torch_pixels(0.1)).max() <= 1
    assert np.abs(eased - plain).mean() > 1   # the ridge changes the picture


@pytest.mark.parametrize("flags, ridge", [([], OnePassSettings.preset().ridge), (["--ridge", "0"], 0.0),
                                          (["--method", "wct"], OnePassSettings.preset("wct").ridge),
                                          (["--ridge", "0.2", "--preserve-color", "luminance"], 0.2),
                                          (["--method", "adain", "--ridge", "0"], 0.0)])
def test_the_sidecar_records_the_ridge(tmp_path, flags, ridge):
    meta = adain_sidecar(tmp_path, flags)
    assert meta["ridge"] == ridge
    assert meta["runtime"] == ("torch" if "--preserve-color" in flags else "onnxruntime")


def test_the_ridge_changes_the_commands_picture(tmp_path):
    plain, eased = (command_picture(tmp_path / ridge, ["--ridge", ridge]) for ridge in ("0", "0.5"))
    assert np.abs(plain - eased).mean() > 1


@pytest.mark.parametrize("flags, words", [
    (["--ridge", "-0.1"], "--ridge must be a number from 0 to 100, not -0.1"),
    (["--ridge", "nan"], "--ridge must be a number from 0 to 100, not nan"),
    (["--ridge", "inf"], "--ridge must be a number from 0 to 100, not inf"),
    (["--ridge", "1e308"], "--ridge must be a number from 0 to 100, not 1e+308"),
    (["--method", "adain", "--ridge", "0.1"], "--ridge applies to wct and wct-lite, not adain (0 is accepted)"),
])
def test_a_bad_ridge_is_refused_before_a_file_is_made(tmp_path, capsys, flags, words):
    adain_refuses(tmp_path, capsys, flags, words)
