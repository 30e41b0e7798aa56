"""The assignment's style_and_content.py: gram_matrix, the loss modules, get_model_and_losses,
layer names, the model builder."""
import copy

import pytest
import torch
import torch.nn as nn
import torchvision

from conftest import structured
from style_and_content import (ContentLoss, FeatureExtractor, StyleLoss, TVLoss, build_model,
                               content_layers_default, get_model_and_losses, gram_matrix,
                               style_layers_default)
from stylekit.base.errors import InputError


def test_gram_matches_hand_computation():
    torch.manual_seed(0)
    f = torch.randn(1, 64, 32, 32)
    by_hand = torch.zeros(64, 64)
    flat = f[0].reshape(64, -1)
    for i in range(64):
        for j in range(64):
            by_hand[i, j] = (flat[i] * flat[j]).sum()
    by_hand /= 64 * 32 * 32
    g = gram_matrix(f)
    assert g.shape == (1, 64, 64)
    torch.testing.assert_close(g[0], by_hand, rtol=1e-4, atol=1e-6)


def test_gram_is_batched_and_in_fp32_under_bf16_input():
    torch.manual_seed(0)
    f = torch.randn(2, 8, 40, 30).to(torch.bfloat16)
    g = gram_matrix(f)
    assert g.shape == (2, 8, 8) and g.dtype == torch.float32
    # bf16 products accumulate in fp32; only the result is rounded (8-bit mantissa).
    exact = gram_matrix(f[1:2].float())[0]
    assert ((g[1] - exact).abs().max() / exact.abs().max()).item() < 1e-2


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_gram_gradient_is_the_symmetric_formula_in_the_features_precision(layout):
    torch.manual_seed(0)
    f = torch.randn(1, 6, 9, 11)
    weight = torch.randn(1, 6, 6)
    for dtype, tol in ((torch.float32, 1e-5), (torch.bfloat16, 2e-2)):
        x = f.to(dtype=dtype, memory_format=layout, copy=True).requires_grad_(True)
        features, handed_down = x * 1, []   # not a leaf: its gradient keeps the layout it was made in
        features.register_hook(handed_down.append)
        (gram_matrix(features) * weight).sum().backward()
        flat = f.reshape(1, 6, -1)
        expected = ((weight + weight.transpose(1, 2)) @ flat / (6 * 9 * 11)).reshape(f.shape)
        assert x.grad.dtype == dtype
        assert handed_down[0].is_contiguous(memory_format=layout)   # no layout change for the layers below
        assert ((x.grad.float() - expected).abs().max() / expected.abs().max()).item() < tol


def test_content_loss_is_a_passthrough_with_mse():
    target = torch.randn(1, 4, 6, 6, requires_grad=True)
    loss = ContentLoss(target)
    assert not loss.target.requires_grad
    x = torch.randn(1, 4, 6, 6)
    out = loss(x)
    assert out is x
    assert loss.loss.item() == pytest.approx(((x - target.detach()) ** 2).mean().item(), rel=1e-6)
    loss(target.detach())
    assert loss.loss.item() == 0.0


def test_style_loss_is_a_passthrough_with_gram_mse():
    target = torch.randn(1, 4, 6, 6)
    loss = StyleLoss(target)
    torch.testing.assert_close(loss.target, gram_matrix(target))
    x = torch.randn(1, 4, 9, 5)  # a different spatial size is fine: Grams are C x C
    assert loss(x) is x
    expected = ((gram_matrix(x) - gram_matrix(target)) ** 2).mean()
    assert loss.loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_normalized_style_loss_is_relative_to_the_target():
    torch.manual_seed(0)
    target, x = torch.randn(1, 4, 6, 6), torch.randn(1, 4, 6, 6)
    plain, relative = StyleLoss(target), StyleLoss(target, normalize=True)
    plain(x), relative(x)
    expected = plain.loss / gram_matrix(target).pow(2).mean()
    assert relative.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    # Features 100x larger (a deep layer's Grams vs a shallow one's): the same relative loss.
    scaled = StyleLoss(target * 100, normalize=True)
    scaled(x * 100)
    assert scaled.loss.item() == pytest.approx(relative.loss.item(), rel=1e-4)
    assert plain.loss.item() != pytest.approx(relative.loss.item(), rel=0.1)


def test_style_layer_weight_scales_that_layers_loss():
    torch.manual_seed(0)
    target, x = torch.randn(1, 4, 6, 6), torch.randn(1, 4, 6, 6)
    full, tenth = StyleLoss(target, normalize=True), StyleLoss(target, normalize=True, weight=0.1)
    full(x), tenth(x)
    assert full.loss.item() > 0
    assert tenth.loss.item() == pytest.approx(0.1 * full.loss.item(), rel=1e-6)




