"""run_optimization and the engine really optimize, count steps honestly, and fail safe."""
import math

import pytest
import torch

from conftest import structured
from stylekit.settings import Settings, scale_schedule
from stylekit.optim.engine import Result, optimize, stylize
from run import run_optimization
from style_and_content import build_model, get_model_and_losses
from stylekit.base.errors import InputError
from stylekit.base.tensors import noise_like


def content_loss_of(cnn, content, img, layer="conv3_1"):
    model, _, losses = get_model_and_losses(cnn, content, content, content_layers=[layer], style_layers=[])
    with torch.no_grad():
        model(img)
    return losses[0].loss.item()


@pytest.mark.slow
def test_content_reconstruction_from_noise_converges(cnn):
    content = structured(48, 64)
    noise = noise_like(content, seed=0)
    kept = noise.clone()
    out = run_optimization(cnn, content, None, noise, use_style=False, num_steps=60,
                           content_layers=["conv3_1"])
    assert torch.equal(noise, kept)  # input untouched
    assert out.shape == content.shape and out.min() >= 0 and out.max() <= 1
    before = content_loss_of(cnn, content, noise)
    after = content_loss_of(cnn, content, out)
    assert after < before / 20, (before, after)
    # and the pixels moved toward the content image
    assert (out - content).abs().mean() < (noise - content).abs().mean() * 0.7


@pytest.mark.slow
def test_num_steps_means_progress(cnn):
    content, style = structured(48, 48), structured(48, 48).flip(-1).roll(7, -2)
    model, losses = build_model(cnn, content, style)
    weights = {"content": 1.0, "style": 1e6}
    short = optimize(model, losses, weights, content, 15)
    long = optimize(model, losses, weights, content, 45)
    assert short.evals == 15 and long.evals == 45
    assert short.status == long.status == "done"
    assert long.history[-1]["total"] < 0.6 * short.history[-1]["total"]
    # the loss history of a longer run starts the same way (same deterministic path)
    assert long.history[0]["total"] == pytest.approx(short.history[0]["total"])


@pytest.mark.slow
def test_defaults_never_nan_and_style_moves(cnn):
    content, style = structured(64, 64), structured(64, 64).flip(-1).roll(9, -1)
    result = stylize(cnn, content, style, Settings(size=None, steps=40))
    assert result.status == "done"
    assert all(math.isfinite(r["total"]) for r in result.history)
    assert torch.isfinite(result.image).all()
    assert result.history[-1]["style"] < 0.3 * result.history[0]["style"]


@pytest.mark.slow
def test_adam_runs_the_same_engine(cnn):
    content = structured(48, 48)
    noise = noise_like(content, seed=3)
    out = run_optimization(cnn, content, None, noise, use_style=False, num_steps=80,
                           content_layers=["conv2_1"], optimizer="adam", lr=0.05)
    assert content_loss_of(cnn, content, out, "conv2_1") < content_loss_of(cnn, content, noise, "conv2_1") / 5


@pytest.mark.slow
def test_interrupt_keeps_best_finite_image(cnn):
    content, style = structured(48, 48), structured(48, 48).flip(-1)
    model, losses = build_model(cnn, content, style)

    def stop_at_10(info):
        if info["step"] == 10:
            raise KeyboardInterrupt

    result = optimize(model, losses, {"content": 1, "style": 1e6}, content, 100, callback=stop_at_10)
    assert result.status == "interrupted" and result.evals == 10
    assert torch.isfinite(result.image).all()
    assert result.image.shape == content.shape


@pytest.mark.slow
def test_nan_stops_and_keeps_last_finite_image(cnn):
    content = structured(48, 48)
    model, losses = build_model(cnn, content, content.flip(-1))
    calls = {"n": 0}

    def poison(info):
        calls["n"] += 1
        if calls["n"] == 5:
            losses["style"][0].target.fill_(float("nan"))

    result = optimize(model, losses, {"content": 1, "style": 1e6}, content, 50, callback=poison)
    assert result.status == "nan" and result.evals == 5
    assert torch.isfinite(result.image).all()


