"""The one-pass commands end to end (adain with each method, train-adain, train-wct,
build-styles), through run.py's flags and the old `python -m adain` command line too: outputs,
sidecars, exit codes, one-line errors, refusals before anything loads."""
import importlib
import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT, structured, write_png
from nets_helpers import one_error_line, photo_folder, stripes, tiny_decoder
from stylekit.base.errors import InputError
from stylekit.base.files import save_torch
from stylekit.cli import main as toolkit
from stylekit.nets.adain import infer, portable, train as adain_train
from stylekit.nets.training import CHECKPOINT_FORMAT

adain_alias = importlib.import_module("adain.__main__")
photos_alias = importlib.import_module("training_data.__main__")


@pytest.fixture(scope="module")
def decoder():
    return tiny_decoder()


def test_training_cli_errors_exit_2_with_one_line(tmp_path, capsys):
    """The old `python -m adain --train ...` command line, now `train-adain`."""
    broken = tmp_path / "dec.ckpt"
    broken.write_bytes(b"garbage")
    save_torch({"format": CHECKPOINT_FORMAT, "step": 5, "settings": {"width": 0.25}}, tmp_path / "wide.ckpt")
    assert adain_alias.main(["--train", "--resume", "--out", str(tmp_path / "dec.pt")]) == 2
    assert adain_alias.main(["--train", "--out", str(tmp_path / "dec.txt")]) == 2
    assert adain_alias.main(["--train", "--size", "8", "--out", str(tmp_path / "x.pt")]) == 2
    assert adain_alias.main(["--train", "--resume", "--width", "0.5", "--out", str(tmp_path / "wide.pt")]) == 2
    assert adain_alias.main(["--train", "--identity-weight", "-1", "--out", str(tmp_path / "x.pt")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 5 and all(line.startswith("error: ") for line in errors)
    assert "checkpoint" in errors[0] and ".pt" in errors[1] and "--size" in errors[2] and "width 0.25" in errors[3]
    assert "--identity-weight" in errors[4]


def test_old_adain_command_lines_map_onto_the_commands(capsys):
    assert adain_alias.toolkit_argv(["--train", "--steps", "9", "--resume"]) == ["train-adain", "--steps", "9",
                                                                                  "--resume"]
    assert adain_alias.toolkit_argv(["--out", "s", "--build-styles"]) == ["build-styles", "--out", "s"]
    assert adain_alias.main([]) == 2 and "--train or --build-styles" in one_error_line(capsys.readouterr().err)
    assert adain_alias.main(["--train", "--build-styles"]) == 2
    assert "--build-styles" in one_error_line(capsys.readouterr().err)
    assert photos_alias.main(["--bogus"]) == 2 and "--bogus" in one_error_line(capsys.readouterr().err)


def adain_command(*argv, method="adain"):
    """The parsed `adain` command, to run in this process: bad input raises InputError."""
    args = toolkit.build_parser().parse_args(["adain", "--method", method, "--size", "48", "--precision", "fp32",
                                              *map(str, argv)])
    return args.run(args)


def test_adain_writes_the_image_and_its_sidecar(tiny_images, tmp_path, decoder, capsys):
    content, style = tiny_images
    model = adain_train.export(decoder, tmp_path / "dec.pt", {"steps": 3, "style_files": ["a.jpg", "b.jpg"]})
    mask = write_png(tmp_path / "mask.png", np.repeat(np.repeat(np.eye(2, dtype=np.uint8) * 255, 24, 0), 32, 1))
    out = tmp_path / "out" / "result.png"
    code = adain_command("--decoder", model, "--content", content, "--style", style, style, "--mask", mask,
                         "--out", out)
    assert code == 0 and out.exists() and str(out) in capsys.readouterr().out
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["mode"] == "adain" and meta["size"] == [36, 48] and meta["seconds"] > 0
    assert meta["method"] == "adain" and meta["decoders"] == [str(model)]
    assert meta["training"][0]["style_count"] == 2 and "style_files" not in meta["training"][0]
    assert meta["alpha"] == 1.0 and meta["style_scale"] == 0.5
    # The style is resized from its file to --size x --style-scale (default 0.5) on its longest side.
    assert max(meta["style_size"]) == 24
    full = tmp_path / "full.png"
    adain_command("--decoder", model, "--content", content, "--style", style, "--style-scale", "1.0", "--out", full)
    assert max(json.loads(full.with_suffix(".json").read_text())["style_size"]) == 48
    with pytest.raises(InputError, match="not found"):
        adain_command("--decoder", tmp_path / "none.pt", "--content", content, "--style", style, "--out", out)
    with pytest.raises(InputError, match="content.png is given twice"):
        adain_command("--decoder", model, "--content", content, content, "--style", style)


def test_adain_stylises_a_folder_with_the_paintings_statistics_computed_once(tmp_path, monkeypatch, capsys):
    """Several photos or a folder, as `fast` takes them: a PNG per photo in the --out folder, the
    painting's statistics taken for the first photo and kept for the others; a photo that is
    refused is named and the others are still written (exit 2)."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for name, (h, w) in {"a": (36, 48), "b": (48, 40)}.items():
        write_png(photos / f"{name}.png", np.asarray(structured(h, w)[0].permute(1, 2, 0) * 255, dtype=np.uint8))
    write_png(photos / "tiny.png", np.zeros((4, 4, 3), np.uint8))   # below relu4_1's 8 px
    calls = []
    original = portable.PortableWCT.statistics
    monkeypatch.setattr(portable.PortableWCT, "statistics", staticmethod(lambda f: calls.append(f.shape) or original(f)))
    out = tmp_path / "styled"
    code = toolkit.main(["adain", "--content", str(photos), "--style", str(ROOT / "images/style/great_wave.jpg"),
                         "--size", "48", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 2 and "tiny.png" in captured.err and "at least" in captured.err
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "a.png", "b.json", "b.png"]
    assert len(calls) == 4   # one painting, four levels, for both photos
    assert json.loads((out / "b.json").read_text())["runtime"] == "onnxruntime"
    assert Image.open(out / "b.png").size == (40, 48)
    with pytest.raises(InputError, match="--out is a folder, not 'x.png'"):
        adain_command("--content", photos / "a.png", photos / "b.png", "--style", photos / "a.png",
                      "--out", tmp_path / "x.png", method="wct")
    dotted = tmp_path / "results.v2"   # a folder's name with a dot, new or there already
    for _ in range(2):
        assert toolkit.main(["adain", "--content", str(photos / "a.png"), str(photos / "b.png"), "--style",
                             str(ROOT / "images/style/great_wave.jpg"), "--size", "48", "--out", str(dotted)]) == 0
        assert sorted(p.name for p in dotted.iterdir()) == ["a.json", "a.png", "b.json", "b.png"]
        for p in dotted.iterdir():
            p.unlink()


@pytest.mark.parametrize("photos, kept", [(["a"], True), (["a", "b"], False)])
def test_a_batch_keeps_freed_buffers_only_if_every_picture_is_small(tmp_path, monkeypatch, photos, kept):
    """Once kept, freed buffers stay kept for the process: one large picture in the batch is
    enough to leave glibc's defaults (the memory check's estimate held only without them)."""
    from stylekit.cli import adain as adain_cli
    for name, (h, w) in {"a": (36, 48), "b": (48, 40)}.items():   # at --size 48: 1728 and 1920 px
        write_png(tmp_path / f"{name}.png", np.asarray(structured(h, w)[0].permute(1, 2, 0) * 255, dtype=np.uint8))
    monkeypatch.setattr(adain_cli, "KEEP_UP_TO_PIXELS", 1800)
    calls = []
    monkeypatch.setattr(adain_cli, "keep_freed_buffers", lambda: calls.append(True))
    assert toolkit.main(["adain", "--content", *(str(tmp_path / f"{n}.png") for n in photos), "--style",
                         str(ROOT / "images/style/great_wave.jpg"), "--size", "48", "--out",
                         str(tmp_path / ("out" if len(photos) > 1 else "out.png"))]) == 0
    assert calls == ([True] if kept else [])


def meta_alpha(method: str) -> float:
    from stylekit.settings import OnePassSettings
    return OnePassSettings.preset(method).alpha


def test_adain_command_runs_wct_with_a_decoder_per_level(tiny_images, tmp_path, capsys):
    from stylekit.nets.adain.model import Decoder
    content, style = tiny_images
    torch.manual_seed(0)
    files = [adain_train.export(Decoder(0.125, level), tmp_path / f"w{level}.pt", {"kind": "wct", "steps": 1})
             for level in (1, 2, 3, 4)]
    out = tmp_path / "wct.png"
    assert adain_command("--decoder", *files, "--content", content, "--style", style, "--out", out,
                         method="wct") == 0
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["method"] == "wct" and len(meta["training"]) == 4 and meta["size"] == [36, 48]
    # WCT's own defaults: the style at the output's size, a lower alpha than AdaIN's
    assert max(meta["style_size"]) == 48 and meta["alpha"] == meta_alpha("wct") < meta_alpha("adain") == 1
    assert "wct" in capsys.readouterr().out
    # a decoder of the other method: named, with the method that runs it
    with pytest.raises(InputError, match=f"{files[0]} is a WCT decoder: give --method wct, not adain"):
        adain_command("--decoder", files[0], "--content", content, "--style", style, "--out", out)
    adain_file = adain_train.export(Decoder(0.125, 4), tmp_path / "a4.pt", {"steps": 1})   # no kind: AdaIN's
    with pytest.raises(InputError, match="a4.pt is an AdaIN decoder: give --method adain, not wct-lite"):
        adain_command("--decoder", adain_file, "--content", content, "--style", style, "--out", out, method="wct-lite")
    shallow = adain_train.export(Decoder(0.125, 1), tmp_path / "a1.pt", {"kind": "adain", "steps": 1})
    with pytest.raises(InputError, match="one decoder of level 4"):
        adain_command("--decoder", shallow, "--content", content, "--style", style, "--out", out)
    with pytest.raises(InputError, match="two WCT decoders of level 1"):
        adain_command("--decoder", files[0], files[0], "--content", content, "--style", style, "--out", out,
                      method="wct")


def test_run_py_adain_end_to_end(tiny_images, tmp_path, decoder):
    """`python run.py --adain DECODER --content C --style S --alpha A` in a real process: exit 0 and
    the PNG; a file that is not a decoder: exit 2 with one error line and nothing written."""
    content, style = tiny_images
    model = adain_train.export(decoder, tmp_path / "dec.pt", {"steps": 3})
    out = tmp_path / "a.png"
    cmd = [sys.executable, "run.py", "--adain", str(model), "--content", str(content), "--style", str(style),
           "--alpha", "0.5", "--size", "40", "--out", str(out)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(out.with_suffix(".json").read_text())["alpha"] == 0.5
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a decoder")
    out.unlink()
    done = subprocess.run(cmd[:3] + [str(bad)] + cmd[4:], cwd=ROOT, capture_output=True, text=True)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: ")
    assert not out.exists()


def test_train_adain_end_to_end(tmp_path, capsys):
    """A tiny decoder trained by the command: the decoder, its loss plot and JSON settings."""
    photos = photo_folder(tmp_path)
    styles = tmp_path / "styles"
    styles.mkdir()
    for i, rgb in enumerate([(220, 40, 40), (30, 60, 200)]):
        write_png(styles / f"s{i}.png", stripes(48, 48, rgb, seed=i))
    out = tmp_path / "dec.pt"
    assert toolkit.main(["train-adain", "--styles", str(styles), "--data", str(photos), "--out", str(out),
                         "--steps", "2", "--batch", "1", "--size", "32", "--width", "0.125", "--precision",
                         "fp32"]) == 0
    assert "2 steps" in capsys.readouterr().out
    trained = infer.load_decoder(out)[1]
    assert trained["steps"] == 2 and trained["identity_weight"] == 50.0 and trained["size"] == 32
    assert json.loads(out.with_suffix(".json").read_text())["status"] == "done"
    assert (tmp_path / "dec_losses.png").exists()
    assert portable.load_adain(out) is not None   # its ONNX copy, beside it, made from it
    bundled = ROOT / "images" / "style"
    assert toolkit.main(["train-adain", "--styles", str(bundled), "--data", str(photos),
                         "--out", str(tmp_path / "dec2.pt")]) == 2
    assert "unseen test styles" in one_error_line(capsys.readouterr().err)


def test_train_wct_refuses_bad_starts_with_one_line(tmp_path, capsys):
    from stylekit.cli.main import main as toolkit_main
    from stylekit.nets.adain.model import Decoder
    level1 = adain_train.export(Decoder(0.125, 1), tmp_path / "w1.pt", {"kind": "wct"})
    (tmp_path / "junk.pt").write_bytes(b"not torch")
    write_png(tmp_path / "photo.png", np.full((40, 40, 3), 128, np.uint8))
    cases = [(["--level", "2", "--init", tmp_path / "none.pt"], "--init decoder not found"),
             (["--level", "2", "--init", tmp_path / "junk.pt"], "not a readable --init decoder"),
             (["--level", "2", "--width", "0.125", "--init", level1], "--init: .* level 1, width 0.125 .*; this run "
                                                                      "trains level 2"),
             (["--level", "1", "--resume"], "no checkpoint"),
             (["--level", "1", "--size", "36"], "multiple of 8")]
    for argv, words in cases:
        out = tmp_path / "out" / "w.pt"
        assert toolkit_main(["train-wct", "--data", str(tmp_path), "--out", str(out), *map(str, argv)]) == 2
        assert re.search(words, one_error_line(capsys.readouterr().err)), words
        assert not (tmp_path / "out").exists()   # nothing made for a refused run
    assert toolkit_main(["train-wct", "--init", str(level1), "--out", str(level1), "--level", "1", "--width",
                         "0.125", "--data", str(tmp_path)]) == 2
    assert "overwrite the input" in one_error_line(capsys.readouterr().err)
    # another width starts from it (`train.reshape_into`); resumed, the widths must stay the run's
    mixed, photos = tmp_path / "mixed" / "m.pt", tmp_path / "photos"
    photos.mkdir()
    write_png(photos / "photo.png", np.full((40, 40, 3), 128, np.uint8))
    level2 = adain_train.export(Decoder(0.125, 2), tmp_path / "w2.pt", {"kind": "wct"})
    common = ["--level", "2", "--width", "0.25", "--data", str(photos), "--size", "32", "--batch", "1",
              "--precision", "fp32", "--out", str(mixed)]
    assert toolkit_main(["train-wct", *common, "--full-size-width", "0.125", "--steps", "2", "--init", str(level2)]) == 0
    decoder, settings = infer.load_decoder(mixed)
    assert decoder.arch["full_size_width"] == 0.125 and settings["init"] == str(level2)
    capsys.readouterr()
    assert toolkit_main(["train-wct", *common, "--steps", "3", "--resume"]) == 2
    assert one_error_line(capsys.readouterr().err).endswith("has full-size-width 0.125, not 0.25")
    refused = [(["--full-size-width", "0.125", "--steps", "3", "--resume", "--init", str(level2)], "give one of them"),
               (["--steps", "3", "--feature-loss", "vgg19"], "is for the decoder of a narrow --encoder")]
    for argv, words in refused:
        assert toolkit_main(["train-wct", *common, *argv]) == 2
        assert words in one_error_line(capsys.readouterr().err)
    # started from a decoder with no --width, the run keeps the decoder's widths
    again = tmp_path / "again" / "m.pt"
    assert toolkit_main(["train-wct", *common[:2], *common[4:-1], str(again), "--steps", "1", "--init", str(mixed)]) == 0
    assert infer.load_decoder(again)[0].arch == decoder.arch


def test_wct_is_refused_by_its_own_memory_model(tiny_images, tmp_path, monkeypatch):
    """WCT peaks higher than AdaIN (fp32, 2048 px: 5.7 GB against 3.6): a run AdaIN's estimate
    would let through is refused before anything loads."""
    from stylekit.base import limits
    content, style = tiny_images
    pixels = 2048 * 1536
    have = (limits.estimate("adain", pixels) + limits.estimate("wct", pixels)) / 2
    monkeypatch.setattr(limits, "available_bytes", lambda device="cpu": have)
    out = tmp_path / "big" / "w.png"
    with pytest.raises(InputError, match=r"WCT at 2048x1536 px \(style .*\) needs about 5\.7 GB"):
        adain_command("--content", content, "--style", style, "--size", "2048", "--out", out, method="wct")
    assert not out.parent.exists()


@pytest.mark.parametrize("method, style", [("wct", "40000x30000"), ("adain", "20000x15000")])
def test_a_painting_far_larger_than_the_picture_is_refused_up_front(tmp_path, capsys, method, style):
    """A 5000x8 photo at --size 20000 is 20000x32 px, and WCT brings its painting to 20000 px:
    the check took 10 bytes a pixel of it (4.9 GB) and let the run through to a bad_alloc. At
    --size 40000 the painting's pass needs some 150-960 GB: refused on any machine."""
    wide = write_png(tmp_path / "wide.png", np.full((8, 5000, 3), 128, np.uint8))
    painting = write_png(tmp_path / "painting.png", np.full((300, 400, 3), 90, np.uint8))
    out = tmp_path / "o.png"
    assert toolkit.main(["adain", "--method", method, "--content", str(wide), "--style", str(painting), "--size", "40000",
                         "--out", str(out)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"40000x64 px (style {style} px) needs about" in line and "GB of memory" in line, line
    assert not out.exists()


@pytest.mark.parametrize("precision", ["fp32", "bf16"])   # the ONNX copies, and torch
def test_any_painting_refuses_a_photo_too_small_for_relu4_1(tmp_path, capsys, precision):
    """A 1x1 photo was brought up to 512 px of one colour and stylised, where `fast` and the
    optimization refuse it."""
    one = write_png(tmp_path / "one.png", np.full((1, 1, 3), 200, np.uint8))
    out = tmp_path / "o.png"
    assert toolkit.main(["adain", "--content", str(one), "--style", "images/style/starry_night.jpg", "--size", "64",
                         "--precision", precision, "--out", str(out)]) == 2
    assert one_error_line(capsys.readouterr().err) == (f"error: {one} is 1x1 px, too small: layer relu4_1 needs "
                                                       f"at least 8 px on each side")
    assert not out.exists()


def test_any_painting_refuses_a_photo_too_thin_at_its_size(tmp_path, capsys):
    """An 8x2000 photo at --size 100 was stylised as a 1x100 picture: refused, with no folder made."""
    thin = write_png(tmp_path / "thin.png", np.full((2000, 8, 3), 200, np.uint8))
    out = tmp_path / "new" / "o.png"
    assert toolkit.main(["adain", "--content", str(thin), "--style", "images/style/starry_night.jpg", "--size", "100",
                         "--out", str(out)]) == 2
    assert one_error_line(capsys.readouterr().err) == (f"error: {thin} is 8x2000 px, 1x100 at --size 100: too small, "
                                                       f"layer relu4_1 needs at least 8 px on each side; raise --size")
    assert not out.parent.exists()
