"""Winograd F(4x4, 3x3) convolutions: the same numbers as F.conv2d, forward and backward,
on sizes that do not divide into tiles, and used by the engine only where they were measured to win."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from stylekit.optim import engine, winograd
from utils import LAYER_NAMES


@pytest.mark.parametrize("cin,cout,h,w", [(8, 5, 7, 9), (3, 4, 1, 1), (16, 16, 33, 50), (6, 12, 4, 4)])
def test_conv3x3_matches_conv2d(cin, cout, h, w):
    torch.manual_seed(0)
    x, weight, bias = torch.randn(1, cin, h, w), torch.randn(cout, cin, 3, 3), torch.randn(cout)
    expected = F.conv2d(x, weight, bias, padding=1)
    got = winograd.conv3x3(x, winograd.filter_transform(weight), bias)
    assert got.shape == expected.shape
    assert close(got, expected)


def close(a, b, tol=1e-5):
    """Equal to fp32 rounding: the error is small against the tensor's own size."""
    return ((a - b).norm() / b.norm()).item() < tol


@pytest.mark.parametrize("h,w", [(16, 20), (13, 18)])
def test_channels_last_in_and_out(h, w):
    """The engine's copy runs channels-last: the routine takes that layout and hands it on
    (each pixel's channels side by side)."""
    torch.manual_seed(3)
    x, weight = torch.randn(1, 8, h, w), torch.randn(6, 8, 3, 3)
    got = winograd.conv3x3(x.to(memory_format=torch.channels_last), winograd.filter_transform(weight))
    assert close(got, F.conv2d(x, weight, padding=1))
    assert got.stride(1) == 1 and got.stride(3) == 6


def test_bands_give_the_same_result_as_one_pass(monkeypatch):
    torch.manual_seed(1)
    x, weight = torch.randn(1, 8, 37, 21), torch.randn(8, 8, 3, 3)
    filters = winograd.filter_transform(weight)
    whole = winograd.conv3x3(x, filters)
    monkeypatch.setattr(winograd, "BAND_BYTES", 1)   # one row of tiles per band
    assert close(winograd.conv3x3(x, filters), whole, 1e-6)


def wide_conv(cin=256, cout=8, seed=2):
    torch.manual_seed(seed)
    conv = nn.Conv2d(cin, cout, 3, padding=1)
    conv.requires_grad_(False)
    return conv


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_module_gradient_matches_the_usual_kernels(layout):
    conv = wide_conv()
    fast = winograd.WinogradConv2d(conv)
    x = torch.randn(1, 256, 34, 31).to(memory_format=layout)   # above MIN_PIXELS, neither side a multiple of 4
    target = torch.randn(1, 8, 34, 31)
    grads = []
    for layer in (conv, fast):
        xi = x.clone().requires_grad_(True)
        out = layer(xi)
        ((out - target) ** 2).sum().backward()
        grads.append((out.detach(), xi.grad))
    assert close(grads[1][0], grads[0][0])
    assert close(grads[1][1], grads[0][1])


def test_module_takes_the_winograd_path_only_where_it_wins(monkeypatch):
    calls = []
    real = winograd.conv3x3
    monkeypatch.setattr(winograd, "conv3x3", lambda *a: calls.append(a[0].shape) or real(*a))
    fast = winograd.WinogradConv2d(wide_conv())
    with torch.no_grad():
        fast(torch.randn(1, 256, 20, 20))          # 400 px: Winograd
        fast(torch.randn(1, 256, 16, 16))          # 256 px, too small: the usual kernels
        fast(torch.randn(2, 256, 32, 32))          # a batch: the usual kernels
        with torch.autocast("cpu", dtype=torch.bfloat16):
            fast(torch.randn(1, 256, 32, 32))      # bf16 autocast: the usual kernels
    assert calls == [torch.Size([1, 256, 20, 20])]


def test_copy_replaces_only_wide_frozen_3x3_layers():
    net = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(256, 256, 3, padding=1),
                        nn.Conv2d(256, 256, 1), nn.Conv2d(256, 256, 3, padding=1),
                        nn.Conv2d(256, 256, 3, padding=1))   # trainable: its weight gradient is needed
    net[4].requires_grad_(False)
    net[2].requires_grad_(False)
    fast = winograd.winograd_copy(net)
    kinds = [type(m) for m in fast]
    assert kinds == [nn.Conv2d, nn.ReLU, winograd.WinogradConv2d, nn.Conv2d, winograd.WinogradConv2d, nn.Conv2d]
    assert type(net[2]) is nn.Conv2d      # the original is untouched


@pytest.mark.parametrize("capability,precision,expected", [("AVX2", "fp32", True), ("AVX2", "bf16", False),
                                                           ("AVX512", "fp32", False)])
def test_engine_uses_winograd_in_fp32_on_avx2_only(cnn, monkeypatch, capability, precision, expected):
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    fast = engine.for_speed(cnn, torch.device("cpu"), precision)
    used = any(isinstance(m, winograd.WinogradConv2d) for m in fast)
    assert used is expected
    assert engine.for_speed(cnn, torch.device("cpu"), precision) is fast   # cached
    assert not any(isinstance(m, winograd.WinogradConv2d) for m in cnn)


def test_filters_are_transformed_only_once_winograd_runs():
    fast = winograd.WinogradConv2d(wide_conv())
    with torch.no_grad():
        fast(torch.randn(1, 256, 8, 8))           # the usual kernels: nothing transformed
        assert fast.filters is None and fast.filters_back is None
        fast(torch.randn(1, 256, 32, 32))
    assert fast.filters.shape == (36, 256, 8) and fast.filters_back.shape == (36, 8, 256)


def test_filter_bytes_are_those_of_the_banks_built(cnn):
    last = LAYER_NAMES.index("conv5_1")
    built = sum(2 * winograd.filter_transform(layer.weight).numel() * 4
                for name, layer in winograd.winograd_copy(cnn).named_children()
                if isinstance(layer, winograd.WinogradConv2d) and LAYER_NAMES.index(name) <= last)
    assert built == winograd.vgg19_filter_bytes("relu5_1") > 0
    assert winograd.vgg19_filter_bytes("relu3_1") == 0


@pytest.mark.parametrize("capability,precision,counted", [("AVX2", "fp32", True), ("AVX2", "auto", True),
                                                          ("AVX512", "fp32", False)])
def test_memory_check_counts_the_banks_where_winograd_runs(tiny_images, tmp_path, monkeypatch,
                                                           capability, precision, counted):
    from stylekit.optim.jobs import Job, check_memory_for
    from stylekit.settings import Settings
    content, style = tiny_images
    monkeypatch.setattr("stylekit.base.device.bf16_supported", lambda device: False)
    job = Job(out=tmp_path / "out.png", settings=Settings.preset("part3", precision=precision),
              content=content, styles=[style])
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    without = check_memory_for(job, "cpu")
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    assert check_memory_for(job, "cpu") - without == (winograd.vgg19_filter_bytes("relu5_1") if counted else 0)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_module_keeps_the_source_filters_layout(layout):
    """Where the usual kernels run (small maps), oneDNN would reorder filters whose layout is
    not the input's at every call."""
    conv = wide_conv().to(memory_format=layout)
    assert winograd.WinogradConv2d(conv).weight.is_contiguous(memory_format=layout)