def test_bf16_autocast_close_to_fp32(cnn):
    content, style = structured(64, 64), structured(64, 64).flip(-1)
    model, losses = build_model(cnn, content, style)
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    dtypes = []  # what the first convolution computed in, one entry per evaluation
    hook = conv.register_forward_hook(lambda module, inputs, output: dtypes.append(output.dtype))
    try:
        a = optimize(model, losses, {"content": 1, "style": 1e6}, content, 1, precision="fp32")
        b = optimize(model, losses, {"content": 1, "style": 1e6}, content, 1, precision="bf16")
    finally:
        hook.remove()
    assert dtypes == [torch.float32, torch.bfloat16]  # bf16 really ran, and only when asked for
    assert b.history[0]["style"] != a.history[0]["style"]
    assert b.history[0]["style"] == pytest.approx(a.history[0]["style"], rel=0.05)


def test_scale_schedule():
    assert scale_schedule(256, 300) == [(256, 300)]
    assert scale_schedule(512, 300) == [(128, 300), (256, 150), (512, 75)]
    assert scale_schedule(512, 300, multiscale=False) == [(512, 300)]
    assert scale_schedule(1024, 200) == [(128, 200), (256, 100), (512, 50), (1024, 40)]   # a fifth at least
    assert scale_schedule(384, 200, finer=0.375) == [(192, 200), (384, 75)]
    assert scale_schedule(1024, 100, finer=0.4) == [(128, 100), (256, 40), (512, 20), (1024, 20)]
    assert scale_schedule(384, 200, min_size=96) == [(96, 200), (192, 100), (384, 50)]
    assert scale_schedule(384, 200, min_size=193) == [(384, 200)]


def test_finer_steps_shape_the_plan_a_run_follows(cnn):
    """The plan recorded and followed is the one `finer_steps` asks for."""
    content, style = structured(96, 128), structured(64, 64).flip(-1)
    sizes = []
    result = stylize(cnn, content, style, Settings(size=256, steps=5, finer_steps=0.4, multiscale="on",
                                                   precision="fp32"), callback=lambda info: sizes.append(info["size"]))
    assert result.plan == [(128, 5), (256, 2)] and sizes == [128] * 5 + [256] * 2
    with pytest.raises(InputError, match="--finer-steps must be above 0 and at most 1"):
        Settings(finer_steps=1.5)


def test_coarse_only_layers_leave_the_finer_scales(cnn, monkeypatch):
    """A coarse-only style layer is in the coarsest scale's model and in no finer one's, with
    its weight; the other layers keep theirs; `coarsest` sets where the plan starts."""
    from stylekit.optim import engine
    built = []

    def spy(*args, **kwargs):
        built.append((kwargs["style_layers"], kwargs["style_layer_weights"]))
        return build_model(*args, **kwargs)

    monkeypatch.setattr(engine, "build_model", spy)
    content, style = structured(96, 128), structured(64, 64).flip(-1)
    cfg = Settings.preset("part3", size=256, steps=2, multiscale="on", coarsest=64, precision="fp32",
                          coarse_only_layers=["relu5_1"], style_layer_weights={"relu5_1": 0.1, "relu2_1": 2})
    result = stylize(cnn, content, style, cfg)
    assert result.plan == [(64, 2), (128, 1), (256, 1)]
    assert built[0] == (["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"], {"relu5_1": 0.1, "relu2_1": 2.0})
    assert built[1] == built[2] == (["relu1_1", "relu2_1", "relu3_1", "relu4_1"], {"relu2_1": 2.0})


def test_coarse_only_layers_are_checked():
    with pytest.raises(InputError, match="coarse-only layers relu3_1 are not style layers"):
        Settings(style_layers=["relu1_1"], coarse_only_layers=["relu3_1"])
    with pytest.raises(InputError, match="every style layer is coarse-only"):
        Settings(style_layers=["relu1_1"], coarse_only_layers=["relu1_1"])
    with pytest.raises(InputError, match="--coarsest must be a positive"):
        Settings(coarsest=0)
    with pytest.raises(InputError, match="--coarsest must be at least 16 px, the least conv5_1 takes, not 15"):
        Settings(coarsest=15)
    assert Settings.preset("part1", coarsest=8).coarsest == 8   # conv4_2 alone: its style layers are unused
    # other style layers from a preset drop its coarse-only ones with its layer weights
    assert Settings.preset("part3", coarse_only_layers=["relu5_1"]).coarse_only_layers == ["relu5_1"]
    assert Settings.preset("part3", style_layers=["relu1_1"]).coarse_only_layers == []
    assert Settings(coarse_only_layers=["conv5_1"]).for_inputs(True, False).coarse_only_layers == []


