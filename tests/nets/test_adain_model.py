"""nets.adain.model: the statistics AdaIN transfers, the encoder, a fresh decoder, the losses."""
import pytest
import torch

from nets_helpers import tiny_decoder
from stylekit.nets.adain import model


@pytest.fixture(scope="module")
def encoder(cnn):
    return model.Encoder(cnn)


@pytest.fixture(scope="module")
def decoder():
    return tiny_decoder()


def test_fresh_decoder_keeps_the_signal_and_starts_grey():
    torch.manual_seed(0)
    feat = torch.relu(torch.randn(2, 512, 8, 8) * 12 + 4)  # relu4_1-like: mean ~7
    dec = model.Decoder(width=0.125)
    with torch.no_grad():
        hidden = dec.net[:-2](feat / model.LAYER_SCALES[-1])  # before the output convolution
        out = dec(feat)
    # He initialisation keeps the activations' scale through eight convolutions (PyTorch's
    # default init leaves ~0.04 here), while the output starts as flat mid-grey.
    assert hidden.std().item() > 0.3
    assert out.mean().item() == pytest.approx(0.45, abs=0.01) and out.std().item() < 0.02


def test_adain_gives_the_style_statistics():
    torch.manual_seed(0)
    content = torch.randn(2, 8, 10, 12) * 3 + 1
    style = torch.randn(2, 8, 7, 9) * torch.rand(1, 8, 1, 1) * 5 + torch.randn(1, 8, 1, 1) * 4
    out = model.adain(content, style)
    out_mean, out_std = model.channel_stats(out)
    style_mean, style_std = model.channel_stats(style)
    assert torch.allclose(out_mean, style_mean, atol=1e-4)
    assert torch.allclose(out_std, style_std, rtol=1e-3)
    # An all-ones mask gives the unmasked statistics.
    for a, b in zip(model.masked_stats(content[:1], torch.ones(1, 1, 10, 12)), model.channel_stats(content[:1])):
        assert torch.allclose(a, b, atol=1e-5)


def test_encoder_keeps_max_pooling_and_leaves_the_vgg_alone(cnn, encoder):
    layers = [m for stage in encoder.stages for m in stage]
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in layers) == 3
    assert not any(isinstance(m, torch.nn.AvgPool2d) for m in layers)
    assert not any(p.requires_grad for p in encoder.parameters())
    assert next(cnn.parameters()).is_contiguous()  # the layout change stayed in the copy
    assert not any(m.inplace for m in cnn.modules() if isinstance(m, torch.nn.ReLU)), "in-place ReLUs too"
    img = torch.rand(1, 3, 32, 40)
    feats = encoder(img)
    assert [f.shape[1:] for f in feats] == [(64, 32, 40), (128, 16, 20), (256, 8, 10), (512, 4, 5)]
    with torch.no_grad():
        relu1_1 = cnn.relu1_1(cnn.conv1_1(cnn.preprocess(img)))
    assert torch.allclose(feats[0], relu1_1, atol=1e-5)


def test_identity_loss_decodes_each_crops_own_features(encoder, decoder):
    torch.manual_seed(0)
    pairs = torch.rand(2, 2, 3, 32, 32)
    images = torch.cat([pairs[:, 0], pairs[:, 1]])
    with torch.no_grad():
        terms = model.AdaINLoss(encoder, 10.0, identity_weight=5.0)(decoder, pairs)
        expected = 5.0 * ((decoder(encoder(images)[-1]) - images) ** 2).mean()
        assert terms["identity"].item() == pytest.approx(expected.item(), rel=1e-4)
        assert set(model.AdaINLoss(encoder, 10.0)(decoder, pairs)) == {"content", "style"}


def test_the_default_width_is_the_shipped_decoders(cnn):
    from stylekit.settings import TrainSettings
    assert model.Decoder().arch == {"width": TrainSettings.preset("adain").width, "level": 4}
