"""The trained style and texture networks' commands end to end (fast, texture, train-fast,
train-texture, photos), through run.py's flags too: outputs, sidecars, exit codes, one-line
errors. The one-pass commands (adain, train-adain, train-wct, build-styles) and the old
`python -m adain` and `python -m training_data` command lines are in test_onepass_cli.py."""
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import run
from conftest import ROOT, write_png
from nets_helpers import one_error_line, photo_folder, stripes
from stylekit.base.tensors import fit_longest, resize_tensor
from stylekit.cli import main as toolkit
from stylekit.cli import training as training_cli
from stylekit.nets import johnson as ff
from stylekit.nets.training import CHECKPOINT_FORMAT
from utils import load_image

TINY_NET = ["--batch", "1", "--train-size", "32", "--width", "4", "--res-blocks", "1"]


def test_texture_network_seeds_differ(cnn, tiny_images, tmp_path):
    _, style_path = tiny_images
    out = tmp_path / "tex.pt"
    code = run.main(["--train-texture", "--style", str(style_path), "--out", str(out), "--steps", "4",
                     "--batch", "1", "--train-size", "32", "--width", "4", "--res-blocks", "1"])
    assert code == 0 and out.exists() and json.loads(out.with_suffix(".json").read_text())["kind"] == "texture"
    imgs = []
    for seed in (1, 2):
        png = tmp_path / f"t{seed}.png"
        assert run.main(["--fast-texture", str(out), "--size", "40", "--seed", str(seed), "--out", str(png)]) == 0
        imgs.append(np.asarray(Image.open(png), np.float32))
        assert imgs[-1].shape == (40, 40, 3)
    assert np.abs(imgs[0] - imgs[1]).mean() > 1


def test_cli_train_then_stylise_a_file_and_a_folder(tiny_images, tmp_path, capsys):
    content, style = tiny_images
    model = tmp_path / "models" / "tiny.pt"
    photos = photo_folder(tmp_path)
    code = run.main(["--train-fast", "--style", str(style), "--data", str(photos), "--out", str(model),
                     "--steps", "3", "--batch", "2", "--train-size", "32", "--width", "4", "--res-blocks", "1"])
    assert code == 0
    meta = json.loads(model.with_suffix(".json").read_text())
    assert meta["trained_steps"] == 3 and meta["train_size"] == 32 and meta["data"] == str(photos)
    assert (tmp_path / "models" / "tiny_losses.png").exists()
    out = tmp_path / "one.png"
    assert run.main(["--fast", str(model), "--content", str(content), "--out", str(out)]) == 0
    assert Image.open(out).size == Image.open(content).size
    written = json.loads(out.with_suffix(".json").read_text())
    assert written["mode"] == "feedforward" and written["runtime"] == "onnxruntime"   # training wrote the copy
    assert model.with_suffix(".onnx").is_file()
    folder_out = tmp_path / "many"
    assert run.main(["--fast", str(model), "--content", str(photos), "--out", str(folder_out), "--size", "50"]) == 0
    written = sorted(p.name for p in folder_out.glob("*.png"))
    assert written == ["p0.png", "p1.png", "p2.png", "p3.png"]
    assert max(Image.open(folder_out / "p0.png").size) == 50


