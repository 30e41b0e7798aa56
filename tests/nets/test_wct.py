"""nets.adain.wct and the WCT path: the transform's statistics, the decoders of each level,
multi-level stylisation on odd sizes, and training a decoder on reconstruction."""
import numpy as np
import pytest
import torch

from conftest import structured, write_png
from nets_helpers import onepass
from stylekit.base.errors import InputError
from stylekit.nets.adain import infer, model, shipped, train, wct
from stylekit.nets.crops import RandomCrops
from stylekit.settings import TrainSettings


def correlated(channels: int, n: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    """(1, C, n, 1) features with a full, non-diagonal covariance and a non-zero mean."""
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(channels, channels, generator=g, dtype=torch.float64)
    x = mix @ torch.randn(channels, n, generator=g, dtype=torch.float64) + shift + torch.arange(channels)[:, None]
    return x.float().reshape(1, channels, n, 1)


def stats(feat: torch.Tensor, mask: torch.Tensor | None = None):
    x = feat.reshape(feat.shape[1], -1).double()
    w = torch.ones(x.shape[1], dtype=torch.float64) if mask is None else mask.reshape(-1).double()
    mean = (x * w).sum(1, keepdim=True) / w.sum()
    centred = x - mean
    return mean, (centred * w) @ centred.T / w.sum()


def test_the_map_keeps_the_encoders_layout_and_precision():
    """Channels-last features in, channels-last out (no layout copy on either side of the
    decoder), the same numbers whatever the layout; bf16 features give bf16 within bf16's rounding."""
    content = correlated(16, 600, seed=3).reshape(1, 16, 20, 30)
    style = correlated(16, 500, seed=4, shift=2.0).reshape(1, 16, 25, 20)
    plain = wct.whiten_colour(content, style, alpha=0.6)
    last = wct.whiten_colour(content.to(memory_format=torch.channels_last), style, alpha=0.6)
    assert last.is_contiguous(memory_format=torch.channels_last) and last.dtype == torch.float32
    assert torch.allclose(last, plain, atol=1e-4)
    half = wct.whiten_colour(content.bfloat16().to(memory_format=torch.channels_last), style.bfloat16(), alpha=0.6)
    assert half.dtype == torch.bfloat16
    assert (half.float() - plain).abs().max() < 0.05 * plain.abs().max()


def test_whitening_and_colouring_give_the_style_mean_and_covariance():
    content, style = correlated(8, 3000, seed=0), correlated(8, 2000, seed=1, shift=3.0)
    out = wct.whiten_colour(content, style)
    assert out.shape == content.shape and out.dtype == torch.float32
    (o_mean, o_cov), (s_mean, s_cov) = stats(out), stats(style)
    assert torch.allclose(o_mean, s_mean, atol=1e-4)
    assert torch.allclose(o_cov, s_cov, rtol=1e-3, atol=1e-3 * s_cov.abs().max())
    # not AdaIN: the channels' correlations moved too, which matching each channel alone leaves
    ada = model.adain(content.reshape(1, 8, 3000, 1), style)
    assert (stats(ada)[1] - s_cov).abs().max() > 10 * (o_cov - s_cov).abs().max()


def heavy_tailed(channels: int, n: int, seed: int) -> torch.Tensor:
    """(1, C, n, 1) correlated features with sparse, skewed marginals, as a painting's ReLU
    features are: a coloured Gaussian cubed and clipped at 0."""
    return correlated(channels, n, seed).pow(3).clamp_min(0)


def evenly(count: int) -> torch.Tensor:
    """Ranks k of count, as fractions: (k + 0.5) / count."""
    return ((torch.arange(count, dtype=torch.float64) + 0.5) / count)[None]


def test_histogram_matching_gives_each_principal_direction_the_styles_values():
    content, style = correlated(8, 3000, seed=0), heavy_tailed(8, 2000, seed=1)
    coloured = wct.whiten_colour(content, style)
    directions, table = wct.style_histograms(style)
    matched = wct.matched_histograms(coloured, [(directions, table)], [1.0])
    assert matched.shape == content.shape and matched.dtype == torch.float32
    along = lambda f: (f.reshape(8, -1).T @ directions).T.sort(dim=1).values
    spread = float(along(style).std())
    # the table: the style's values along each direction at evenly spaced ranks (counted in bins, not sorted)
    exact = along(style)[:, (evenly(shipped.HISTOGRAM_RANKS)[0] * 2000).long()]
    assert (table - exact).abs().mean() < 1e-3 * spread and (table - exact).abs().max() < 0.05 * spread
    # rank for rank the table's values, where colouring gave the right spread but the wrong shape
    wanted = wct.at_ranks(table, evenly(3000).expand(8, -1))
    error = (along(matched) - wanted).abs().mean()
    assert error < 2e-3 * spread and (along(coloured) - wanted).abs().mean() > 20 * error
    # the mean and covariance colouring gave stay close
    (m_mean, m_cov), (s_mean, s_cov) = stats(matched), stats(style)
    assert torch.allclose(m_mean, s_mean, atol=0.01 * float(s_mean.abs().max()))
    assert (m_cov - s_cov).abs().max() < 0.05 * s_cov.abs().max()
    # the spatial arrangement too: each position keeps its rank along each direction
    rank = lambda f: (f.reshape(8, -1).T @ directions).T.argsort(dim=1)
    assert (rank(matched) == rank(coloured)).float().mean() > 0.999


def test_a_direction_the_features_do_not_vary_along_keeps_its_value():
    style = heavy_tailed(4, 500, seed=6)
    directions, table = wct.style_histograms(style)
    flat = (directions @ torch.full((4, 300), 2.0, dtype=torch.float32)).reshape(1, 4, 300, 1)   # 2 along each
    assert torch.allclose(wct.matched_histograms(flat, [(directions, table)], [1.0]), flat, atol=1e-5)


def test_histogram_matching_with_a_features_own_histograms_changes_nothing():
    feat = heavy_tailed(6, 1024, seed=5)
    histograms = wct.style_histograms(feat)
    error = (wct.matched_histograms(feat, [histograms], [1.0]) - feat).abs()
    # read through 1,024 ranks and counted in bins: close in the body, looser in the sparse tail
    assert error.mean() < 5e-3 * float(feat.std()) and error.quantile(0.99) < 0.05 * float(feat.std())


def test_histogram_matching_blends_the_styles_matches():
    content = correlated(6, 900, seed=2)
    styles = [wct.style_histograms(heavy_tailed(6, 700, seed=s)) for s in (3, 4)]
    each = [wct.matched_histograms(content, [h], [1.0]) for h in styles]
    blended = wct.matched_histograms(content, styles, [0.25, 0.75])
    assert torch.allclose(blended, 0.25 * each[0] + 0.75 * each[1], atol=1e-5)


def test_whitening_keeps_the_content_arrangement():
    """Whitening then colouring with the content's own statistics gives the content back."""
    content = correlated(6, 1000, seed=3)
    assert torch.allclose(wct.whiten_colour(content, content), content, atol=1e-3)


@pytest.mark.parametrize("transform", [wct.whiten_colour, model.adain], ids=["wct", "adain"])
@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.55])
def test_alpha_folded_into_the_transform_mixes_with_the_content(transform, alpha):
    """Both transforms are affine maps of the features, and alpha is folded into them: the
    result must equal the full transform mixed with the content afterwards."""
    content, style = correlated(7, 2500, seed=8), correlated(7, 900, seed=9, shift=2.0)
    mixed = torch.lerp(content, transform(content, style), alpha)
    folded = transform(content, style, alpha=alpha)
    assert torch.allclose(folded, mixed, atol=1e-4 * content.abs().max())


