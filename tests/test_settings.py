"""stylekit.settings: the presets are the one place defaults live, and flags go on top."""
import pytest

from style_and_content import content_layers_default, style_layers_default
from run import run_optimization
from stylekit.base.errors import InputError
from stylekit.settings import PRESETS, Settings, TrainSettings


def test_field_defaults_are_the_assignments():
    s = Settings()
    assert s.content_layers == content_layers_default and s.style_layers == style_layers_default
    defaults = run_optimization.__defaults__
    assert (s.steps, s.style_weight, s.content_weight) == tuple(defaults[2:5]) == (300, 1e6, 1)
    assert Settings.preset("assignment") == s


def test_part_presets():
    p1, p2, p3 = (Settings.preset(f"part{n}") for n in (1, 2, 3))
    assert (p1.part, p1.init, p1.style_weight, p1.content_weight) == (1, "noise", 0.0, 1.0)
    assert (p2.part, p2.init, p2.style_weight, p2.content_weight) == (2, "noise", 1e6, 0.0)
    assert (p3.part, p3.init, p3.style_weight, p3.steps, p3.style_normalize) == (3, "wct", 1e3, 100, True)
    assert p3.style_layers == ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    assert p3.style_layer_weights == {"relu5_1": 0.1}
    # presets are data, not shared lists: changing one settings object leaves the preset alone
    p3.style_layers.append("relu5_2")
    assert Settings.preset("part3").style_layers[-1] == "relu5_1"
    assert set(PRESETS) == {"assignment", "part1", "part2", "part3"}


def test_changes_go_on_top_and_none_keeps_the_preset():
    s = Settings.preset("part3", size=384, style_weight=None, seed=7)
    assert (s.size, s.style_weight, s.seed) == (384, 1e3, 7)


def test_new_style_layers_drop_the_presets_layer_weights():
    assert Settings.preset("part3", style_layers=["relu1_1", "relu5_1"]).style_layer_weights == {}
    s = Settings.preset("part3", style_layers="conv_3,relu5_1:0.5")
    assert s.style_layers == ["conv2_1", "relu5_1"] and s.style_layer_weights == {"relu5_1": 0.5}


@pytest.mark.parametrize("change, words", [
    ({"init": "zeros"}, "init must be one of content, noise"),
    ({"optimizer": "sgd"}, "optimizer must be one of lbfgs, adam"),
    ({"precision": "fp16"}, "precision must be one of auto, fp32, bf16"),
    ({"preserve_color": "sepia"}, "--preserve-color must be one of luminance, histogram"),
    ({"style_layers": ["conv9_9"]}, "conv9_9"),
    ({"steps": 0}, "positive"),
])
def test_bad_values_are_input_errors(change, words):
    with pytest.raises(InputError, match=words):
        Settings(**change)
    with pytest.raises(InputError):
        Settings.preset("nosuchpreset")


def test_for_inputs_empties_the_losses_that_cannot_apply():
    s = Settings.preset("part3", hist_weight=1e3)
    assert s.for_inputs(has_content=True, has_styles=True) == s
    texture = s.for_inputs(has_content=False, has_styles=True)
    assert texture.content_layers == [] and texture.style_layers == s.style_layers
    photo_only = s.for_inputs(has_content=True, has_styles=False)
    assert photo_only.style_layers == [] and photo_only.style_layer_weights == {} and photo_only.hist_layers == []
    assert s.replace(content_weight=0).for_inputs(True, True).content_layers == []


@pytest.mark.parametrize("kind, zeroed", [
    ("texture", dict(style_weight=0.0, tv_weight=0.0)),
    ("fast", dict(content_weight=0.0, style_weight=0.0, tv_weight=0.0)),
    ("adain", dict(content_weight=0.0, style_weight=0.0, identity_weight=0.0)),
])
def test_a_network_with_every_loss_weighted_0_is_refused(kind, zeroed):
    """Nothing to learn from: refused up front (it used to crash at the first step)."""
    with pytest.raises(InputError, match="are all 0: the .* network would have nothing to learn from"):
        TrainSettings.preset(kind, **zeroed)
    one_left = dict(zeroed, **{next(iter(zeroed)): 1.0})
    TrainSettings.preset(kind, **one_left)   # one term is enough


def test_style_networks_take_part3s_style_loss_and_the_texture_network_keeps_the_plain_one():
    fast, texture = TrainSettings.preset("fast"), TrainSettings.preset("texture")
    assert fast.style_layers == ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    assert fast.style_normalize and fast.style_layer_weights == {"relu5_1": 0.5}
    assert texture.style_layers == ["relu1_1", "relu2_1", "relu3_1", "relu4_1"] and not texture.style_normalize
    # a flag's layers, as the optimization's: names resolved, weights after a colon, the preset's weights dropped
    given = TrainSettings.preset("fast", style_layers="conv_3,relu5_1:0.25")
    assert given.style_layers == ["conv2_1", "relu5_1"] and given.style_layer_weights == {"relu5_1": 0.25}
    assert TrainSettings.preset("fast", style_layers="relu1_1").style_layer_weights == {}
    fast.style_layers.append("relu5_2")   # presets are data, not shared lists
    fast.style_layer_weights["relu5_1"] = 9.0
    assert TrainSettings.preset("fast").style_layers[-1] == "relu5_1"
    assert TrainSettings.preset("fast").style_layer_weights == {"relu5_1": 0.5}


