"""run.py's runs: refused outputs, Ctrl-C, NaN, determinism."""
import hashlib
import json
import os
import subprocess
import sys
import warnings

import pytest
import torch

from conftest import ROOT
import run
from stylekit.base.errors import InputError


@pytest.fixture
def shared_network(cnn, monkeypatch):
    """The CLI loads VGG-19 on every call: hand it the session's copy instead."""
    monkeypatch.setattr(run, "load_vgg19", lambda weights, device: cnn)


def cli(*args):
    return run.main([str(a) for a in args])




# ---------------------------------------------------------------------------------------
# 3. Outputs
# ---------------------------------------------------------------------------------------



















@pytest.mark.parametrize("target", ["content", "style", "content via ..", "content via a symlink"])
def test_output_equal_to_an_input_refused(target, tiny_images, tmp_path, capsys, shared_network):
    content, style = tiny_images
    before = {p: p.read_bytes() for p in (content, style)}
    (tmp_path / "sub").mkdir()
    out = {"content": content, "style": style, "content via ..": tmp_path / "sub" / ".." / content.name,
           "content via a symlink": tmp_path / "link.png"}[target]
    if target.endswith("symlink"):
        out.symlink_to(content)
    assert cli("--content", content, "--style", style, "--size", 32, "--steps", 2, "--out", out) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: output ") and "would overwrite the input image" in err and "\n" not in err
    assert {p: p.read_bytes() for p in before} == before
    assert not content.with_suffix(".json").exists() and not style.with_suffix(".json").exists()


def test_output_under_a_file_refused(tiny_images, tmp_path, capsys, shared_network):
    content, style = tiny_images
    (tmp_path / "notes.txt").write_text("keep me")
    out = tmp_path / "notes.txt" / "out.png"
    assert cli("--content", content, "--style", style, "--size", 32, "--steps", 2, "--out", out) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines()[-1] == f"error: cannot write {out}: {tmp_path / 'notes.txt'} is a file, not a folder"
    assert "Traceback" not in err and (tmp_path / "notes.txt").read_text() == "keep me"


def test_output_under_a_file_refused_before_any_work(tiny_images, tmp_path, capsys, shared_network):
    content, style = tiny_images
    (tmp_path / "notes.txt").write_text("keep me")
    assert cli("--content", content, "--style", style, "--size", 32, "--steps", 2,
               "--out", tmp_path / "notes.txt" / "out.png") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot write") and "\n" not in err, err  # no progress bar first


# ---------------------------------------------------------------------------------------
# 4. Ctrl-C on a real run: tests/test_signals.py (SIGINT and SIGTERM, every kind of run)
# ---------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------
# 5. NaN from an absurd weight
# ---------------------------------------------------------------------------------------

def test_nan_loss_keeps_last_finite_image_and_names_the_weight(tiny_images, tmp_path, capsys, shared_network):
    content, style = tiny_images
    out = tmp_path / "nan.png"
    assert cli("--content", content, "--style", style, "--size", 32, "--steps", 3, "--out", out) == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    # The largest weight a float32 holds: times a loss above 1, the loss overflows at once. Nothing
    # was computed, so the earlier run's picture stays (the start image had replaced it).
    # (From the photo: the one-pass start can be near enough the painting for a loss below 1.)
    assert cli("--content", content, "--style", style, "--size", 32, "--steps", 5, "--style-weight", "3e38",
               "--init", "content", "--out", out) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: the loss became") and "at the first evaluation, so nothing was written" in err, err
    assert "Lower --style-weight (now 3e+38)" in err, err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    # A layer's weight multiplies the style weight: the advice names the larger product, and a
    # weight beyond a 32-bit float is refused like --style-weight.
    assert cli("--content", content, "--style", style, "--size", 32, "--steps", 5, "--style-layers",
               "relu1_1:3e38,relu2_1", "--init", "content", "--out", out) == 1
    assert "Lower relu1_1's weight in --style-layers (now 3e+38) or --lr" in capsys.readouterr().err
    assert cli("--content", content, "--style", style, "--size", 32, "--style-layers", "relu1_1:1e39",
               "--out", out) == 2
    assert "the weight of relu1_1 must be at most 3.4e+38" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_interrupted_before_the_first_evaluation_writes_nothing(tiny_images, tmp_path, capsys, shared_network,
                                                                monkeypatch):
    """A rerun stopped before its first evaluation put the untouched photo over the finished
    picture, its sidecar saying 0 evaluations."""
    from stylekit.optim import jobs
    from stylekit.optim.engine import Result
    content, style = tiny_images
    out = tmp_path / "o.png"
    assert cli("--content", content, "--style", style, "--size", 32, "--steps", 3, "--out", out) == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    monkeypatch.setattr(jobs, "stylize", lambda cnn, content, *a, **k: Result(content, status="interrupted"))
    assert cli("--content", content, "--style", style, "--size", 32, "--steps", 4, "--out", out) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == "interrupted before the first evaluation: nothing was written"
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before