def test_a_blend_of_styles_is_the_blend_of_their_transfers():
    """WCT folds a blend into one affine map: it must equal the weighted sum of each style's
    transfer, mixed with the content by alpha afterwards."""
    content = correlated(6, 2000, seed=10)
    styles = [correlated(6, 700, seed=11, shift=1.0), correlated(6, 900, seed=12, shift=-2.0)]
    out = infer.transfer_features(content, styles, weights=[0.3, 0.7], alpha=0.6, method="wct")
    each = 0.3 * wct.whiten_colour(content, styles[0]) + 0.7 * wct.whiten_colour(content, styles[1])
    assert torch.allclose(out, torch.lerp(content, each, 0.6), atol=1e-4 * content.abs().max())


def test_a_masked_region_gets_the_style_statistics_inside_it():
    content, style = correlated(5, 4000, seed=4), correlated(5, 500, seed=5, shift=-2.0)
    mask = torch.zeros(1, 1, 4000, 1)
    mask[:, :, :1500] = 1
    out = wct.whiten_colour(content, style, mask)
    inside = out[:, :, :1500]
    (o_mean, o_cov), (s_mean, s_cov) = stats(inside), stats(style)
    assert torch.allclose(o_mean, s_mean, atol=1e-3)
    assert torch.allclose(o_cov, s_cov, rtol=1e-3, atol=1e-3 * s_cov.abs().max())