@pytest.mark.parametrize("change, words", [
    ({"style_layers": "relu9_9"}, "relu9_9"),
    ({"style_layers": "relu1_1:-1"}, "non-negative"),
    ({"style_layers": ["relu1_1"], "style_layer_weights": {"relu5_1": 0.5}}, "relu5_1, which are not style layers"),
    ({"style_layer_weights": {"relu1_1": float("nan")}}, "non-negative"),
    ({"style_layers": ","}, "at least one style layer"),
])
def test_bad_training_style_layers_are_input_errors(change, words):
    with pytest.raises(InputError, match=words):
        TrainSettings(**change)


def test_part3_takes_its_content_from_the_rectified_layer_and_the_assignment_keeps_conv4_2():
    """On conv4_2 (stride 8) the content term left an 8 px checker in flat skies; on relu4_2 with
    weight 2.5 it does not, for about the same content distance (BENCHMARKS.md, "The checker")."""
    p3 = Settings.preset("part3")
    assert (p3.content_layers, p3.content_weight) == (["relu4_2"], 2.5)
    assert Settings.preset("assignment").content_layers == ["conv4_2"]
    assert Settings.preset("part3", content_layers=["conv4_2"]).content_layers == ["conv4_2"]


def test_part3_plans_start_from_wct_and_give_each_finer_scale_07_of_the_one_before():
    """From the one-pass picture, 192x100 -> 384x70 ended as near the photo and the painting as
    192x200 -> 384x75 from the photo (BENCHMARKS.md); finer scales never go below a fifth of
    the coarsest's evaluations."""
    assert Settings.preset("part3").init == "wct"
    assert Settings.preset("part3", size=384).plan(384) == [(192, 100), (384, 70)]
    assert Settings.preset("part3", size=1024).plan(1024) == [(128, 100), (256, 70), (512, 48), (1024, 34)]
    assert Settings.preset("part3", size=2048).plan(2048)[-2:] == [(1024, 34), (2048, 24)]
    assert Settings.preset("part3", size=256).plan(256) == [(256, 100)]
    assert Settings.preset("part1", size=384).plan(384) == [(192, 300), (384, 150)]


def test_one_pass_presets_carry_each_methods_defaults():
    from stylekit.nets.adain import infer
    from stylekit.settings import DEFAULT_ONEPASS, ONEPASS_METHODS, OnePassSettings
    assert OnePassSettings.preset().method == DEFAULT_ONEPASS == "wct-lite" == OnePassSettings().method
    assert set(ONEPASS_METHODS) == set(infer.TRANSFORM) and set(infer.TRANSFORM.values()) == set(infer.TRANSFORMS)
    wct, adain = OnePassSettings.preset("wct"), OnePassSettings.preset("adain")
    assert (wct.style_scale, adain.style_scale) == (1.0, 0.5) and wct.alpha < adain.alpha == 1.0
    assert OnePassSettings.preset("adain", alpha=None, size=256) == OnePassSettings("adain", 256, 0.5, 1.0)
    for changes, words in [(dict(alpha=1.5), "alpha must be between 0"), (dict(alpha=float("nan")), "alpha must"),
                           (dict(style_scale=0), "--style-scale must be a positive number"),
                           (dict(style_scale=float("inf")), "--style-scale must"), (dict(size=0), "size must"),
                           (dict(style_blend=[1, -1]), "--style-blend must be non-negative numbers"),
                           (dict(style_blend=[0, 0]), "--style-blend must be non-negative numbers with a positive sum"),
                           (dict(preserve_color="sepia"), "--preserve-color must be one of luminance, histogram"),
                           (dict(precision="fp16"), "--precision must be one of auto, fp32, bf16")]:
        with pytest.raises(InputError, match=words):
            OnePassSettings.preset("wct", **changes)
    with pytest.raises(InputError, match="method must be one of wct, wct-lite, adain, not 'gatys'"):
        OnePassSettings.preset("gatys")
    blended = OnePassSettings.preset("wct", style_blend=[2, 6])
    assert blended.style_blend == (2.0, 6.0) and blended.blend(2) == [0.25, 0.75]   # kept as given, scaled when used
    assert OnePassSettings.preset("wct").blend(3) is None
    with pytest.raises(InputError, match="^--style-blend has 2 weights for 3 style images$"):
        blended.blend(3)
    with pytest.raises(InputError, match="^--style-blend has 1 weight for 2 style images$"):
        OnePassSettings.preset("wct", style_blend=[1]).blend(2)


@pytest.mark.parametrize("field, value, flag", [
    ("style_layers", "relu1_1,relu3_1,relu1_1", "--style-layers"),
    ("style_layers", "relu1_1,relu1_1:0.5", "--style-layers"),
    ("content_layers", "relu4_2,relu4_2", "--content-layers"),
    ("hist_layers", "relu1_1,relu1_1", "--hist-layers"),
])
def test_a_layer_given_twice_is_refused(field, value, flag):
    """`--style-layers relu1_1,relu1_1` was accepted: that layer's loss counted twice, unsaid."""
    with pytest.raises(InputError, match=f"^{flag}: relu\\d_\\d is given twice"):
        Settings(**{field: value})