def test_a_loss_plot_refused_leaves_no_earlier_plot_beside_the_new_picture(tiny_images, tmp_path, capsys,
                                                                         shared_network, monkeypatch):
    """The new picture and sidecar were written, then the plot was refused, and the earlier
    run's plot stayed beside them; a title in a script the font lacks printed warnings."""
    from stylekit.optim import jobs
    content, style = tiny_images
    out = tmp_path / "結果.png"
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert cli("--content", content, "--style", style, "--size", 32, "--steps", 2, "--out", out) == 0
    assert not [w for w in seen if "Glyph" in str(w.message)], [str(w.message) for w in seen]
    plot = tmp_path / "結果_losses.png"
    assert plot.exists()

    def refused(history, path, **kw):
        raise InputError(f"cannot write {path}: Permission denied")
    monkeypatch.setattr(jobs, "plot_losses", refused)
    # exit 1, not 2: files were written (exit 2 says nothing was)
    assert cli("--content", content, "--style", style, "--size", 32, "--steps", 3, "--out", out) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == \
        f"error: cannot write {plot}: Permission denied; the picture and its record are in 結果.png, 結果.json"
    assert not plot.exists() and json.loads(out.with_suffix(".json").read_text())["evals"] == 3

# ---------------------------------------------------------------------------------------
# 6. Determinism
# ---------------------------------------------------------------------------------------

def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
@pytest.mark.parametrize("init", ["content", "noise"])
def test_same_command_same_bytes(init, tiny_images, tmp_path, shared_network):
    content, style = tiny_images
    args = ["--content", content, "--style", style, "--size", 32, "--steps", 4, "--init", init,
            *(["--seed", 7] if init == "noise" else [])]   # the seed is the noise image's
    outs = [tmp_path / f"run{i}.png" for i in range(2)]
    for out in outs:
        assert cli(*args, "--out", out) == 0
    assert digest(outs[0]) == digest(outs[1])
    if init == "noise":  # a fresh process, same thread count: the same bytes again
        env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
        fresh = tmp_path / "fresh.png"
        subprocess.run([sys.executable, str(ROOT / "run.py"), *map(str, args), "--out", str(fresh)],
                       env=env, cwd=tmp_path, check=True, capture_output=True)
        assert digest(fresh) == digest(outs[0])
        assert json.loads(fresh.with_suffix(".json").read_text())["threads"] == torch.get_num_threads()
        # and another seed gives another picture
        assert cli(*args[:-1], 8, "--out", tmp_path / "other.png") == 0
        assert digest(tmp_path / "other.png") != digest(outs[0])


# ---------------------------------------------------------------------------------------
# 7. Property: the loader returns an RGB image or raises InputError, nothing else
# ---------------------------------------------------------------------------------------












