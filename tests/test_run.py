"""The command line end to end on tiny images: outputs, sidecars, exit codes."""
import json
import subprocess
import sys

import pytest
from PIL import Image

from conftest import ROOT
import run


def cli(*args):
    return run.main([str(a) for a in args])


def test_part1_reconstruction(tiny_images, tmp_path, capsys):
    content, _ = tiny_images
    out = tmp_path / "out" / "p1.png"  # parent folder is created
    code = cli("--part", 1, "--content", content, "--content-layer", "conv3_1", "--size", 64,
               "--steps", 20, "--out", out)
    assert code == 0
    assert Image.open(out).size == (64, 48)
    meta = json.loads(out.with_suffix(".json").read_text())
    s = meta["settings"]
    assert s["part"] == 1 and meta["evals"] == 20 and meta["status"] == "done"
    assert s["content_layers"] == ["conv3_1"] and s["style_layers"] == []
    assert (s["content_weight"], s["style_weight"], s["tv_weight"]) == (1.0, 0.0, 0.0)
    assert s["init"] == "noise" and s["seed"] == 0 and meta["wall_seconds"] > 0
    assert s["weights"] == "original" and s["precision"] in ("fp32", "bf16")
    assert meta["final_losses"]["content"] > 0
    assert (tmp_path / "out" / "p1_losses.png").stat().st_size > 1000
    assert str(out) in capsys.readouterr().out


def test_part2_texture_takes_style_shape(tiny_images, tmp_path):
    _, style = tiny_images
    out = tmp_path / "p2.png"
    assert cli("--part", 2, "--style", style, "--style-layers", "conv1_1,conv2_1", "--size", 40,
               "--steps", 15, "--out", out, "--seed", 3) == 0
    meta = json.loads(out.with_suffix(".json").read_text())
    assert Image.open(out).size == (40, 40)
    assert meta["settings"]["style_layers"] == ["conv1_1", "conv2_1"]
    assert meta["settings"]["content_layers"] == [] and meta["settings"]["content"] is None
    assert meta["settings"]["seed"] == 3 and "style" in meta["final_losses"]


def test_part3_transfer_and_save_every(tiny_images, tmp_path):
    content, style = tiny_images
    out = tmp_path / "p3.png"
    assert cli("--part", 3, "--content", content, "--style", style, "--size", 64, "--steps", 12,
               "--tv-weight", 10, "--save-every", 5, "--out", out) == 0
    meta = json.loads(out.with_suffix(".json").read_text())
    assert set(meta["final_losses"]) >= {"content", "style", "tv", "total"}
    assert meta["settings"]["init"] == "wct" and meta["evals"] == 12
    # Transfer's defaults: rectified style layers (relu5_1 at a tenth), each loss relative to its target.
    assert meta["settings"]["style_layers"] == ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    assert meta["settings"]["style_layer_weights"] == {"relu5_1": 0.1}
    assert meta["settings"]["style_normalize"] is True and meta["settings"]["style_weight"] == 1e3
    assert sorted(p.name for p in tmp_path.glob("p3_step*.png")) == ["p3_step0005.png", "p3_step0010.png"]
    assert meta["snapshots"] == ["p3_step0005.png", "p3_step0010.png"]
    # A rerun to the same --out replaces the earlier run's snapshots as it replaces its picture;
    # another out's in the folder stay.
    other = tmp_path / "p3_step0001.png.keep"
    other.write_bytes(b"x")
    (tmp_path / "p3b_step0005.png").write_bytes(b"x")
    assert cli("--part", 3, "--content", content, "--style", style, "--size", 64, "--steps", 6,
               "--save-every", 3, "--out", out) == 0
    assert sorted(p.name for p in tmp_path.glob("p3_step*.png")) == ["p3_step0003.png", "p3_step0006.png"]
    assert other.exists() and (tmp_path / "p3b_step0005.png").exists()


def test_part3_grid(tiny_images, tmp_path):
    content, style = tiny_images
    out = tmp_path / "grid.png"
    assert cli("--part", 3, "--grid", "--content", content, content, "--style", style, style,
               "--size", 32, "--steps", 3, "--out", out) == 0
    sheet = Image.open(out)
    assert sheet.size == (3 * 256 + 4 * 6,) * 2
    assert len(list(tmp_path.glob("grid_*.json"))) == 1  # same names twice: one file per pair
    # the sheet's own sidecar, in place of one an earlier run left at this --out
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["mode"] == "grid" and meta["cells"] == [[str(tmp_path / f"grid_{content.stem}_{style.stem}.png")] * 2] * 2
    other = tmp_path / "other.png"   # a second grid in the folder keeps its own cells
    assert cli("--part", 3, "--grid", "--content", content, content, "--style", style, style,
               "--size", 32, "--steps", 3, "--out", other) == 0
    assert len(list(tmp_path.glob("grid_*.json"))) == 1 and len(list(tmp_path.glob("other_*.json"))) == 1


def test_inspect_prints_every_layer(tiny_images, capsys):
    content, _ = tiny_images
    assert cli("--inspect", "--content", content, "--size", 64) == 0
    text = capsys.readouterr().out
    assert "conv1_1    (1, 64, 48, 64)" in text and "pool5      (1, 512, 1, 2)" in text


@pytest.mark.parametrize("args, message", [
    (["--content", "missing.png"], "no such file"),
    (["--content-layer", "conv9_1"], "unknown layer"),
    (["--style-weight", "abc"], "not a number"),
    (["--steps", "0"], "at least 1"),
    (["--size", "-5"], "at least 1"),
    (["--size", "8"], "8x6 at --size 8: too small, layer relu5_1 needs at least 16 px"),
    (["--grid", "--part", "1"], "--grid goes with --part 3"),
    (["--style-blend", "1,1"], "2 weights for 1 style"),
    (["--style-layers", "relu1_1,relu5_1:x"], "layer weight must be a non-negative number"),
])
def test_bad_input_exits_2_with_one_line(args, message, tmp_path, capsys):
    out = tmp_path / "x.png"
    assert cli("--part", 3, "--steps", 2, "--out", out, *args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and message in err, err
    assert not out.exists() and not out.with_suffix(".json").exists()


def test_output_equal_to_input_is_refused(tiny_images, capsys):
    content, style = tiny_images
    before = content.read_bytes()
    assert cli("--content", content, "--style", style, "--out", content, "--steps", 2) == 2
    assert "overwrite the input" in capsys.readouterr().err
    assert content.read_bytes() == before


def test_subprocess_exit_code_and_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "run.py"), "--part", "1", "--content",
                           str(tmp_path / "nope.jpg")], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: no such file: {tmp_path / 'nope.jpg'}"]




def test_style_layer_weights_reach_the_job(tiny_images, tmp_path):
    content, style = tiny_images
    part3 = run.settle(run.build_parser().parse_args(["--part", "3"])).settings
    assert part3.style_layers[-1] == "relu5_1" and part3.style_layer_weights == {"relu5_1": 0.1}
    part2 = run.settle(run.build_parser().parse_args(["--part", "2"])).settings
    assert part2.style_layer_weights == {}
    out = tmp_path / "w.png"
    assert cli("--content", content, "--style", style, "--size", 32, "--steps", 2, "--out", out,
               "--style-layers", "relu1_1,conv_3:0.5") == 0
    assert json.loads(out.with_suffix(".json").read_text())["settings"]["style_layer_weights"] == {"conv2_1": 0.5}
