"""nets.adain.infer: the output's size and range, saved decoders (and refused files), alpha,
style blends, masks and colour preservation."""
import pytest
import torch

from conftest import ROOT, structured
from nets_helpers import stripes, tiny_decoder, onepass
from stylekit.base.errors import InputError
from stylekit.nets.adain import infer, model, shipped, train
from stylekit.base import color
from stylekit.optim.metrics import Distances
from utils import load_image


@pytest.fixture(scope="module")
def encoder(cnn):
    return model.Encoder(cnn)


@pytest.fixture(scope="module")
def decoder():
    return tiny_decoder()


@pytest.mark.parametrize("shape", [(97, 131), (5, 7), (64, 48)])
def test_output_has_the_content_size_and_range(encoder, decoder, shape):
    content = torch.rand(1, 3, *shape)
    out = infer.stylize(encoder, decoder, content, stripes(40, 50), onepass("adain"))
    assert out.shape == content.shape
    assert 0 <= out.min() and out.max() <= 1


def test_bad_decoder_files_are_refused_in_one_line(tmp_path, decoder):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    foreign = tmp_path / "foreign.pt"
    torch.save({"format": "style-transfer-feedforward/1", "state": {}}, foreign)
    mismatched = tmp_path / "mismatched.pt"
    train.export(decoder, mismatched, {})
    saved = torch.load(mismatched, weights_only=True)
    saved["arch"] = {"width": 0.25}
    torch.save(saved, mismatched)
    for path, words in [(tmp_path / "missing.pt", "not found"), (corrupt, "not a readable"),
                        (foreign, "not an AdaIN decoder"), (mismatched, "do not fit")]:
        with pytest.raises(InputError) as info:
            infer.load_decoder(path)
        assert words in str(info.value) and "\n" not in str(info.value)


def test_alpha_zero_decodes_the_content_features(encoder, decoder):
    content, style = torch.rand(1, 3, 40, 48), stripes(32, 32)
    out = infer.stylize(encoder, decoder, content, style, onepass("adain", alpha=0.0))
    with torch.no_grad():
        plain = decoder(encoder(content)[-1]).clamp(0, 1)
    assert torch.allclose(out, plain, atol=1e-5)
    half = infer.stylize(encoder, decoder, content, style, onepass("adain", alpha=0.5))
    full = infer.stylize(encoder, decoder, content, style, onepass("adain"))
    assert (half - out).abs().mean() < (full - out).abs().mean()
    with pytest.raises(InputError, match="alpha"):
        infer.stylize(encoder, decoder, content, style, onepass("adain", alpha=1.5))


def test_blend_weights(encoder, decoder):
    content = torch.rand(1, 3, 40, 48)
    red, blue = stripes(32, 32, (220, 40, 40)), stripes(36, 30, (30, 60, 200), seed=1)
    single = infer.stylize(encoder, decoder, content, red, onepass("adain"))
    assert torch.equal(infer.stylize(encoder, decoder, content, [red, blue], onepass("adain", style_blend=[1.0, 0.0])), single)
    # Weights are normalised: (2, 2) is the equal blend, which is the default.
    assert torch.allclose(infer.stylize(encoder, decoder, content, [red, blue], onepass("adain", style_blend=[2.0, 2.0])),
                          infer.stylize(encoder, decoder, content, [red, blue], onepass("adain")), atol=1e-6)
    for bad in ([1.0], [-1.0, 2.0], [0.0, 0.0]):
        with pytest.raises(InputError):
            infer.stylize(encoder, decoder, content, [red, blue], onepass("adain", style_blend=bad))


def test_masks_route_each_style_to_its_region(encoder, decoder):
    torch.manual_seed(0)
    content = torch.randn(1, 16, 6, 8)
    styles = [torch.randn(1, 16, 5, 5) * 2 + 3, torch.randn(1, 16, 5, 5) * 0.5 - 2]
    left = torch.zeros(1, 1, 6, 8)
    left[..., :4] = 1
    target = infer.transfer_features(content, styles, masks=[left, 1 - left])
    for mask, style in zip([left, 1 - left], styles):
        got_mean, got_std = model.masked_stats(target, mask)
        want_mean, want_std = model.channel_stats(style)
        assert torch.allclose(got_mean, want_mean, atol=1e-4) and torch.allclose(got_std, want_std, rtol=1e-3)

    # End to end: a mask giving everything to the first style is that style alone, and a
    # one-region mask of zeros leaves the content features (alpha 0).
    image = torch.rand(1, 3, 37, 45)
    red, blue = stripes(32, 32, (220, 40, 40)), stripes(32, 32, (30, 60, 200), seed=1)
    ones, zeros = torch.ones(1, 1, 37, 45), torch.zeros(1, 1, 37, 45)
    routed = infer.stylize(encoder, decoder, image, [red, blue], onepass("adain"), masks=[ones, zeros])
    assert torch.allclose(routed, infer.stylize(encoder, decoder, image, red, onepass("adain")), atol=1e-4)
    untouched = infer.stylize(encoder, decoder, image, red, onepass("adain"), masks=[zeros])
    assert torch.allclose(untouched, infer.stylize(encoder, decoder, image, red, onepass("adain", alpha=0.0)), atol=1e-4)
    with pytest.raises(InputError, match="mask"):
        infer.stylize(encoder, decoder, image, [red, blue], onepass("adain"), masks=[ones])
    with pytest.raises(InputError, match="combined"):
        infer.stylize(encoder, decoder, image, [red, blue], onepass("adain", style_blend=[1, 1]), masks=[ones, zeros])


