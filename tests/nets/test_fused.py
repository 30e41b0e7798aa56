"""nets.fused: a convolution and its ReLU in one oneDNN call compute relu(conv(x)) in fp32, in
bf16 and under autocast, at odd sizes; inference takes the fused op, anything with gradients
the plain layers; `fused` finds every ReLU of the encoder and the decoders, which then give
the pictures they gave before."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from conftest import structured
from nets_helpers import onepass
from stylekit.nets import fused as fusing
from stylekit.nets.adain import infer, model
from stylekit.nets.adain.shipped import default_decoders
from stylekit.nets.fused import ConvReLU, fused

pytestmark = pytest.mark.skipif(not fusing._available(), reason="torch built without oneDNN")


def conv(cin: int, cout: int, k: int, seed: int, **kw) -> nn.Conv2d:
    torch.manual_seed(seed)
    layer = nn.Conv2d(cin, cout, k, **kw)
    nn.init.normal_(layer.bias)
    return layer.eval()


def test_bf16_is_fused_only_where_onednn_computes_it():
    assert torch.float32 in fusing.fused_dtypes()
    assert (torch.bfloat16 in fusing.fused_dtypes()) == torch.ops.mkldnn._is_mkldnn_bf16_supported()


def _no_relu(*a, **k):
    raise AssertionError("the ReLU ran as a layer of its own")


@pytest.mark.parametrize("k, kw", [(3, {"padding": 1}), (3, {}), (1, {}), (3, {"padding": 1, "stride": 2})])
@pytest.mark.parametrize("height, width", [(7, 9), (31, 17)])
@pytest.mark.parametrize("last", [False, True])
def test_the_fused_layer_is_relu_of_the_convolution(k, kw, height, width, last, monkeypatch):
    layer = conv(5, 12, k, seed=height + k, **kw)
    x = torch.randn(1, 5, height, width)
    if last:
        layer, x = layer.to(memory_format=torch.channels_last), x.to(memory_format=torch.channels_last)
    half_layer = conv(5, 12, k, seed=height + k, **kw).to(torch.bfloat16)
    with torch.inference_mode():
        want, half_want = F.relu(layer(x)), F.relu(half_layer(x.bfloat16()))
        monkeypatch.setattr(fusing.F, "relu", _no_relu)   # so the fused op is what ran
        got = ConvReLU(layer)(x)
        assert got.shape == want.shape and got.min() == 0
        assert torch.allclose(got, want, atol=1e-5)
        if torch.bfloat16 not in fusing.fused_dtypes():
            monkeypatch.undo()   # AVX2 alone: bf16 runs as the convolution then the ReLU
        half = ConvReLU(half_layer)(x.bfloat16())
        assert half.dtype == torch.bfloat16
        assert torch.allclose(half.float(), half_want.float(), atol=1e-2, rtol=1e-2)


def test_under_autocast_it_computes_what_autocasts_convolution_does_and_follows_new_weights():
    layer = conv(4, 8, 3, seed=1, padding=1)
    fused_layer, x = ConvReLU(layer), torch.randn(1, 4, 11, 13)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        got, want = fused_layer(x), F.relu(layer(x))
        assert got.dtype == want.dtype == torch.bfloat16 and torch.equal(got, want)
        with torch.no_grad():
            layer.weight.mul_(-1)   # its bf16 copy must not be the old weights'
        assert torch.equal(fused_layer(x), F.relu(layer(x)))


def test_with_gradients_it_runs_the_plain_layers_and_trains():
    layer = conv(3, 6, 3, seed=2, padding=1).train()
    x = torch.randn(1, 3, 8, 8, requires_grad=True)
    ConvReLU(layer)(x).sum().backward()
    assert x.grad is not None and layer.weight.grad is not None


def test_fusing_leaves_no_relu_in_the_encoder_or_the_shipped_decoders_and_the_same_pictures(cnn, monkeypatch):
    encoder, fast = model.Encoder(cnn), infer.inference_encoder(cnn)
    assert not [m for m in fast.modules() if isinstance(m, nn.ReLU)]
    decoders = [infer.for_inference(infer.load_decoder(p)[0]) for p in default_decoders("wct")]
    torch_decoders = infer.load_decoders("wct")[0]
    for decoder in torch_decoders:
        assert not [m for m in decoder.modules() if isinstance(m, nn.ReLU)]
        assert any(isinstance(m, ConvReLU) for m in decoder.modules()) or decoder.level == 1   # one conv, no ReLU
    content, style = structured(45, 61, seed=3), structured(40, 30, seed=4)
    for precision, atol in (("fp32", 1e-4), ("bf16", 1 / 255)):
        want = infer.stylize(encoder, decoders, content, [style], onepass("wct", alpha=0.6, precision=precision))
        with monkeypatch.context() as m:
            if precision == "fp32" or torch.bfloat16 in fusing.fused_dtypes():
                m.setattr(fusing.F, "relu", _no_relu)
            got = infer.stylize(fast, torch_decoders, content, [style], onepass("wct", alpha=0.6, precision=precision))
        assert (got - want).abs().max() <= atol, precision


def test_layers_outside_the_pattern_are_left_alone():
    lone_relu, padded = nn.ReLU(), nn.Conv2d(3, 3, 3, padding=1, padding_mode="reflect")
    net = nn.Sequential(lone_relu, padded, nn.ReLU(), nn.Conv2d(3, 3, 1, bias=False), nn.ReLU())
    out = fused(net)
    assert out[0] is lone_relu and out[1] is padded and isinstance(out[2], nn.ReLU)
    assert isinstance(out[3], nn.Conv2d) and isinstance(out[4], nn.ReLU)   # no bias: not fused


def test_weights_made_under_inference_mode_run_in_bf16():
    """Such tensors keep no count of their changes: the bf16 copy is keyed without one."""
    with torch.inference_mode():
        layer = conv(4, 8, 3, seed=5, padding=1)
        fused_layer, x = ConvReLU(layer), torch.randn(1, 4, 9, 7)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert torch.equal(fused_layer(x), F.relu(layer(x)))