@pytest.mark.slow
def test_multiscale_output_has_requested_size(cnn):
    content, style = structured(60, 80), structured(50, 50)
    result = stylize(cnn, content, style, Settings(size=40, steps=6, multiscale="on"))
    assert result.image.shape[-2:] == (30, 40)


@pytest.mark.slow
def test_each_finer_scale_starts_from_the_coarser_result(cnn):
    """Two real scales (128 then 256 px, from noise): the finer one's first evaluation is the
    coarser scale's best image upsampled, not a fresh start; every evaluation is counted."""
    content, style = structured(96, 128), structured(64, 64).flip(-1)
    seen = []

    def record(info):
        seen.append((info["scale"], info["size"], info["total"], info["image"].clone()))

    result = stylize(cnn, content, style, Settings(size=256, steps=4, multiscale="on", init="noise",
                                                   precision="fp32"), callback=record)
    assert result.plan == [(128, 4), (256, 2)] and result.evals == 6
    assert [s for s, *_ in seen] == [0, 0, 0, 0, 1, 1] and [r["size"] for r in result.history] == [128] * 4 + [256] * 2
    assert result.image.shape[-2:] == (192, 256)
    coarse = [(total, img) for scale, _, total, img in seen if scale == 0]
    best = min(coarse, key=lambda c: c[0])[1].clamp(0, 1)
    first_fine = seen[4][3]
    upsampled = torch.nn.functional.interpolate(best, size=(192, 256), mode="bicubic", align_corners=False).clamp(0, 1)
    torch.testing.assert_close(first_fine, upsampled)
    # and that is not where a fresh start would be (the noise of the seed, at 256 px)
    assert (first_fine - noise_like(first_fine, 0)).abs().mean() > 0.05


@pytest.mark.slow
def test_the_best_image_is_kept_not_the_last(cnn):
    """Ctrl-C right after an evaluation that made the loss worse (an L-BFGS line search
    overshooting): the image kept is the best one seen, not the last one evaluated."""
    content, style = structured(48, 48), structured(48, 48).flip(-1)
    model, losses = build_model(cnn, content, style)
    seen = []

    def stop_after_a_worse_one(info):
        seen.append((info["total"], info["image"].clamp(0, 1).clone()))
        if len(seen) > 1 and info["total"] > min(t for t, _ in seen[:-1]):
            raise KeyboardInterrupt

    result = optimize(model, losses, {"content": 1, "style": 1e6}, content, 100, callback=stop_after_a_worse_one)
    assert result.status == "interrupted" and result.evals == len(seen) < 100
    best = min(seen, key=lambda s: s[0])[1]
    assert not torch.equal(best, seen[-1][1])
    assert torch.equal(result.image, best)
    assert result.history[-1]["total"] == seen[-1][0]  # the history still records every evaluation
    assert result.final["total"] == min(t for t, _ in seen), "the losses reported are the kept image's"


def test_final_losses_are_the_kept_images_of_the_last_scale():
    """Coarse scales have their own (smaller) totals: the report quotes the finest scale's best."""
    rows = [{"total": 0.5, "size": 128}, {"total": 9.0, "size": 256}, {"total": 2.0, "size": 256},
            {"total": 479.0, "size": 256}]
    assert Result(image=torch.zeros(1, 3, 2, 2), history=rows).final == {"total": 2.0, "size": 256}
    assert Result(image=torch.zeros(1, 3, 2, 2)).final == {}


def test_stylize_refuses_a_size_the_machine_cannot_hold_before_any_work(cnn, monkeypatch):
    """A library caller (no CLI in front) asking for a print size on a machine with too little
    memory gets one InputError naming the size, before a single evaluation."""
    from stylekit.base import limits
    content, style = structured(30, 40), structured(32, 32)
    monkeypatch.setattr(limits, "available_bytes", lambda device="cpu": 2 * 10 ** 9)
    calls = []
    with pytest.raises(InputError, match=r"optimization at 2048x1536 px needs about .* smaller Settings.size"):
        stylize(cnn, content, style, Settings(size=2048, steps=1), callback=calls.append)
    assert calls == []
    result = stylize(cnn, content, style, Settings(size=40, steps=1, precision="fp32"))  # a small one runs
    assert result.evals == 1