def test_colour_preservation(encoder, decoder):
    content, style = structured(40, 48), stripes(32, 32)
    kept = infer.stylize(encoder, decoder, content, style, onepass("adain", preserve_color="luminance"))
    chroma = lambda img: color.rgb_to_yiq(img)[:, 1:]  # noqa: E731
    # Only where no channel was clipped is the content's chroma exactly back.
    inside = ((kept > 0.02) & (kept < 0.98)).all(1, keepdim=True).expand(-1, 2, -1, -1)
    assert torch.allclose(chroma(kept)[inside], chroma(content)[inside], atol=0.02)
    assert infer.stylize(encoder, decoder, content, style, onepass("adain", preserve_color="histogram")).shape == content.shape
    with pytest.raises(InputError, match="--preserve-color must be one of"):
        infer.stylize(encoder, decoder, content, style, onepass("adain", preserve_color="sepia"))


def test_the_shipped_decoder_loads_and_works(encoder, cnn):
    """models/adain_decoder.pt holds trained weights: it decodes a photo's own features back to
    the photo (alpha 0), where an untrained decoder of the same shape does not, and it moves the
    photo toward an unseen painting's style."""
    decoder, trained = infer.load_decoder(shipped.DEFAULT_DECODER)
    assert isinstance(decoder, model.Decoder) and trained["steps"] > 0
    torch.manual_seed(0)
    fresh = model.Decoder(**decoder.arch).eval()
    photo = load_image(ROOT / "images" / "content" / "chenonceau.jpg", 128)
    painting = load_image(ROOT / "images" / "style" / "starry_night.jpg", 128)
    error = {name: ((infer.stylize(encoder, d, photo, photo, onepass("adain", alpha=0.0)) - photo) ** 2).mean().item()
             for name, d in (("shipped", decoder), ("untrained", fresh))}
    assert error["shipped"] < 0.04 and error["shipped"] < 0.3 * error["untrained"], error
    d = Distances(cnn)
    assert d.style(infer.stylize(encoder, decoder, photo, painting, onepass("adain")), painting) < 0.7 * d.style(photo, painting)


def test_a_painting_is_encoded_once_for_many_photos(monkeypatch):
    """torch's path encoded the painting again for every photo of a folder and every web job;
    its features are now kept with the encoder, by its pixels, level and precision."""
    decoders, trained = infer.load_decoders("wct-lite")
    encoder = infer.encoder_for(trained)
    painting = structured(40, 56)
    other, photos = painting.flip(-1), [structured(48, 64), structured(48, 64).flip(-2)]
    encoded = []
    forward = encoder.forward
    encoder.forward = lambda img, levels=4: encoded.append(tuple(img.shape[-2:])) or forward(img, levels)
    run = onepass("wct-lite", precision="fp32")

    def painting_encodes(content, style, run=run):
        encoded.clear()
        out = infer.stylize(encoder, decoders, content, [style], run)
        return out, encoded.count(tuple(style.shape[-2:]))

    first, n = painting_encodes(photos[0], painting)
    assert n == 1
    again, n = painting_encodes(photos[0], painting)
    assert n == 0 and torch.equal(first, again)
    assert painting_encodes(photos[1], painting.clone())[1] == 0            # the same pixels, another tensor
    assert painting_encodes(photos[1], other)[1] == 1                       # other pixels
    assert painting_encodes(photos[1], painting, onepass("wct-lite", precision="bf16"))[1] == 1
    infer.forget_styles(encoder)
    assert painting_encodes(photos[0], painting)[1] == 1
    fresh = infer.stylize(infer.encoder_for(trained), decoders, photos[1], [painting], run)
    assert torch.equal(painting_encodes(photos[1], painting)[0], fresh)     # kept features give the same picture
    copy = infer.inference_encoder(encoder)                                 # a copy keeps nothing of its own
    assert copy.kept_styles is not encoder.kept_styles and copy.kept_styles.get(next(iter(
        encoder.kept_styles._values))) is None
    tables, real = [], infer.wct.style_histograms                          # the histograms kept too
    monkeypatch.setattr(infer.wct, "style_histograms", lambda feat: tables.append(1) or real(feat))
    matching = onepass("wct-lite", precision="fp32", histograms=1.0)
    assert [painting_encodes(photos[s], painting, matching)[1] for s in (0, 1)] == [0, 0] and tables == [1]
    coloured, real_moments = [], infer.wct.style_moments                    # and what colouring needs of it
    monkeypatch.setattr(infer.wct, "style_moments", lambda feat: coloured.append(1) or real_moments(feat))
    assert torch.equal(painting_encodes(photos[1], painting)[0], fresh) and coloured == []
    infer.forget_styles(encoder)
    assert torch.equal(painting_encodes(photos[1], painting)[0], fresh) and len(coloured) == len(decoders)
    encoder.kept_styles.limit = 1000                                        # features over the limit: not kept
    infer.forget_styles(encoder)
    assert [painting_encodes(photos[0], painting)[1] for _ in range(2)] == [1, 1]