def test_train_fast_starts_from_an_init_network_and_refuses_bad_ones(tiny_images, tmp_path, capsys):
    _, style = tiny_images
    base = ["train-fast", "--style", str(style), "--data", str(photo_folder(tmp_path)), *TINY_NET]
    first = tmp_path / "first.pt"
    assert toolkit.main([*base, "--steps", "2", "--out", str(first)]) == 0
    capsys.readouterr()
    wide = ff.export(ff.TransformerNet(8, 1), tmp_path / "wide.pt", {"kind": "style"})
    texture = ff.export(ff.TransformerNet(4, 1, in_channels=ff.NOISE_CHANNELS), tmp_path / "tex.pt", {"kind": "texture"})
    deeper = ff.export(ff.TransformerNet(2, 2), tmp_path / "deeper.pt", {"kind": "style"})
    cases = [(["--init", deeper], "is a style network with width 2, res_blocks 2, .*; this run trains a style network "
                                  "with width 4, res_blocks 1"),
             (["--init", wide], "--init: .* is a style network with width 8, .*; this run trains a style network "
                                "with width 4"),
             (["--init", texture], "is a texture network"),
             (["--init", tmp_path / "none.pt"], "--init network not found"),
             (["--init", first, "--resume"], "give one of them")]
    for argv, words in cases:
        out = tmp_path / "out" / "m.pt"
        assert toolkit.main([*base, "--steps", "1", "--out", str(out), *map(str, argv)]) == 2
        assert re.search(words, one_error_line(capsys.readouterr().err)), words
        assert not (tmp_path / "out").exists()   # nothing made for a refused run
    assert toolkit.main([*base, "--steps", "1", "--init", str(first), "--out", str(first)]) == 2
    assert "overwrite the input" in one_error_line(capsys.readouterr().err)
    # One step at a negligible rate: the new network is the --init one, not a fresh one.
    second = tmp_path / "second.pt"
    assert toolkit.main([*base, "--steps", "1", "--lr", "1e-9", "--init", str(first), "--out", str(second)]) == 0
    start, made = ff.load_model(first)[0].state_dict(), ff.load_model(second)[0].state_dict()
    assert all(torch.allclose(start[k], made[k], atol=1e-3) for k in start)
    assert json.loads(second.with_suffix(".json").read_text())["init"] == str(first)
    # Resumed, the run still names the network it started from, and keeps each sitting.
    assert toolkit.main([*base, "--steps", "2", "--lr", "1e-9", "--resume", "--out", str(second)]) == 0
    resumed = json.loads(second.with_suffix(".json").read_text())
    assert resumed["init"] == str(first) and [s["steps"] for s in resumed["sittings"]] == [[0, 1], [1, 2]]
    # A narrower network is widened: the wider one paints what it painted.
    wider = tmp_path / "wider.pt"
    assert toolkit.main([*base, "--steps", "1", "--lr", "1e-9", "--width", "6", "--init", str(first),
                         "--out", str(wider)]) == 0
    photo = torch.rand(1, 3, 40, 52)
    grown = ff.load_model(wider)[0]
    assert grown.arch["width"] == 6
    assert torch.allclose(ff.stylize(ff.load_model(first)[0], photo), ff.stylize(grown, photo), atol=2e-3)


