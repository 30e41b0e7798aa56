"""nets.onnx_rewrite: the layers rewritten for the ONNX copies compute what the trained ones do,
at odd sizes; `rewritten` finds each pattern in the shipped architectures and leaves the rest;
the shipped copies are the rewritten ones."""
import json
import zipfile

import numpy as np
import onnx
import pytest
import torch
import torch.nn as nn

from conftest import ROOT
from stylekit.nets import johnson as ff
from stylekit.nets.adain import infer
from stylekit.nets.adain.model import Decoder
from stylekit.nets.adain.shipped import default_decoders
from stylekit.nets.training import load_network
from stylekit.nets.onnx_rewrite import FEW_CHANNELS, PhaseConv, RowsThenSum, rewritten


def conv(cin: int, cout: int, k: int, seed: int) -> nn.Conv2d:
    torch.manual_seed(seed)
    layer = nn.Conv2d(cin, cout, k)
    nn.init.normal_(layer.bias)
    return layer


@pytest.mark.parametrize("k, cout", [(9, 3), (3, 3), (5, 1)])
@pytest.mark.parametrize("height, width", [(9, 9), (13, 20), (31, 17)])
def test_rows_then_sum_is_the_padded_convolution(k, cout, height, width):
    pad, layer = nn.ReflectionPad2d(k // 2), conv(6, cout, k, seed=k + cout)
    x = torch.randn(2, 6, height, width)
    with torch.no_grad():
        assert torch.allclose(RowsThenSum(pad, layer)(x), layer(pad(x)), atol=1e-5)


@pytest.mark.parametrize("height, width", [(1, 1), (1, 4), (3, 5), (8, 7), (16, 16)])
def test_phase_conv_is_upsampling_padding_and_convolution(height, width):
    layer = conv(5, 7, 3, seed=height * width)
    plain = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.ReflectionPad2d(1), layer)
    x = torch.randn(2, 5, height, width)
    with torch.no_grad():
        out = PhaseConv(layer)(x)
        assert out.shape == (2, 7, 2 * height, 2 * width)
        assert torch.allclose(out, plain(x), atol=1e-5)


def kinds(net: nn.Module) -> list[str]:
    return [type(m).__name__ for m in net]


def randomised(net: nn.Module) -> nn.Module:
    """Instance norms and biases away from their starting values, so that every layer matters."""
    torch.manual_seed(1)
    for module in net.modules():
        if isinstance(module, (nn.InstanceNorm2d, nn.Conv2d)) and module.bias is not None:
            nn.init.uniform_(module.bias, -0.5, 0.5)
        if isinstance(module, nn.InstanceNorm2d):
            nn.init.uniform_(module.weight, 0.5, 1.5)
    return net.eval()


def test_the_style_network_is_rewritten_where_it_pays_and_computes_the_same():
    net = randomised(ff.TransformerNet(width=8, res_blocks=2))
    body = rewritten(net.net)
    assert kinds(body).count("PhaseConv") == 2 and kinds(body).count("RowsThenSum") == 1
    assert isinstance(body[-1], RowsThenSum)   # the last layer, to 3 channels; the first (to 8) stays
    assert any(layer is net.net[0][1] for layer in body)   # untouched layers are shared, not copied
    x = torch.rand(1, 3, 36, 44)
    with torch.no_grad():
        assert torch.allclose(body(x), net.net(x), atol=1e-4)


@pytest.mark.parametrize("level", [1, 2, 4])
def test_each_wct_decoder_is_rewritten_and_computes_the_same(level):
    decoder = randomised(Decoder(width=0.25, level=level))
    body = rewritten(decoder.net)
    assert kinds(body).count("PhaseConv") == level - 1 and kinds(body).count("RowsThenSum") == 1
    x = torch.rand(1, decoder.net[1].in_channels, 5, 6)
    with torch.no_grad():
        assert torch.allclose(body(x), decoder.net(x), atol=1e-4)


def test_layers_outside_the_patterns_are_left_alone():
    wide = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(4, FEW_CHANNELS, 3))   # enough channels already
    strided = nn.Sequential(nn.Upsample(scale_factor=2), nn.ReflectionPad2d(1), nn.Conv2d(4, 8, 3, stride=2))
    zero_padded = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(4, 8, 3, padding=1))
    bilinear = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear"), nn.ReflectionPad2d(1), nn.Conv2d(4, 8, 3))
    for net in (wide, strided, zero_padded, bilinear):
        assert kinds(rewritten(net)) == kinds(net)


def graph_ops(proto) -> list[str]:
    return [n.op_type for n in proto.graph.node if n.op_type != "Cast"]


def test_the_shipped_copies_are_the_rewritten_ones():
    """A copy exported again from the shipped .pt has the shipped copy's operations: a change to
    the export (this module's rewrites included) must come with copies made by it."""
    for name in ("starry_night", "great_wave", "composition_viii"):
        shipped = onnx.load(ROOT / "models" / f"{name}.onnx")
        assert "DepthToSpace" in graph_ops(shipped), f"models/{name}.onnx predates the rewrite"
    net, _ = ff.load_model(ROOT / "models" / "starry_night.pt", kind="style")
    fresh = ff.onnx_model(ff._PortableBody(net), torch.rand(1, 3, 64, 64), "image", "styled")
    assert graph_ops(fresh) == graph_ops(onnx.load(ROOT / "models" / "starry_night.onnx"))
    with zipfile.ZipFile(ROOT / "models" / "wct_portable.zip") as bundle:
        meta = json.loads(bundle.read("meta.json"))
        for level in (1, 2, 3, 4):
            ops = graph_ops(onnx.load_from_string(bundle.read(f"decoder{level}.onnx")))
            assert ops.count("DepthToSpace") == level - 1, (level, meta)
            assert np.isin(["Resize", "Upsample"], ops).sum() == 0


@pytest.mark.parametrize("name, kind", [("starry_night", "style"), ("starry_night_texture", "texture")])
def test_loaded_networks_are_rewritten_and_paint_what_the_trained_ones_do(name, kind):
    path = ROOT / "models" / f"{name}.pt"
    trained, _ = load_network(path, ff.MODEL_FORMAT, ff.TransformerNet, "network", "")
    loaded, _ = ff.load_model(path, kind=kind)
    assert "PhaseConv" in kinds(loaded.net) and "PhaseConv" not in kinds(trained.net)
    torch.manual_seed(2)
    x = torch.rand(1, trained.arch["in_channels"], 45, 61)
    with torch.no_grad():
        assert (ff.stylize(loaded, x) - ff.stylize(trained, x)).abs().max() < 0.5 / 255


def test_loaded_wct_decoders_are_rewritten_and_decode_what_the_trained_ones_do():
    decoders, _ = infer.load_decoders("wct")
    for decoder, path in zip(decoders, default_decoders("wct")):
        trained, _ = infer.load_decoder(path)
        assert "PhaseConv" in kinds(decoder.net) or decoder.level == 1
        assert "RowsThenSum" in kinds(decoder.net) and "RowsThenSum" not in kinds(trained.net)
        torch.manual_seed(decoder.level)
        feat = torch.rand(1, trained.net[1].in_channels, 6, 5) * 3
        with torch.no_grad():
            assert torch.allclose(decoder(feat), trained(feat), atol=1e-4)
