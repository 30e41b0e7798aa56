"""The toolkit's commands and the old `python -m` tools against a hostile or careless user
(issue 17): a refused command line exits 2 with exactly one `error:` line, no traceback, and
writes nothing; no run overwrites one of its inputs. One table per class of fault (the
issue's numbers); a few cases that must run (a batch with one bad photo) check that they do.
The training commands' checkpoints, locks and photos are in test_hostile_training.py."""
import os
import re
import shutil
import subprocess
import sys

import pytest
import torch
from PIL import Image

import utils
from conftest import ROOT, structured, write_png
from hostile_helpers import LONG, MODEL, TEXTURE, TINY_TRAIN, refused, texture_checkpoint
from stylekit.cli import train_adain as train_adain_cli, train_fast as train_fast_cli, video as video_cli
from stylekit.cli.main import main as toolkit


def _setup(work, what):
    """Extra files some cases need."""
    if what == "strip named like a frame":
        (work / "frames").mkdir()
        for i in range(3):
            gif_frame = structured(32, 48, seed=i)
            write_png(work / "frames" / f"f{i}.png", gif_frame)
        write_png(work / "frames" / "v_strip.png", structured(32, 48, seed=9))
    elif what == "two photos, one stem":
        for sub in ("a", "b"):
            (work / "dup" / sub).mkdir(parents=True)
            write_png(work / "dup" / sub / "p.png", structured(32, 32))
    elif what == "photo in the report's figures":
        (work / "site" / "results" / "figures").mkdir(parents=True)
        shutil.copy(work / "content.png", work / "site" / "results" / "figures" / "part1_ablation.png")
    elif what == "texture checkpoint":
        (work / "o").mkdir()
        texture_checkpoint(work / "o" / "m.ckpt")
    elif what == "style named like the plot":
        (work / "o").mkdir()
        shutil.copy(work / "style.png", work / "o" / "m_losses.png")
    elif what == "style folder with the plot's name":
        (work / "sty").mkdir()
        shutil.copy(work / "style.png", work / "sty" / "d_losses.png")
    elif what == "style named like the strip":
        shutil.copy(work / "style.png", work / "v_strip.png")
    elif what == "out is a link to the photo":
        (work / "link.png").symlink_to(work / "content.png")
    elif what == "sheet is a link to the clip":
        (work / "s.png").symlink_to(work / "clip.gif")
    elif what == "networks copied here":
        for model in (TEXTURE, ROOT / "models" / "adain_decoder.pt"):
            shutil.copy(model, work / model.name)
            (work / model.name).with_suffix(".json").write_text('{"status": "done"}')
    elif what == "corrupt photos only":
        (work / "bad").mkdir()
        (work / "bad" / "a.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg" * 8)
        (work / "bad" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    elif what:
        raise AssertionError(what)


F, T = ["fast", MODEL], ["texture", TEXTURE]
CASES = [  # (class, case, argv, words, setup)
    (1, "fast: a 4x4 photo", [*F, "--content", "tiny4.png", "--out", "o/x.png"], r"4x4 px, too small for the style network", ""),
    (1, "fast: --size 3", [*F, "--content", "content.png", "--size", "3", "--out", "o/x.png"], r"at least 5 px", ""),
    (1, "texture: --size 2", [*T, "--size", "2", "--out", "o/x.png"], r"too small for the texture network", ""),
    (1, "video: 10 px frames", ["video", "tinyclip.gif", "--style", "style.png", "--size", "10", "--out", "o/v.mp4"],
     r"10x10 px, too small for the video's optical flow: it needs at least 16 px", ""),
    (1, "video: 14 px high frames", ["video", "clip.gif", "--style", "style.png", "--size", "21", "--out", "o/v.mp4"],
     r"20x14 px, too small", ""),
    (2, "fast: --size 100000", [*F, "--content", "content.png", "--size", "100000", "--out", "o/x.png"],
     r"the style network at 100000x75000 px .* GB of memory", ""),
    (2, "texture: --size 100000", [*T, "--size", "100000", "--out", "o/x.png"], r"100000x100000 px texture needs about", ""),
    (2, "adain: --size 100000", ["adain", "--content", "content.png", "--style", "style.png", "--size", "100000",
                                 "--out", "o/x.png"], r"WCT at 100000x75000 px .* GB of memory", ""),
    (2, "adain: --style-scale 1000", ["adain", "--content", "content.png", "--style", "style.png", "--size", "64",
                                      "--style-scale", "1000", "--out", "o/x.png"], r"style 64000x64000 px", ""),
    (2, "video: --size 100000", ["video", "clip.gif", "--style", "style.png", "--size", "100000", "--out", "o/v.mp4"],
     r"the video at 100000x66666 px \(3 frames\)", ""),
    (2, "video-sheet: --size 100000", ["video-sheet", "o/s.png", "clip.gif", "--size", "100000"], r"GB of memory", ""),
    (2, "train-fast: --train-size 100000", ["train-fast", "--style", "style.png", "--data", "photos", "--train-size",
                                            "100000", "--out", "o/m.pt"], r"training with 4 crops of 100000 px", ""),
    (2, "train-fast: --batch 10**8", ["train-fast", "--style", "style.png", "--data", "photos", "--batch", "100000000",
                                      "--out", "o/m.pt"], r"GB of memory", ""),
    (2, "train-texture: --width 4096", ["train-texture", "--style", "style.png", "--width", "4096",
                                          "--out", "o/m.pt"], r"parameters\) needs about", ""),
    (2, "train-adain: --size 100000", ["train-adain", "--styles", "photos", "--data", "photos", "--size", "100000",
                                       "--out", "o/d.pt"], r"GB of memory", ""),
    (1, "train-fast: --train-size 4", ["train-fast", "--style", "style.png", "--data", "photos", "--train-size", "4",
                                       "--out", "o/m.pt"], r"a --train-size of 4 px is 4x4 px, too small", ""),
    (1, "train-texture: --train-size 3", ["train-texture", "--style", "style.png", "--train-size", "3",
                                          "--out", "o/m.pt"], r"too small for the texture network", ""),
    (1, "train-fast: --train-size 7", ["train-fast", "--style", "style.png", "--data", "photos", "--train-size", "7",
                                       "--out", "o/m.pt"], r"--train-size 7 px is too small for the loss network: "
                                                           r"relu5_1 needs at least 16 px", ""),
    (1, "train-texture: --style-size 4", ["train-texture", "--style", "style.png", "--style-size", "4",
                                          "--out", "o/m.pt"], r"--style-size 4 px is too small", ""),
    (2, "train-adain: --size 34", ["train-adain", "--styles", "photos", "--data", "photos", "--size", "34",
                                   "--out", "o/d.pt"], r"--size must be a multiple of 8 px .* try 32 or 40", ""),
    (3, "texture: --size 10**400", [*T, "--size", "9" * 400, "--out", "o/x.png"],
     r"--size: must be at most 10\^12, not a 400-digit number", ""),
    (3, "texture: --size 200000", [*T, "--size", "200000", "--out", "o/x.png"],
     r"--size: 200000 px is more than the largest side taken, 100,000 px", ""),
    (3, "train-adain: --lr 3.4e38", ["train-adain", "--styles", "photos", "--data", "photos", "--lr", "3.4e38",
                                     "--out", "o/d.pt"], r"--lr must be at most 10000, not 3\.4e\+38", ""),
    (3, "train-texture: --width 100000", ["train-texture", "--style", "style.png", "--width", "100000",
                                          "--out", "o/m.pt"], r"--width: must be at most 4096 channels", ""),
    (3, "texture: seed 2**70", [*T, "--seed", str(2 ** 70), "--out", "o/x.png"], r"--seed: must be from 0", ""),
    (3, "texture: seed -1", [*T, "--seed", "-1", "--out", "o/x.png"], r"--seed: must be from 0", ""),
    (3, "train-fast: seed 2**70", ["train-fast", "--style", "style.png", "--seed", str(2 ** 70), "--out", "o/m.pt"],
     r"--seed", ""),
    (3, "train-fast: lr 1e39", ["train-fast", "--style", "style.png", "--lr", "1e39", "--out", "o/m.pt"], r"--lr", ""),
    (3, "video: --fps 1e-9", ["video", "clip.gif", "--style", "style.png", "--fps", "1e-9", "--out", "o/v.mp4"],
     r"--fps: must be from 0.001526 to 100 frames per second", ""),
    (3, "video: --fps 1e9", ["video", "clip.gif", "--style", "style.png", "--fps", "1e9", "--out", "o/v.mp4"], r"--fps", ""),
    (3, "video: --lr 1e39", ["video", "clip.gif", "--style", "style.png", "--lr", "1e39", "--out", "o/v.mp4"], r"--lr", ""),
    (3, "adain: --device tpu", ["adain", "--content", "content.png", "--style", "style.png", "--device", "tpu",
                                "--out", "o/x.png"], r"argument --device: invalid choice: 'tpu'", ""),
    (3, "fast: --device gpu", [*F, "--content", "content.png", "--device", "gpu", "--out", "o/x.png"],
     r"argument --device: invalid choice: 'gpu'", ""),
    (3, "adain: a folder with a mask and --style-blend", ["adain", "--content", "photos", "--style", "style.png",
                                                          "style.png", "--style-blend", "1,2", "--mask", "content.png",
                                                          "--out", "o/b"],
     r"style blend weights and a mask cannot be combined", ""),   # once, not once a photo
    (4, "fast: 300-character name", [*F, "--content", "content.png", "--out", f"{LONG}.png"], r"longer than 255", ""),
    (4, "texture: 300-character name", [*T, "--size", "16", "--out", f"o/{LONG}.png"], r"longer than 255", ""),
    (4, "video: the strip's name too long", ["video", "clip.gif", "--style", "style.png", "--out", f"{'v' * 247}.mp4"],
     r"_strip\.png.*longer than 255", ""),
    (4, "video-sheet: a still named .mp4", ["video-sheet", "o/s.mp4", "clip.gif"],
     r"the sheet is a still: 's\.mp4' does not end in \.png or \.jpg", ""),
    (4, "video-demo: 300-character name", ["video-demo", f"o/{LONG}.mp4"], r"longer than 255", ""),
    (4, "train-fast: the plot's name too long", ["train-fast", "--style", "style.png", "--data", "photos",
                                                 "--out", f"{'t' * 248}.pt"], r"_losses\.png.*longer than 255", ""),
    (5, "video: the GIF is the input", ["video", "clip.gif", "--style", "style.png", "--out", "clip.mp4"],
     r"output clip\.gif would overwrite the input image clip\.gif", ""),
    (5, "video: a style named like the strip", ["video", "clip.gif", "--style", "v_strip.png", "--out", "v.mp4"],
     r"output v_strip\.png would overwrite the input image v_strip\.png", "style named like the strip"),
    (5, "video: out among the frames", ["video", "frames", "--style", "style.png", "--out", "frames/v.mp4"],
     r"frames/v\.mp4 would lie among the frames of frames: write it in another folder", "strip named like a frame"),
    (5, "video-sheet: out among the frames", ["video-sheet", "frames/sheet.png", "frames"],
     r"frames/sheet\.png would lie among the frames of frames", "strip named like a frame"),
    (5, "video-sheet: a link to the clip", ["video-sheet", "s.png", "clip.gif"], r"would overwrite the input image clip\.gif",
     "sheet is a link to the clip"),
    (5, "fast: out is a link to the photo", [*F, "--content", "content.png", "--out", "link.png"],
     r"would overwrite the input image content\.png", "out is a link to the photo"),
    (5, "fast: a folder into itself", [*F, "--content", "photos", "--out", "photos"],
     r"output photos/p0\.png would overwrite the input image photos/p0\.png", ""),
    (5, "fast: two photos, one name", [*F, "--content", "dup", "--out", "o"],
     r"^error: dup/\w/p\.png and dup/\w/p\.png would both be written to o/p\.png: rename one", "two photos, one stem"),
    (5, "fast: one photo twice", [*F, "--content", "content.png", "./content.png", "--out", "o"],
     r"^error: content\.png is given twice$", ""),
    (5, "adain: out is the style", ["adain", "--content", "content.png", "--style", "style.png", "--out", "style.png"],
     r"would overwrite the input image style\.png", ""),
    (5, "train-fast: the plot is the style", ["train-fast", "--style", "o/m_losses.png", "--data", "photos",
                                              "--out", "o/m.pt"], r"output o/m_losses\.png would overwrite the input",
     "style named like the plot"),
    (5, "train-adain: the plot is a training style", ["train-adain", "--styles", "sty", "--data", "photos",
                                                      "--out", "sty/d.pt"],
     r"output sty/d_losses\.png would overwrite the input image sty/d_losses\.png", "style folder with the plot's name"),
    (6, "train-fast: --resume a texture network's checkpoint",
     ["train-fast", "--style", "style.png", "--data", "photos", *TINY_TRAIN, "--resume", "--out", "o/m.pt"],
     r"--resume: o/m\.ckpt is the checkpoint of another network \(kind texture", "texture checkpoint"),
    (6, "train-fast: only corrupt photos", ["train-fast", "--style", "style.png", "--data", "bad", *TINY_TRAIN,
                                            "--out", "o/m.pt"], r"none of the 2 images can be read", "corrupt photos only"),
    (5, "texture: out beside the network", ["texture", "starry_night_texture.pt", "--size", "16", "--out",
                                            "starry_night_texture.png"],
     r"would overwrite the input file starry_night_texture\.json", "networks copied here"),
    (5, "adain: out beside the decoder", ["adain", "--method", "adain", "--decoder", "adain_decoder.pt", "--content",
                                          "content.png", "--style", "style.png", "--out", "adain_decoder.png"],
     r"would overwrite the input file adain_decoder\.json", "networks copied here"),
    (9, "adain: a blend of one style", ["adain", "--content", "content.png", "--style", "style.png", "--style-blend",
                                        "1", "--out", "o/x.png"], r"--style-blend does not apply to one style image: it blends several$", ""),
    (9, "video: --seed from the content", ["video", "clip.gif", "--style", "style.png", "--seed", "3", "--out", "o/v.mp4"],
     r"--seed does not apply to `python -m stylekit video`", ""),
    (9, "video: --hist-layers without a weight", ["video", "clip.gif", "--style", "style.png", "--hist-layers",
                                                  "relu1_1", "--out", "o/v.mp4"], r"--hist-layers does not apply", ""),
    (9, "adain: --steps", ["adain", "--content", "content.png", "--style", "style.png", "--steps", "5"],
     r"--steps does not apply to `python -m stylekit adain`", ""),
    (8, "photos: the folder under a file", ["photos", "--out", "content.png/photos", "--cache", "cache"],
     r"cannot write content\.png/photos/MANIFEST\.json: content\.png is a file", ""),
    (8, "build-styles: the folder under a file", ["build-styles", "--out", "content.png/styles", "--cache", "cache"],
     r"content\.png is a file, not a folder", ""),
    (5, "report: --content among the report's figures", ["report", "--quick", "--ablate", "--part", "1", "--content",
                                                          "site/results/figures/part1_ablation.png", "--out", "site"],
     r"--content site/results/figures/part1_ablation\.png lies in site/results, where the report writes",
     "photo in the report's figures"),
    (11, "report: the site under a file", ["report", "--quick", "--out", "content.png/site"], r"is a file, not a folder", ""),
]
NEEDS_NETWORK = {"train-fast: --resume a texture network's checkpoint", "train-fast: only corrupt photos"}


@pytest.mark.parametrize("klass, case, argv, words, setup", CASES, ids=[f"{c[0]}: {c[1]}" for c in CASES])
def test_refused(klass, case, argv, words, setup, work, capsys, monkeypatch, cnn):
    _setup(work, setup)
    if case in NEEDS_NETWORK:
        monkeypatch.setattr(train_fast_cli, "load_vgg19", lambda *a: cnn)
    else:
        for module in (train_fast_cli, train_adain_cli, video_cli, utils):
            monkeypatch.setattr(module, "load_vgg19", lambda *a: pytest.fail("the network loaded for a refused run"))
    refused(argv, work, capsys, words)


def test_report_checks_every_results_folder_before_its_runs(work, capsys, monkeypatch):
    """Class 11: a folder the report's runs write into that takes no file (here one in /sys,
    which not even root may write) is found before the first of its runs, not after."""
    from stylekit.cli import report as report_cli
    monkeypatch.setattr(report_cli, "load_vgg19", lambda *a: pytest.fail("the report started its runs"))
    (work / "site" / "results").mkdir(parents=True)
    (work / "site" / "results" / "part1").symlink_to("/sys/kernel")
    refused(["report", "--quick", "--out", "site"], work, capsys, r"cannot write site/results/part1/x\.png")


def test_a_batch_goes_on_past_a_photo_too_small(work, capsys):
    """Class 1: a 1x3000 photo in a folder is one error line; the other photos are done."""
    (work / "batch").mkdir()
    shutil.copy(work / "strip.png", work / "batch" / "a_strip.png")
    shutil.copy(work / "content.png", work / "batch" / "b.png")
    code = toolkit(["fast", str(MODEL), "--content", "batch", "--out", "o"])
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.strip()]
    assert code == 2 and "Traceback" not in err
    # the photo named once: the message names it already
    assert len(lines) == 1 and re.fullmatch(r"error: batch/a_strip\.png is 1x3000 px, too small for the style network.*", lines[0])
    assert Image.open(work / "o" / "b.png").size == (64, 48) and not (work / "o" / "a_strip.png").exists()


