"""Numbers kept within what their arithmetic holds (issue 17, class 3), for library callers
(Settings, TrainSettings, the texture network's noise) as for the command line."""
import math

import pytest

from stylekit.base.errors import InputError
from stylekit.base.numbers import FLOAT32_MAX, FPS_RANGE, SEED_MAX, check_float, check_fps, check_seed, normalized_weights
from stylekit.nets.johnson import texture_noise
from stylekit.settings import Settings, TrainSettings


@pytest.mark.parametrize("seed, ok", [(0, True), (SEED_MAX, True), (SEED_MAX + 1, False), (-1, False),
                                      (2 ** 70, False), (1.5, False), (True, False)])
def test_seeds_fit_64_bits(seed, ok):
    if ok:
        assert check_seed(seed) == seed
    else:
        with pytest.raises(InputError, match="seed"):
            check_seed(seed)


@pytest.mark.parametrize("make", [lambda s: Settings(seed=s), lambda s: TrainSettings(seed=s),
                                  lambda s: texture_noise(4, 4, s)])
def test_every_seed_is_checked_where_a_library_caller_passes_it(make):
    make(SEED_MAX)  # the largest seed works
    with pytest.raises(InputError, match="64 bits"):
        make(2 ** 64)


@pytest.mark.parametrize("value, ok", [(0, True), (1e38, True), (FLOAT32_MAX, True), (1e39, False),
                                       (math.inf, False), (math.nan, False), (-1, False), ("x", False)])
def test_floats_fit_float32(value, ok):
    if ok:
        assert check_float(value, "w") == float(value)
    else:
        with pytest.raises(InputError):
            check_float(value, "w")


@pytest.mark.parametrize("field", ["lr", "style_weight", "content_weight", "tv_weight", "hist_weight", "style_scale"])
def test_settings_refuse_what_overflows_float32(field):
    with pytest.raises(InputError, match=f"^--{field.replace('_', '-')} must be"):
        Settings(**{field: 1e39})


def test_train_settings_refuse_what_overflows_float32():
    with pytest.raises(InputError, match="^--lr must be"):
        TrainSettings(lr=1e39)


def test_blend_weights_whose_sum_overflows_give_halves_not_zeros():
    assert normalized_weights([1e308, 1e308]) == [0.5, 0.5]
    assert normalized_weights([1.5e308, 0.5e308]) == pytest.approx([0.75, 0.25])
    assert Settings(style_blend=[1e308, 1e308]).style_blend == [0.5, 0.5]
    assert normalized_weights([0.7, 0.3]) == [0.7, 0.3]   # unchanged arithmetic where the sum is finite


@pytest.mark.parametrize("bad", [[0, 0], [-1, 2], [math.inf, 1], [math.nan, 1], []])
def test_blend_weights_refused(bad):
    with pytest.raises(InputError):
        normalized_weights(bad)


def test_one_pass_blend_overflow_gives_halves():
    from stylekit.settings import OnePassSettings
    run = OnePassSettings(style_blend=[1e308, 1e308])
    assert run.style_blend == (1e308, 1e308) and run.blend(2) == [0.5, 0.5]


@pytest.mark.parametrize("fps, ok", [(FPS_RANGE[0], True), (12, True), (FPS_RANGE[1], True), (1e-9, False),
                                     (101, False), (1e9, False), (math.nan, False), (math.inf, False)])
def test_frame_rates_both_writers_take(fps, ok):
    if ok:
        assert check_fps(fps) == fps
    else:
        with pytest.raises(InputError, match="frames per second"):
            check_fps(fps)