@pytest.mark.parametrize("height, width", [(1, 1), (256, 256), (256, 257), (512, 384), (2048, 2048), (3, 100_001)])
def test_the_moments_grid_is_the_coarsest_needed(height, width):
    step = shipped.grid_step(height, width)
    def count(s):
        return -(-height // s) * -(-width // s)
    assert count(step) <= shipped.MAX_POSITIONS and (step == 1 or count(step - 1) > shipped.MAX_POSITIONS)


def test_maps_larger_than_the_grid_take_their_moments_on_it_but_masked_ones_on_every_position():
    """Above MAX_POSITIONS the moments are those of every second row and column; at or below
    it, of every position. A mask's region may be a pixel wide (every odd column: all of it
    between the grid's columns), so masked moments take every position."""
    feat = correlated(4, 300 * 301, seed=8).reshape(1, 4, 300, 301)
    mean, cov = wct.moments(feat)
    want_mean, want_cov = stats(feat[..., ::2, ::2])
    assert torch.allclose(mean, want_mean, atol=1e-5) and torch.allclose(cov, want_cov, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(cov, stats(feat)[1], rtol=1e-4, atol=1e-4)
    odd_columns = (torch.arange(301) % 2 == 1).float().expand(1, 1, 300, 301)
    mean, cov = wct.moments(feat, odd_columns)
    want_mean, want_cov = stats(feat, odd_columns)
    assert torch.allclose(mean, want_mean, atol=1e-5) and torch.allclose(cov, want_cov, rtol=1e-4, atol=1e-4)
    small = feat[..., :256, :256]
    assert torch.allclose(wct.moments(small)[1], stats(small)[1], rtol=1e-4, atol=1e-4)


def test_dead_channels_are_not_amplified():
    """A channel that hardly fires (common in relu features of a flat photo) has an eigenvalue
    near zero: it is left out of the whitening, not divided by its tiny spread, which would turn
    its noise into a full-strength component of the picture."""
    style = correlated(6, 800, seed=7)
    silent, whisper = correlated(6, 800, seed=6), correlated(6, 800, seed=6)
    silent[:, 2] = 0
    whisper[:, 2] = 1e-6 * torch.randn(800).reshape(800, 1)
    out_silent, out_whisper = wct.whiten_colour(silent, style), wct.whiten_colour(whisper, style)
    assert torch.isfinite(out_silent).all()
    assert torch.allclose(out_whisper, out_silent, atol=1e-3 * style.abs().max())


@pytest.mark.parametrize("level", model.LEVELS)
def test_each_level_decoder_gives_back_the_image_size(encoder, level):
    torch.manual_seed(0)
    decoder = model.Decoder(width=0.125, level=level).eval()
    img = torch.rand(1, 3, 48, 40)
    with torch.no_grad():
        out = decoder(encoder(img, level)[-1])
    assert out.shape == img.shape
    assert decoder.arch == {"width": 0.125, "level": level}


def test_the_level4_decoder_is_adains():
    """The shipped AdaIN decoder's file loads as a level-4 decoder: the layers are the same."""
    decoder, _ = infer.load_decoder(shipped.DEFAULT_DECODER)
    assert decoder.level == 4 and decoder.arch["width"] == TrainSettings.preset("adain").width


@pytest.fixture(scope="module")
def encoder(cnn):
    return model.Encoder(cnn)


@pytest.fixture(scope="module")
def tiny_decoders():
    torch.manual_seed(0)
    return [model.Decoder(width=0.125, level=level).eval() for level in model.LEVELS]


@pytest.mark.parametrize("size", [(37, 53), (8, 8), (64, 9)])
def test_multi_level_stylisation_keeps_size_and_range(encoder, tiny_decoders, size):
    content = torch.rand(1, 3, *size)
    out = infer.stylize(encoder, tiny_decoders, content, torch.rand(1, 3, 24, 30), onepass("wct"))
    assert out.shape == content.shape and 0 <= out.min() and out.max() <= 1


def test_wct_keeps_alpha_blends_masks_and_colour(encoder, tiny_decoders):
    content = torch.rand(1, 3, 32, 40)
    styles = [torch.rand(1, 3, 24, 24), torch.rand(1, 3, 16, 32) * 0.3]
    full = infer.stylize(encoder, tiny_decoders, content, styles[0], onepass("wct"))
    none = infer.stylize(encoder, tiny_decoders, content, styles[0], onepass("wct", alpha=0.0))
    half = infer.stylize(encoder, tiny_decoders, content, styles[0], onepass("wct", alpha=0.5))
    assert not torch.allclose(full, none, atol=1e-3) and not torch.allclose(half, full, atol=1e-3)
    blend = infer.stylize(encoder, tiny_decoders, content, styles, onepass("wct", style_blend=[1, 0]))
    assert torch.allclose(blend, full, atol=1e-5)   # weight 0: the second style plays no part
    mask = torch.zeros(1, 1, 32, 40)
    mask[..., :20] = 1
    masked = infer.stylize(encoder, tiny_decoders, content, styles, onepass("wct"), masks=[mask, 1 - mask])
    assert masked.shape == content.shape and not torch.allclose(masked, full, atol=1e-3)
    # a mask over the whole picture for the first style is that style alone
    whole = infer.stylize(encoder, tiny_decoders, content, styles, onepass("wct"), masks=[torch.ones_like(mask), torch.zeros_like(mask)])
    assert torch.allclose(whole, full, atol=1e-4)
    kept = infer.stylize(encoder, tiny_decoders, content, styles[0], onepass("wct", preserve_color="luminance"))
    assert kept.shape == content.shape


def test_wct_decoders_are_given_no_negative_features(encoder, tiny_decoders):
    """They were trained on ReLU outputs; coloured features below 0 are clipped (infer.WCT_FLOOR)."""
    seen = []
    hooks = [d.register_forward_pre_hook(lambda module, inputs: seen.append(float(inputs[0].min())))
             for d in tiny_decoders]
    try:
        infer.stylize(encoder, tiny_decoders, torch.rand(1, 3, 32, 40), torch.rand(1, 3, 24, 24) ** 3, onepass("wct", alpha=1.0))
    finally:
        for hook in hooks:
            hook.remove()
    assert len(seen) == 4 and min(seen) == 0.0


def test_levels_run_deepest_first_whatever_order_they_come_in(encoder, tiny_decoders):
    content, style = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 24, 24)
    forward = infer.stylize(encoder, tiny_decoders, content, style, onepass("wct"))
    backward = infer.stylize(encoder, tiny_decoders[::-1], content, style, onepass("wct"))
    assert torch.equal(forward, backward)


def test_the_method_must_fit_the_decoders(encoder, tiny_decoders):
    with pytest.raises(InputError, match="one decoder of level 4"):
        infer.stylize(encoder, tiny_decoders, torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16), onepass("adain"))
    with pytest.raises(InputError, match="method must be one of"):
        infer.stylize(encoder, tiny_decoders, torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16), onepass("gatys"))
    with pytest.raises(InputError, match="at least one decoder"):
        infer.stylize(encoder, [], torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16), onepass("wct"))


