"""The bells' own pieces that need no optimization: the sky mask, the cache of a network's
output, the colour distance, and the registry (the page shows the bells in its order)."""
import json

import numpy as np
import torch
from PIL import Image

from stylekit.report import bells, bells_control, bells_networks, measures
from stylekit.report.inputs import CHENONCEAU


def test_bells_are_listed_once_in_page_order():
    names = [fn.__name__ for fn in bells.BELLS]
    assert names == ["colour", "masks", "histogram", "blend", "video_bell", "feedforward", "onepass_bell"]


def test_sky_mask_is_the_top_of_chenonceau_and_written_once(tmp_path):
    out = bells_control.sky_mask(CHENONCEAU, tmp_path / "mask.png")
    mask = np.asarray(Image.open(out))
    assert set(np.unique(mask)) <= {0, 255}
    assert mask[0].mean() > 200 and mask[-1].mean() < 50, "sky at the top, ground at the bottom"
    stamp = out.stat().st_mtime_ns
    bells_control.sky_mask(CHENONCEAU, out)
    assert out.stat().st_mtime_ns == stamp, "an unchanged mask is not rewritten"


def test_cached_output_runs_make_only_for_new_settings(tmp_path):
    calls = []

    def make():
        calls.append(1)
        return torch.full((1, 3, 8, 8), 0.5), {"seconds": 0.1 * len(calls)}

    path = tmp_path / "net" / "out.png"
    first = bells_networks.cached_output(path, {"model": "a.pt", "size": 8}, make)
    again = bells_networks.cached_output(path, {"model": "a.pt", "size": 8}, make)
    assert first == again == {"seconds": 0.1} and len(calls) == 1, "same settings: neither re-run nor re-timed"
    assert json.loads(path.with_suffix(".json").read_text())["settings"] == {"model": "a.pt", "size": 8}
    other = bells_networks.cached_output(path, {"model": "b.pt", "size": 8}, make)
    assert other == {"seconds": 0.2} and len(calls) == 2


def testmodel_stamp_names_the_file_by_content(tmp_path):
    model = tmp_path / "m.pt"
    model.write_bytes(b"weights")
    stamp = bells_networks.model_stamp(model)
    model.write_bytes(b"other!!")
    assert stamp["bytes"] == 7 and bells_networks.model_stamp(model)["sha1"] != stamp["sha1"]


def test_chroma_distance_is_zero_for_the_photo_itself(tmp_path):
    grey = tmp_path / "grey.png"
    Image.open(CHENONCEAU).convert("L").convert("RGB").save(grey)
    assert measures.chroma_distance(CHENONCEAU, CHENONCEAU) < 1e-6
    assert measures.chroma_distance(grey, CHENONCEAU) > 0.01
    assert measures.mean_abs_diff(CHENONCEAU, CHENONCEAU) == 0


def test_network_recipe_names_its_tv_weight():
    """The report's recipe of a network names the TV weight it trained with, and only then."""
    assert bells_networks._tv({"weights": {"content": 1.0, "style": 2e4, "tv": 100.0}}) == ", TV weight 100"
    assert bells_networks._tv({"weights": {"content": 1.0, "style": 2e4, "tv": 0.0}}) == ""
    assert bells_networks._tv({}) == ""


def test_networks_text_says_which_comes_closer_to_the_paintings():
    def pair(opt, fast):
        return {"opt_style": opt, "fast_style": fast, "opt_content": 0.9, "fast_content": 1.0}
    behind = bells_networks._closeness([pair(0.10, 0.20), pair(0.12, 0.18)])
    assert behind.startswith("the optimization matches") and "0.11 for the optimization, 0.19 for the networks" in behind
    ahead = bells_networks._closeness([pair(0.17, 0.16)])
    assert ahead.startswith("the networks match") and "content distance 0.90 and 1.00" in ahead


def test_networks_times_name_their_machine_only_when_one_measured_them_all():
    assert bells_networks.measured_on([{"machine": "AMD EPYC (AVX2), 2 threads"}] * 2) == ", AMD EPYC (AVX2), 2 threads"
    assert bells_networks.measured_on([{"machine": "A"}, {"machine": "B"}]) == ""
    assert bells_networks.measured_on([{}, {}]) == ""   # times cached before machines were kept


def test_network_recipe_names_its_content_layer_and_weights():
    """Part 3's balance and Johnson et al.'s differ in the content layer and the weights, so the
    report's recipe of a network says which it trained with."""
    recipe = {"weights": {"content": 2.5, "style": 1000.0, "tv": 0.0}, "content_layers": ["relu4_2"],
              "style_layers": ["relu1_1", "relu5_1"], "style_normalize": True, "init": "data/fast/x.pt"}
    assert bells_networks._loss(recipe) == (", content at relu4_2 (weight 2.5), style weight 1000, style losses "
                                            "relative per layer at relu1_1-relu5_1, starting from an earlier network's weights")
    assert bells_networks._loss({}) == ""


def test_the_decoders_widths_are_told_as_their_files_say():
    from stylekit.report.bells_onepass import _widths
    quarter = [{"level": n, "width": 0.25} for n in (1, 2, 4)]
    assert _widths(quarter) == "a quarter of the paper's channels"
    mixed = [*quarter, {"level": 3, "width": 0.5, "full_size_width": 0.25}]
    assert _widths(mixed) == "a quarter of the paper's channels (relu3_1's half, a quarter at full size)"
