"""How the report writes things down: labelled cells in DejaVu Sans, numbers, a run's settings."""
import numpy as np
from PIL import Image

from stylekit.report import labels


def test_labels_draw_accented_letters():
    """"The Night Café": the é must be a glyph of its own, not the font's missing-glyph box."""
    def ink(text):
        img = labels.labelled(Image.new("RGB", (64, 64), "gray"), text, 200)
        return np.asarray(img)[64:]

    accented, missing = ink("Café"), ink("Caf\U0010FFFD")
    assert accented.shape == missing.shape
    assert (accented != missing).any(), "é is drawn as the missing-glyph box"
    assert (accented != ink("Cafe")).any()


def test_labelled_cell_is_the_cell_wide_with_a_strip_per_line():
    img = Image.new("RGB", (300, 150), "red")
    one, two = labels.labelled(img, "a", 120), labels.labelled(img, "a\nb", 120)
    assert one.width == two.width == 120
    assert two.height > one.height
    assert labels.labelled(img, "", 120).size == (120, 60)


def test_numbers_and_weights_read_the_way_papers_write_them():
    assert [labels.fmt_num(x) for x in (None, float("nan"), 0, 0.5, 12.345, 4321.0, 123456.0, 1e-5)] == \
        ["–", "–", "0", "0.5", "12.3", "4,321", "1.23e5", "1e-5"]
    assert [labels.fmt_weight(x) for x in (None, 0, 1, 0.5, 1e4, 1e6, 1.5e7)] == ["–", "0", "1", "0.5", "1e4", "1e6",
                                                                                  "1.5e7"]


def test_settings_text_reads_the_sidecar():
    meta = {"settings": {"content": "c.jpg", "init": "content", "optimizer": "lbfgs", "content_layers": ["conv4_2"],
                         "content_weight": 1.0, "style_layers": ["conv1_1", "conv2_1", "conv3_1"],
                         "style_weight": 1e6, "tv_weight": 0.0, "precision": "fp32"},
            "output_size": [512, 384], "plan": [[128, 200], [256, 100], [512, 50]], "evals": 350,
            "wall_seconds": 12.34, "status": "done"}
    text = labels.settings_text(meta)
    assert text == ("512×384 px; coarse to fine 128px×200 → 256px×100 → 512px×50; 350 LBFGS evaluations; "
                    "init content; content conv4_2 × 1; style conv1_1 … conv3_1 (3 layers) × 1e6; fp32; 12.3 s")
    assert labels.settings_text({**meta, "status": "nan"}).endswith("; status: nan")


def test_a_range_that_rounds_to_one_number_is_one_number():
    assert labels.fmt_range([0.061, 0.058]) == "0.06"
    assert labels.fmt_range([0.51, 0.543, 0.52]) == "0.51–0.54"
    assert labels.fmt_range([1.04], digits=1) == "1.0"
