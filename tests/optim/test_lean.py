"""optim.lean: the loss network with layers that keep less for the backward pass gives the same
gradient at odd sizes, keeps far fewer bytes, leaves the loss layers' ReLUs alone, and the engine
uses it for fp32 scales from LEAN_FROM_PIXELS on only."""
import pytest
import torch
import torch.nn as nn

from conftest import structured
from stylekit.optim import engine
from stylekit.optim.lean import LeanAvgPool2d, LeanConv2d, MaskedReLU, lean
from stylekit.settings import Settings
from style_and_content import build_model


def built(cnn, height, width, layout=torch.contiguous_format):
    content, style = structured(height, width, seed=1), structured(40, 40, seed=2)
    cfg = Settings.preset("part3")
    network = engine.for_speed(cnn, torch.device("cpu")) if layout == torch.channels_last else cnn
    return build_model(network, content, [style], content_layers=cfg.content_layers, style_layers=cfg.style_layers,
                       style_normalize=cfg.style_normalize, style_layer_weights=cfg.style_layer_weights)


def gradient_and_kept(model, losses, x):
    x = x.clone().requires_grad_(True)
    kept = {}

    def keep(t):
        kept[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t
    with torch.autograd.graph.saved_tensors_hooks(keep, lambda t: t):
        model(x)
        loss = sum(m.loss for ms in losses.values() for m in ms)
    loss.backward()
    return x.grad, sum(kept.values())


@pytest.mark.parametrize("height, width, layout", [(45, 61, torch.contiguous_format), (64, 48, torch.channels_last),
                                                   (33, 35, torch.channels_last), (120, 160, torch.channels_last)])
def test_the_same_gradient_from_fewer_kept_bytes(cnn, monkeypatch, height, width, layout):
    # oneDNN's layers on every CPU: where torch's kernels are AVX2 the engine's fp32 copy would
    # hold Winograd convolutions, which keep nothing already (the print's saving there is measured
    # in BENCHMARKS.md, "Memory at print size").
    monkeypatch.setattr(engine, "WINOGRAD_ON_AVX2", False)
    x = structured(height, width, seed=3)
    plain, plain_losses = built(cnn, height, width, layout)
    expected, plain_bytes = gradient_and_kept(plain, plain_losses, x)
    slim, slim_losses = built(cnn, height, width, layout)
    lean(slim, slim_losses)
    got, slim_bytes = gradient_and_kept(slim, slim_losses, x)
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-7 * expected.abs().max().item())
    if height * width >= 120 * 160:   # where the activations outweigh the losses' own small tensors
        # the ReLU outputs no loss reads are gone (relu1_2, 2_2, 3_2-3_4, 4_3-4_4 of part 3's
        # losses), and the plain network's count includes the weights its convolutions keep
        weights = sum(p.numel() * 4 for m in plain.modules() if type(m) is nn.Conv2d for p in m.parameters())
        assert slim_bytes < 0.7 * (plain_bytes - weights), (slim_bytes, plain_bytes, weights)


def test_only_the_relus_no_loss_reads_are_masked(cnn):
    model, losses = built(cnn, 48, 64)
    lean(model, losses)
    names = dict(model.named_children())
    masked = sorted(n for n, m in names.items() if isinstance(m, MaskedReLU))
    assert masked == ["relu1_2", "relu2_2", "relu3_2", "relu3_3", "relu3_4", "relu4_3", "relu4_4"]
    assert all(isinstance(m, LeanConv2d) for n, m in names.items() if n.startswith("conv"))
    assert all(isinstance(m, LeanAvgPool2d) for n, m in names.items() if n.startswith("pool"))
    assert {id(m) for ms in losses.values() for m in ms} <= {id(m) for m in names.values()}   # the same loss modules


@pytest.mark.parametrize("precision, threshold, expect", [("fp32", 0, True), ("fp32", 10 ** 9, False),
                                                          ("bf16", 0, False)])
def test_the_engine_uses_it_for_fp32_scales_from_the_threshold_on(cnn, monkeypatch, precision, threshold, expect):
    calls = []
    monkeypatch.setattr(engine, "LEAN_FROM_PIXELS", threshold)
    monkeypatch.setattr(engine, "lean", lambda model, losses: calls.append(model))
    content = structured(32, 40, seed=1)
    engine.stylize(cnn, content, [content], Settings.preset("part3", size=40, steps=1, precision=precision))
    assert bool(calls) == expect
