"""`base.limits`: each method's smallest picture, and the memory model against what the
machine has (issue 17, classes 1 and 2)."""
import pytest
import torch

from stylekit.base import limits
from stylekit.base.errors import InputError
from stylekit.base.limits import MEMORY, MIN_SIDE, check_memory, check_side, estimate
from stylekit.nets.johnson import TransformerNet


@pytest.mark.parametrize("method", sorted(MIN_SIDE))
def test_min_side_refused_just_below_and_taken_at(method):
    need = MIN_SIDE[method]
    check_side(need, 3 * need, method)
    with pytest.raises(InputError, match=f"at least {need} px on each side"):
        check_side(3 * need, need - 1, method, "photo.png")


def test_the_networks_minimum_is_the_one_they_run_at():
    """MIN_SIDE['fast'] is where the style network starts to work: below it, its reflection
    padding fails (so the check must come first), at it the network runs."""
    net = TransformerNet(width=4, res_blocks=1).eval()
    side = MIN_SIDE["fast"]
    with torch.no_grad():
        net(torch.rand(1, 3, side, 64))
        with pytest.raises(RuntimeError):
            net(torch.rand(1, 3, side - 1, 64))


@pytest.mark.parametrize("method", sorted(MEMORY))
def test_the_estimate_grows_with_pixels(method):
    small, big = estimate(method, 256 * 256), estimate(method, 1024 * 1024)
    assert MEMORY[method].base < small < big


def test_the_optimization_at_1024_px_is_estimated_near_what_it_was_measured():
    # Measured: 2.8 GB peak at 1024x768 px (run.py --part 3, bf16, 2 threads), style as large.
    assert 2.0e9 < estimate("optimization", 1024 * 768, 1024 * 812) < 4.0e9


@pytest.mark.parametrize("method, style_side, measured", [
    ("optimization", 4096, 11.2e9), ("wct", 4096, 11.1e9), ("adain", 4096, 7.1e9), ("train-fast", 4096, 12.9e9),
    ("optimization", 2048, 3.4e9), ("wct", 2048, 3.6e9), ("adain", 2048, 2.2e9), ("train-fast", 2048, 3.8e9)])
def test_a_painting_larger_than_the_picture_is_estimated_by_its_own_pass(method, style_side, measured):
    """Peaks measured on machine B with a 64 px picture (or 32 px crops) and the painting at
    2048 or 4096 px: the painting's pass was estimated at 10-200 bytes a pixel, and a 5000x8
    photo at --size 20000 (its painting at 20000x15924) was let through to a crash."""
    style = style_side * round(style_side * 3258 / 4096)
    assert measured <= estimate(method, 64 * 43, style) <= 1.2 * measured


def test_refused_when_the_machine_has_less(monkeypatch):
    monkeypatch.setattr(limits, "available_bytes", lambda device="cpu": 2_000_000_000)
    need = estimate("fast", 4000 * 3000)
    assert need > 2e9
    with pytest.raises(InputError) as err:
        check_memory("fast", 4000 * 3000, what="the style network at 4000x3000 px", hint="use a smaller --size")
    text = str(err.value)
    assert text.startswith("the style network at 4000x3000 px needs about ")
    assert f"{need / 1e9:.1f} GB" in text and "2.0 GB available" in text and text.endswith("use a smaller --size")
    assert check_memory("fast", 256 * 256, what="x", hint="y") == estimate("fast", 256 * 256)


def test_nothing_refused_when_nothing_says_how_much_there_is(monkeypatch):
    monkeypatch.setattr(limits, "available_bytes", lambda device="cpu": None)
    check_memory("optimization", 10 ** 12, what="x", hint="y")


def test_available_memory_is_the_smaller_of_the_kernel_and_the_container(monkeypatch):
    monkeypatch.setattr(limits, "_meminfo_available", lambda: 8_000_000_000)
    monkeypatch.setattr(limits, "_cgroup_available", lambda: 3_000_000_000)
    assert limits.available_bytes() == 3_000_000_000
    monkeypatch.setattr(limits, "_cgroup_available", lambda: None)
    assert limits.available_bytes() == 8_000_000_000


def test_this_machine_reports_its_memory():
    have = limits.available_bytes()
    assert have is None or have > 0


def test_lbfgs_history_is_capped_for_large_images(monkeypatch):
    """Fifty history pairs up to about 1 GB of them, fewer above (never under five), and the
    estimate counts exactly what the optimizer keeps."""
    assert limits.lbfgs_pairs(384 * 288) == 50
    assert limits.lbfgs_pairs(2048 * 1536) == int(limits.LBFGS_BYTES // (24 * 2048 * 1536)) < 50
    assert limits.lbfgs_pairs(10 ** 12) == limits.LBFGS_MIN_PAIRS
    big, small = 2048 * 1536, 384 * 288
    history = lambda px: 24 * px * limits.lbfgs_pairs(px)
    assert estimate("optimization", big) - estimate("optimization", small) == pytest.approx(
        MEMORY["optimization"].per_pixel * (big - small) + history(big) - history(small), abs=2)


def test_the_optimizer_keeps_the_capped_history(monkeypatch):
    from stylekit.optim import engine
    from style_and_content import TVLoss
    made = []

    class Spy(torch.optim.LBFGS):
        def __init__(self, params, **kwargs):
            made.append(kwargs["history_size"])
            super().__init__(params, **kwargs)

    monkeypatch.setattr(torch.optim, "LBFGS", Spy)
    monkeypatch.setattr(limits, "LBFGS_BYTES", 24 * 100 * 7)   # 7 pairs of a 10x10 image
    tv = TVLoss()
    engine.optimize(torch.nn.Sequential(tv), {"tv": [tv]}, {"tv": 1.0}, torch.rand(1, 3, 10, 10), 3)
    assert made == [7]


def test_a_print_in_fp32_on_the_cpu_is_estimated_with_the_layers_that_keep_less():
    """2048x1536 in fp32 on the CPU runs `optim.lean`: measured 5.88 GB peak with the painting at
    2048x1629 (AVX-512; AVX2's Winograd path about 1 GB more with its 0.4 GB of filter banks, which
    the callers add). The estimate sits above that and well under the plain layers' 7.6 GB."""
    px, style_px = 2048 * 1536, 2048 * 1629
    lean, plain = estimate("optimization", px, style_px, lean=True), estimate("optimization", px, style_px)
    assert 5.88e9 < lean < 6.9e9 < 7.4e9 < plain
    from stylekit.optim import winograd   # the AVX2 path adds its filter banks: measured 6.86 GB there
    assert lean + winograd.vgg19_filter_bytes("relu5_1") > 1.05 * 6.86e9
    assert estimate("fast", px, lean=True) == estimate("fast", px)   # only the optimization has a lean form


def test_the_job_check_estimates_lean_where_the_engine_runs_lean(monkeypatch, tmp_path):
    from PIL import Image
    from stylekit.optim import engine, jobs
    from stylekit.settings import Settings
    photo = tmp_path / "photo.png"
    Image.new("RGB", (800, 600)).save(photo)
    asked = []
    monkeypatch.setattr(jobs, "check_memory", lambda *a, **k: asked.append(k["lean"]) or 0)
    for size, precision in ((2048, "fp32"), (2048, "bf16"), (1024, "fp32")):
        job = jobs.Job(tmp_path / "out.png", Settings.preset("part3", size=size, precision=precision), photo, [photo])
        jobs.check_memory_for(job, "cpu")
        assert asked[-1] == engine.runs_lean(torch.device("cpu"), precision, size * 1536 // 2048 * size)
    assert asked == [True, False, False]