def test_build_model_weights_each_style_layer(cnn):
    content, style = structured(32, 32), structured(32, 32, seed=1)
    x = structured(32, 32, seed=2)
    totals = {}
    for weight in (1.0, 0.1):
        model, losses = build_model(cnn, content, style, style_layers=["relu1_1", "relu2_1"],
                                    style_normalize=True, style_layer_weights={"relu2_1": weight})
        model(x)
        totals[weight] = [m.loss.item() for m in losses["style"]]
    assert totals[0.1][0] == pytest.approx(totals[1.0][0], rel=1e-5)
    assert totals[0.1][1] == pytest.approx(0.1 * totals[1.0][1], rel=1e-5)
    with pytest.raises(InputError, match="relu3_1, which are not style layers"):
        build_model(cnn, content, style, style_layers=["relu1_1"], style_layer_weights={"relu3_1": 0.5})


def test_tv_loss_zero_on_flat_positive_on_noise():
    tv = TVLoss()
    flat = torch.full((1, 3, 8, 8), 0.3)
    assert tv(flat) is flat and tv.loss.item() == 0.0
    tv(torch.rand(1, 3, 8, 8))
    assert tv.loss.item() > 0.05




def test_model_structure(cnn):
    before = copy.deepcopy(cnn.state_dict())
    content, style = structured(48, 64), structured(40, 40, seed=1).flip(-1)
    model, style_losses, content_losses = get_model_and_losses(cnn, style, content)
    names = [n for n, _ in model.named_children()]
    assert len(style_losses) == 5 and len(content_losses) == 1
    assert not any(isinstance(m, nn.MaxPool2d) for m in model.modules())
    assert sum(isinstance(m, nn.AvgPool2d) for m in model.modules()) == 4
    assert all(not m.inplace for m in model.modules() if isinstance(m, nn.ReLU))
    # each loss right after its layer, and nothing after the last loss (conv5_1)
    for layer in style_layers_default:
        assert names[names.index(layer) + 1] == f"style_loss_{layer}"
    assert names.index("content_loss_conv4_2") == names.index("conv4_2") + 1
    assert names[-1] == "style_loss_conv5_1" and "relu5_1" not in names
    # the given network is untouched: same weights, still max pooling, still 37 layers
    assert sum(isinstance(m, nn.MaxPool2d) for m in cnn.modules()) == 5
    for k, v in cnn.state_dict().items():
        assert torch.equal(v, before[k])
    # a content-image forward gives zero content loss; another size is a clear error
    model(content)
    assert content_losses[0].loss.item() == pytest.approx(0.0, abs=1e-8)
    with pytest.raises(ValueError, match="content target"):
        model(torch.rand(1, 3, 33, 45))
    # a style-only model takes any size
    texture_model, _, _ = get_model_and_losses(cnn, style, None, content_layers=[])
    texture_model(torch.rand(1, 3, 33, 45))


def test_relu_layer_puts_loss_after_the_relu(cnn):
    content = structured()
    model, _, content_losses = get_model_and_losses(cnn, content, content, content_layers=["relu2_1"], style_layers=[])
    names = [n for n, _ in model.named_children()]
    assert names[-2:] == ["relu2_1", "content_loss_relu2_1"]
    assert (content_losses[0].target >= 0).all()


def test_bare_torchvision_features_get_normalisation(cnn):
    features = torchvision.models.vgg19(weights=None).features
    content = structured()
    model, style_losses, content_losses = get_model_and_losses(features, content, content)
    first = next(iter(model.children()))
    assert type(first).__name__ == "ImageNetNormalize"
    assert all(p.requires_grad for p in features.parameters())  # caller's net untouched
    assert not any(p.requires_grad for p in model.parameters())
    model(content)
    assert content_losses[0].loss.item() == pytest.approx(0.0, abs=1e-8)


def test_too_small_image_names_the_minimum(cnn):
    with pytest.raises(InputError, match="at least 16 px"):
        get_model_and_losses(cnn, structured(12, 12), structured(12, 12))




def test_feature_extractor_names_and_shapes(cnn):
    feats = FeatureExtractor(cnn, ["conv1_1", "relu4_2", "pool2"])(torch.rand(1, 3, 64, 48))
    assert list(feats) == ["conv1_1", "relu4_2", "pool2"]
    assert feats["conv1_1"].shape == (1, 64, 64, 48)
    assert feats["pool2"].shape == (1, 128, 16, 12)
    assert feats["relu4_2"].shape == (1, 512, 8, 6)


def test_blended_style_targets(cnn):
    a, b = structured(40, 40), structured(40, 40).flip(1)
    _, la = build_model(cnn, None, [a], content_layers=[], style_layers=["conv2_1"])
    _, lb = build_model(cnn, None, [b], content_layers=[], style_layers=["conv2_1"])
    _, l10 = build_model(cnn, None, [a, b], content_layers=[], style_layers=["conv2_1"], style_blend=[1, 0])
    _, lmix = build_model(cnn, None, [a, b], content_layers=[], style_layers=["conv2_1"], style_blend=[0.5, 0.5])
    torch.testing.assert_close(l10["style"][0].target, la["style"][0].target)
    torch.testing.assert_close(lmix["style"][0].target, (la["style"][0].target + lb["style"][0].target) / 2)


def test_defaults_are_the_assignments():
    assert content_layers_default == ["conv4_2"]
    assert style_layers_default == ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