@pytest.mark.parametrize("content", [b"", b"not a model at all", "state_dict", "texture"])
def test_bad_model_files_exit_2(content, tiny_images, tmp_path):
    photo, style = tiny_images
    path = tmp_path / "bad.pt"
    if content == "state_dict":
        torch.save(ff.TransformerNet(4, 1).state_dict(), path)  # weights without the project's wrapper
    elif content == "texture":
        ff.export(ff.TransformerNet(4, 1, in_channels=ff.NOISE_CHANNELS), path, {"kind": "texture"})
    else:
        path.write_bytes(content)
    done = subprocess.run([sys.executable, "run.py", "--fast", str(path), "--content", str(photo),
                           "--out", str(tmp_path / "o.png")], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in done.stderr
    assert not (tmp_path / "o.png").exists()


def test_missing_training_data_exits_2(tiny_images, tmp_path, capsys):
    _, style = tiny_images
    code = run.main(["--train-fast", "--style", str(style), "--data", str(tmp_path / "nowhere"),
                     "--out", str(tmp_path / "m.pt"), "--steps", "2"])
    assert code == 2 and "training photos not found" in capsys.readouterr().err


def test_interrupted_training_exits_130_and_resumes(tiny_images, tmp_path, capsys, monkeypatch):
    """Ctrl-C during training: the model so far is exported, the message says how to go on,
    exit 130; --resume then finishes the run from the checkpoint."""
    _, style = tiny_images
    out = tmp_path / "tex.pt"

    class StopAtStep2(training_cli.Progress):
        def update(self, n=1, postfix=None):
            if self.initial + 1 == 2:
                raise KeyboardInterrupt
            self.initial += n

    monkeypatch.setattr(training_cli, "Progress", StopAtStep2)
    argv = ["train-texture", "--style", str(style), "--out", str(out), "--steps", "4", *TINY_NET]
    assert toolkit.main(argv) == 130
    captured = capsys.readouterr()
    assert f"interrupted: the model so far is in {out}; continue with --resume" in captured.err
    assert json.loads(out.with_suffix(".json").read_text())["status"] == "interrupted"
    assert ff.load_model(out)[1]["trained_steps"] == 2
    monkeypatch.undo()
    # without --resume it would start over and lose the steps done (it did, silently)
    assert toolkit.main(argv) == 2
    assert "holds an unfinished run (2 of 4 steps): continue it with --resume" in capsys.readouterr().err
    assert toolkit.main([*argv, "--resume"]) == 0
    assert ff.load_model(out)[1]["trained_steps"] == 4 and "4 steps" in capsys.readouterr().out
    # the same command again, at the same step size: one sitting, as the recipe would write it
    assert [s["steps"] for s in ff.load_model(out)[1]["sittings"]] == [[0, 4]]
    files = {f: f.read_bytes() for f in (out, out.with_suffix(".json"))}
    assert toolkit.main([*argv, "--resume"]) == 0  # nothing left to do
    assert "no steps run (4 already done)" in capsys.readouterr().out
    fewer = [*argv[:argv.index("--steps")], "--steps", "3", *argv[argv.index("--steps") + 2:], "--resume"]
    assert toolkit.main(fewer) == 0 and "no steps run (4 already done)" in capsys.readouterr().out
    # the model was rewritten with the new --steps while its sidecar kept the old ones
    assert {f: f.read_bytes() for f in files} == files
    # A sitting stopped while writing its finished files left the settings and the plot missing:
    # a resumed run with no step left writes them (it wrote nothing, exit 0).
    plot = out.with_name(out.stem + "_losses.png")
    out.with_suffix(".json").unlink()
    plot.unlink()
    assert toolkit.main([*argv, "--resume"]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["trained_steps"] == 4 and plot.exists()


def test_a_nan_loss_exits_1_with_one_line(tiny_images, tmp_path, capsys, monkeypatch):
    _, style = tiny_images
    monkeypatch.setattr(ff.PerceptualLoss, "forward", lambda self, output, inputs=None: {"style": output.sum() * np.nan})
    out = tmp_path / "nan.pt"
    assert toolkit.main(["train-texture", "--style", str(style), "--out", str(out), "--steps", "2", *TINY_NET]) == 1
    assert "NaN at step 1" in one_error_line(capsys.readouterr().err)
    assert not out.exists()


def test_training_flags_fill_the_preset(monkeypatch, tiny_images, tmp_path):
    """Flags left out take the preset's values; given ones replace them."""
    seen = {}

    def fake_train(cnn, style, dataset, config, **kwargs):
        seen["config"] = config
        raise KeyboardInterrupt

    monkeypatch.setattr(ff, "train_network", fake_train)
    _, style = tiny_images
    toolkit.main(["train-texture", "--style", str(style), "--out", str(tmp_path / "t.pt"), "--lr", "0.01",
                  "--save-every", "7", "--device", "cpu"])
    config = seen["config"]
    assert (config.kind, config.lr, config.save_every, config.steps, config.content_weight) == \
        ("texture", 0.01, 7, 1200, 0.0)
    toolkit.main(["train-fast", "--style", str(style), "--out", str(tmp_path / "f.pt"), "--data",
                  str(photo_folder(tmp_path)), "--content-layer", "relu_5", "--device", "cpu"])
    assert (seen["config"].content_layer, seen["config"].steps) == ("relu3_1", 1200)


def test_train_fast_aims_at_the_painting_as_the_optimization_resizes_it(monkeypatch, tmp_path):
    """The painting is shrunk from the file with antialiased bilinear filtering, as the engine
    and metrics.py do, not with Pillow's LANCZOS (which puts it 0.18-0.30 away in style distance)."""
    seen = {}

    def fake_train(cnn, style, dataset, config, **kwargs):
        seen["style"] = style
        raise KeyboardInterrupt

    monkeypatch.setattr(ff, "train_network", fake_train)
    painting = write_png(tmp_path / "painting.png", stripes(150, 200, period=5))
    toolkit.main(["train-fast", "--style", str(painting), "--data", str(photo_folder(tmp_path)), "--train-size", "64",
                  "--out", str(tmp_path / "f.pt"), "--device", "cpu"])
    full = load_image(painting)
    assert torch.equal(seen["style"], resize_tensor(full, fit_longest(full, 128)))
    assert not torch.allclose(seen["style"], load_image(painting, 128), atol=1e-2)


def test_each_command_lists_only_its_own_flags(capsys):
    helps = {}
    for command in ("fast", "texture", "train-fast", "train-texture", "adain", "train-adain", "build-styles",
                    "photos"):
        with pytest.raises(SystemExit):
            toolkit.main([command, "--help"])
        helps[command] = capsys.readouterr().out
    assert "--identity-weight" in helps["train-adain"] and "--identity-weight" not in helps["train-fast"]
    assert "--res-blocks" in helps["train-texture"] and "--res-blocks" not in helps["train-adain"]
    assert "--content-weight" in helps["train-fast"] and "--content-weight" not in helps["train-texture"]
    assert "--content-layer" in helps["train-fast"] and "--content-layer" not in helps["train-texture"]
    assert "--cache" in helps["photos"] and "--cache" in helps["build-styles"] and "--steps" not in helps["photos"]
    assert "--alpha" in helps["adain"] and "--alpha" not in helps["fast"]
    # Help texts quote the presets: the decoder trains 12000 steps, the networks 1200.
    assert "(default 12000)" in helps["train-adain"] and "(default 1200)" in helps["train-fast"]


def test_a_wider_style_network_is_refused_by_its_width(tiny_images, tmp_path, monkeypatch, capsys):
    """The memory model was measured with 16-channel networks; a 24-channel one needs more than
    twice as much per pixel, so where the machine holds the first but not the second, only it runs."""
    from stylekit.base import limits
    content, _ = tiny_images
    pixels = 300 * 225
    have = limits.estimate("fast", pixels) + 0.25 * limits.MEMORY["fast"].per_pixel * pixels
    monkeypatch.setattr(limits, "available_bytes", lambda device="cpu": have)
    for width, code in ((16, 0), (24, 2)):
        model = ff.export(ff.TransformerNet(width, 1), tmp_path / f"w{width}.pt", {"kind": "style"})
        out = tmp_path / f"out{width}" / "o.png"
        assert toolkit.main(["fast", str(model), "--content", str(content), "--size", "300", "--out", str(out)]) == code
        assert out.exists() == (code == 0)
    assert "the style network at 300x225 px" in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "out24").exists()


def test_photos_refuses_a_crop_too_small_to_train_on_and_keeps_the_set(tmp_path, capsys):
    """A set for 1 px crops would replace the user's photos with specks that no trainer takes."""
    photos = photo_folder(tmp_path)
    (photos / "MANIFEST.json").write_text(json.dumps([{"file": p.name} for p in photos.iterdir()]))
    before = {p.name: p.read_bytes() for p in photos.iterdir()}
    for crop in ("1", "31"):
        assert toolkit.main(["photos", "--crop-size", crop, "--out", str(photos),
                             "--cache", str(tmp_path / "cache")]) == 2
        assert one_error_line(capsys.readouterr().err) == (f"error: --crop-size must be at least 32 px "
                                                           f"(the smallest training crop), not {crop}")
    assert {p.name: p.read_bytes() for p in photos.iterdir()} == before
    assert not (tmp_path / "cache").exists()


class _Planted:
    """A pickle that, once unpickled, creates the file it names: code run from a checkpoint."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


@pytest.mark.parametrize("resume", [False, True], ids=["beside --out", "--resume"])
def test_a_planted_checkpoint_runs_no_code(tiny_images, tmp_path, capsys, resume):
    """A NAME.ckpt beside --out was unpickled in full (weights_only=False), even without
    --resume: a file planted there ran its code before the run refused it."""
    _, style = tiny_images
    model, marker = tmp_path / "m.pt", tmp_path / "ran"
    torch.save({"format": CHECKPOINT_FORMAT, "x": _Planted(marker)}, tmp_path / "m.ckpt")
    code = toolkit.main(["train-fast", "--style", str(style), "--data", str(photo_folder(tmp_path)), "--out",
                         str(model), "--steps", "1", "--batch", "1", "--train-size", "32", "--width", "4",
                         "--res-blocks", "1", *(["--resume"] if resume else [])])
    assert code == 2 and not marker.exists()
    assert one_error_line(capsys.readouterr().err).startswith(f"error: cannot read checkpoint {tmp_path / 'm.ckpt'}")
    assert not model.exists()


def test_a_folder_given_as_the_model_is_said_to_be_one(tmp_path, capsys):
    """`fast DIR` said 'style network not found' of a folder that is there."""
    assert toolkit.main(["fast", str(tmp_path), "--content", "images/content/chelsea.jpg",
                         "--out", str(tmp_path / "o.png")]) == 2
    assert f"error: {tmp_path} is a folder, not a " in one_error_line(capsys.readouterr().err)


def test_stylising_a_folder_into_a_folder_inside_it_can_be_run_again(tmp_path, capsys):
    """The second run counted the first one's results as photos and refused: 'a.png and
    styled/a.png would both be written to styled/a.png'."""
    photos = photo_folder(tmp_path)
    styled = photos / "styled"
    argv = ["fast", "models/starry_night.pt", "--content", str(photos), "--size", "32", "--out", str(styled)]
    for _ in range(2):
        assert toolkit.main(argv) == 0, capsys.readouterr().err
        assert sorted(p.name for p in styled.glob("*.png")) == ["p0.png", "p1.png", "p2.png", "p3.png"]
    for p in photos.glob("p*.png"):
        p.unlink()
    assert toolkit.main(argv) == 2
    assert one_error_line(capsys.readouterr().err) == f"error: no photos in {photos} but the results in {styled}"