def test_adain_blend_that_overflows_is_an_equal_blend(work, capsys, monkeypatch, cnn):
    """Class 3 in AdaIN: (1e308, 1e308) gave all-zero features, a flat picture."""
    from stylekit.nets.adain.model import Decoder
    from stylekit.nets.adain.train import export
    monkeypatch.setattr(utils, "load_vgg19", lambda *a: cnn)
    torch.manual_seed(0)
    export(Decoder(width=0.125), work / "d.pt", {})
    for name, blend in (("a", "1e308,1e308"), ("b", "1,1")):
        assert toolkit(["adain", "--method", "adain", "--decoder", "d.pt", "--content", "content.png", "--style", "style.png", "style2.png",
                        "--style-blend", blend, "--size", "32", "--precision", "fp32", "--out", f"{name}.png"]) == 0
    assert (work / "a.png").read_bytes() == (work / "b.png").read_bytes()


@pytest.mark.slow
def test_module_tools_keep_the_contract(work):
    """Class 10: the old `python -m` tools, bad command lines: exit 2, one error line, quickly."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    lines = {"adain": [], "bench nosuchsection": [], "video --sheet o.png": [], "training_data --bogus": []}
    procs = {k: subprocess.Popen([sys.executable, "-m", *k.split()], cwd=work, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for k in lines}
    for k, p in procs.items():
        out, err = p.communicate(timeout=120)
        text = [l for l in err.splitlines() if l.strip()]
        assert p.returncode == 2, (k, err)
        assert len(text) == 1 and text[0].startswith("error: ") and "Traceback" not in err, (k, err)
        assert "usage:" not in out + err, (k, out)
    assert sorted(p.name for p in work.iterdir()) == ["clip.gif", "content.png", "photos", "strip.png", "style.png",
                                                       "style2.png", "tiny4.png", "tinyclip.gif"]


@pytest.mark.parametrize("argv", [
    ["texture", f"{LONG}.pt", "--out", "o/x.png"],
    ["fast", f"{LONG}.pt", "--content", "content.png", "--out", "o/x.png"],
    ["fast", MODEL, "--content", f"{LONG}.jpg", "--out", "o/x.png"],
    ["train-fast", "--style", "style.png", "--data", LONG, "--out", "o/m.pt"],
    ["video-sheet", "o/s.png", f"{LONG}.mp4"],
], ids=["texture model", "fast model", "fast content", "train-fast data", "video-sheet clip"])
def test_a_name_too_long_to_read_is_one_error_line(argv, work, capsys):
    """pathlib's exists() raises for a name over 255 bytes: a traceback, exit 1, from eleven
    commands' inputs (their outputs were checked already)."""
    refused(argv, work, capsys, r"File name too long \(the file system takes 255 bytes a name\)")


def test_numbers_are_read_as_typed():
    """float() reads "0.0_5" as 0.05 and Arabic-Indic digits as digits, keeps -0's sign, and
    reads 1e309 as inf: each a typo or a trap on a command line."""
    import argparse
    import math
    from stylekit.cli.common import float_list, number
    assert number("0.05") == 0.05 and number("1e-3") == 0.001 and number(".5") == 0.5 and number(" 2 ") == 2
    assert math.copysign(1, number("-0")) == 1   # recorded as 0, not -0.0
    assert math.isinf(number("inf")) and math.isnan(number("nan"))   # the checks after say what is wrong
    for typed, words in (("0.0_5", "not a number"), ("٣", "not a number"), ("0x10", "not a number"),
                         ("1e309", "too large: 1e309"), ("", "not a number")):
        with pytest.raises(argparse.ArgumentTypeError, match=words):
            number(typed)
    with pytest.raises(argparse.ArgumentTypeError, match="comma-separated"):
        float_list("1,0_5")