def test_shipped_wct_decoders_load_and_run(encoder):
    decoders, settings = infer.load_decoders("wct")
    assert sorted(d.level for d in decoders) == list(model.LEVELS)
    assert all(s["kind"] == "wct" and s["steps"] > 0 for s in settings)
    content = torch.rand(1, 3, 40, 56)
    out = infer.stylize(encoder, decoders, content, torch.rand(1, 3, 32, 32), onepass("wct"))
    assert out.shape == content.shape and 0 <= out.min() and out.max() <= 1


def test_two_decoders_of_one_level_are_refused(tmp_path):
    path = train.export(model.Decoder(width=0.125, level=2), tmp_path / "a.pt", {"kind": "wct"})
    with pytest.raises(InputError, match="two WCT decoders of level 2"):
        infer.load_decoders("wct", [path, path])
    shallow = train.export(model.Decoder(width=0.125, level=2), tmp_path / "b.pt", {"kind": "adain"})
    with pytest.raises(InputError, match="one decoder of level 4"):
        infer.load_decoders("adain", [shallow])


@pytest.mark.slow
def test_reconstruction_training_lowers_the_loss(encoder, tmp_path):
    photos = [write_png(tmp_path / f"p{i}.png", structured(40 + 8 * i, 56, seed=i)) for i in range(3)]
    data = RandomCrops(photos, 32, 10 ** 6)
    config = TrainSettings.preset("wct", level=2, steps=40, batch=2, width=0.25, precision="fp32", save_every=100)
    torch.manual_seed(0)
    _, result = train.train_decoder(encoder, data, config, out=tmp_path / "w2.pt")
    totals = [row["total"] for row in result.history]
    assert result.status == "done" and set(result.history[0]) == {"features", "pixels", "total"}
    assert np.mean(totals[-5:]) < 0.5 * np.mean(totals[:5])
    loaded, settings = infer.load_decoder(tmp_path / "w2.pt")
    assert loaded.level == 2 and settings["kind"] == "wct" and settings["steps"] == 40

    # --init starts another run from those weights; one of another level is refused
    _, again = train.train_decoder(encoder, data, config.replace(steps=5), out=tmp_path / "w2b.pt",
                                   init=tmp_path / "w2.pt")
    assert again.history[0]["total"] < 0.5 * totals[0]
    # resumed, the decoder file still names the one its first sitting started from
    train.train_decoder(encoder, data, config.replace(steps=7), out=tmp_path / "w2b.pt", resume=True)
    _, resumed = infer.load_decoder(tmp_path / "w2b.pt")
    assert resumed["init"] == str(tmp_path / "w2.pt") and [s["steps"] for s in resumed["sittings"]] == [[0, 5], [5, 7]]
    with pytest.raises(InputError, match="--init: .* level 2"):
        train.train_decoder(encoder, data, config.replace(level=3), out=tmp_path / "w3.pt", init=tmp_path / "w2.pt")
    # the steps still to come may not be judged otherwise, even from a checkpoint older than the setting
    vgg = config.replace(steps=9, feature_loss="vgg19")
    with pytest.raises(InputError, match="was trained with feature_loss 'encoder', not 'vgg19'"):
        train.train_decoder(encoder, data, vgg, out=tmp_path / "w2b.pt", resume=True)
    state = torch.load(tmp_path / "w2b.ckpt", weights_only=True)
    del state["settings"]["feature_loss"]
    torch.save(state, tmp_path / "w2b.ckpt")
    with pytest.raises(InputError, match="was trained with feature_loss 'encoder', not 'vgg19'"):
        train.train_decoder(encoder, data, vgg, out=tmp_path / "w2b.pt", resume=True)
