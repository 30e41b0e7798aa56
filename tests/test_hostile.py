"""run.py against a hostile or careless user (issue 17): every refused command line exits 2
with exactly one `error:` line, no traceback, and writes nothing (no picture, no sidecar, no
folder), and no run overwrites one of its inputs. One table per class of fault; the classes'
numbers are the issue's."""
import hashlib
import re
import shutil

import numpy as np
import pytest
from PIL import Image

import run
import utils
from conftest import structured, write_png

LONG = "x" * 300


def snapshot(folder):
    """Every file and folder under `folder`, with a digest of each file's bytes."""
    return {str(p.relative_to(folder)): hashlib.md5(p.read_bytes()).hexdigest() if p.is_file() else "folder"
            for p in sorted(folder.rglob("*"))}


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A folder with a photo, two paintings and a few odd files, as the current folder."""
    write_png(tmp_path / "content.png", structured(48, 64))
    write_png(tmp_path / "style.png", structured(56, 56, seed=1).flip(-1))
    write_png(tmp_path / "style2.png", structured(40, 56, seed=2).flip(-2))
    write_png(tmp_path / "thin.png", np.full((3000, 20, 3), 128, np.uint8))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def shared_network(cnn, monkeypatch):
    monkeypatch.setattr(run, "load_vgg19", lambda weights, device: cnn)


def refused(argv, folder, capsys, words):
    """Run run.py's main; assert the contract for a refused command line."""
    before = snapshot(folder)
    code = run.main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    assert re.search(words, lines[0]), lines[0]
    assert snapshot(folder) == before, "a refused run wrote something"
    return lines[0]


BASE = ["--content", "content.png", "--style", "style.png", "--size", "32", "--steps", "2"]

# (case, argv, words the error line must contain)
TOO_SMALL = [  # class 1
    ("inspect at 1 px", ["--inspect", "--content", "content.png", "--size", "1"], r"1x1 px, too small for every VGG-19 layer"),
    ("inspect at 24 px", ["--inspect", "--content", "content.png", "--size", "24"], r"at least 32 px"),
    ("a 20x3000 photo at 256 px", ["--content", "thin.png", "--style", "style.png", "--out", "o/x.png"],
     r"20x3000 px, 2x256 at --size 256: too small, layer relu5_1 needs"),
    ("style scaled to 1 px", [*BASE, "--style-scale", "0.001", "--out", "o/x.png"], r"too small for layer"),
]
TOO_BIG = [  # class 2
    ("--size 100000", ["--content", "content.png", "--style", "style.png", "--size", "100000", "--out", "o/x.png"],
     r"the optimization at 100000x75000 px .* needs about [\d,.]+ GB of memory, more than the .* available"),
    ("--style-scale 1000", [*BASE, "--style-scale", "1000", "--out", "o/x.png"], r"style 32000x32000 px.*GB of memory"),
    ("part 2 at 100000 px", ["--part", "2", "--style", "style.png", "--size", "100000", "--out", "o/x.png"],
     r"100000x100000 px.*GB of memory"),
    ("--inspect --size 100000", ["--inspect", "--content", "content.png", "--size", "100000"], r"--inspect at .*GB of memory"),
    ("grid at 100000 px", ["--grid", "--content", "content.png", "style2.png", "--style", "style.png", "style2.png",
                           "--size", "100000", "--out", "o/g.png"], r"GB of memory"),
]
OVERFLOW = [  # class 3
    ("style scale 1e30", [*BASE, "--style-scale", "1e30", "--out", "o/x.png"],
     r"--style-scale 1e\+30 makes the painting 3\.2e\+31 px on its longest side at 32 px, more than the largest"),
    ("seed beyond 64 bits", ["--part", "1", "--content", "content.png", "--seed", str(2 ** 70), "--out", "o/x.png"],
     r"--seed: must be from 0 to 18446744073709551615"),
    ("negative seed", ["--part", "1", "--content", "content.png", "--seed", "-1", "--out", "o/x.png"], r"--seed"),
    ("Adam's lr 1e39", [*BASE, "--optimizer", "adam", "--lr", "1e39", "--out", "o/x.png"], r"--lr: must be at most 3.4e\+38"),
    ("tv weight 1e39", [*BASE, "--tv-weight", "1e39", "--out", "o/x.png"], r"--tv-weight: must be at most"),
    ("style weight 1e300", [*BASE, "--style-weight", "1e300", "--out", "o/x.png"], r"--style-weight: must be at most"),
]
NAMES = [  # class 4
    ("300-character name", [*BASE, "--out", f"o/{LONG}.png"], r"longer than 255 bytes"),
    ("300-character name in an existing folder", [*BASE, "--out", f"{LONG}.png"], r"longer than 255 bytes"),
    ("the loss plot's name too long", [*BASE, "--out", f"o/{'p' * 250}.png"], r"_losses\.png.*longer than 255 bytes"),
    ("a snapshot's name too long", [*BASE, "--save-every", "1", "--out", f"{'s' * 244}.png"],
     r"_step0002\.png.*longer than 255 bytes"),
    ("the sheet under a file", ["--grid", "--content", "content.png", "style2.png", "--style", "style.png", "style2.png",
                                "--size", "32", "--steps", "1", "--out", "content.png/g.png"], r"is a file, not a folder"),
]
OVERWRITE = [  # class 5: (case, argv, words, the input to create by copying content.png)
    ("a snapshot", ["--content", "x_step0002.png", "--style", "style.png", "--size", "32", "--steps", "3",
                    "--save-every", "2", "--out", "x.png"], r"x_stepNNNN\.png would overwrite the input image x_step0002\.png",
     "x_step0002.png"),
    ("the loss plot", ["--content", "content.png", "--style", "x_losses.png", "--size", "32", "--steps", "1",
                       "--out", "x.png"], r"output x_losses\.png would overwrite the input image x_losses\.png",
     "x_losses.png"),
    ("the loss plot, the mask", [*BASE, "--mask", "x_losses.png", "--out", "x.png"], r"would overwrite the input image x_losses",
     "x_losses.png"),
    ("the sidecar, the VGG weights", [*BASE, "--weights", "x.json", "--out", "x.png"],
     r"output x\.json would overwrite the input file x\.json", "x.json"),
    ("a grid cell", ["--grid", "--content", "g/sheet_content_style.png", "content.png", "--style", "style.png",
                     "style2.png", "--size", "32", "--steps", "1", "--out", "g/sheet.png"],
     r"output g/sheet_content_style\.png would overwrite the input image", "g/sheet_content_style.png"),
    ("the grid sheet", ["--grid", "--content", "content.png", "style2.png", "--style", "style.png", "g/sheet.png",
                        "--size", "32", "--steps", "1", "--out", "g/sheet.png"],
     r"output g/sheet\.png would overwrite the input image g/sheet\.png", "g/sheet.png"),
    ("two grid cells, one name", ["--grid", "--content", "content.png", "g/content.png", "--style", "style.png",
                                  "style2.png", "--size", "32", "--steps", "1", "--out", "o/sheet.png"],
     r"two cells of the grid would both be", "g/content.png"),
]
IGNORED = [  # class 9
    ("part 1 with --style", ["--part", "1", "--content", "content.png", "--style", "style.png", "--out", "o/x.png"],
     r"--style does not apply to run.py --part 1 \(content reconstruction\)"),
    ("part 2 with --content", ["--part", "2", "--content", "content.png", "--style", "style.png", "--out", "o/x.png"],
     r"--content does not apply to run.py --part 2 \(texture synthesis\)"),
    ("part 2 with --init content", ["--part", "2", "--style", "style.png", "--init", "content", "--out", "o/x.png"],
     r"--init content does not apply to run.py --part 2"),
    ("part 1 with --mask", ["--part", "1", "--content", "content.png", "--mask", "content.png", "--out", "o/x.png"],
     r"--mask does not apply to run.py --part 1"),
    ("mask and blend", ["--content", "content.png", "--style", "style.png", "style2.png", "--mask", "content.png",
                        "--style-blend", "0.5,0.5", "--out", "o/x.png"], r"--style-blend does not apply .* a mask decides"),
    ("blend of one style", [*BASE, "--style-blend", "1", "--out", "o/x.png"], r"--style-blend does not apply"),
    ("histogram layers, weight 0", [*BASE, "--hist-layers", "relu1_1", "--out", "o/x.png"],
     r"--hist-layers does not apply .* the histogram weight is 0"),
    ("seed from the content", [*BASE, "--seed", "3", "--out", "o/x.png"], r"--seed does not apply to run.py --part 3"),
    ("content layer, weight 0", [*BASE, "--content-weight", "0", "--content-layer", "conv3_1", "--out", "o/x.png"],
     r"--content-layer does not apply .* the content weight is 0"),
    ("style layers, weight 0", [*BASE, "--style-weight", "0", "--style-layers", "relu1_1", "--out", "o/x.png"],
     r"--style-layers does not apply .* the style weight is 0"),
    ("inspect with --out", ["--inspect", "--content", "content.png", "--out", "o/x.png"],
     r"--out does not apply to run.py --inspect"),
    ("inspect with --steps", ["--inspect", "--content", "content.png", "--steps", "5"], r"--steps does not apply to run.py --inspect"),
    ("multiscale on at 64 px", [*BASE, "--multiscale", "on", "--out", "o/x.png"], r"--multiscale on needs --size 256"),
    ("coarsest above half the size", [*BASE, "--size", "300", "--multiscale", "on", "--coarsest", "200", "--out", "o/x.png"],
     r"--multiscale on needs --size 400 or more .* --coarsest"),
    ("coarsest below the deepest layer", [*BASE, "--size", "300", "--coarsest", "1", "--out", "o/x.png"],
     r"--coarsest must be at least 16 px, the least relu5_1 takes, not 1"),
    ("coarsest at one scale", [*BASE, "--coarsest", "96", "--out", "o/x.png"], r"--coarsest does not apply .* one scale"),
    ("coarse-only layers at one scale", [*BASE, "--coarse-only-layers", "relu5_1", "--out", "o/x.png"],
     r"--coarse-only-layers does not apply .* one scale"),
    ("coarse-only layers in part 1", ["--part", "1", "--content", "content.png", "--coarse-only-layers", "relu5_1",
                                      "--out", "o/x.png"], r"--coarse-only-layers does not apply .* no style image"),
    ("coarse-only layer not a style layer", [*BASE, "--size", "300", "--coarse-only-layers", "relu4_2", "--out", "o/x.png"],
     r"coarse-only layers relu4_2 are not style layers"),
    ("every style layer coarse-only", [*BASE, "--size", "300", "--style-layers", "relu1_1", "--coarse-only-layers",
                                       "relu1_1", "--out", "o/x.png"], r"every style layer is coarse-only"),
    ("grid with a blend", ["--grid", "--content", "content.png", "style2.png", "--style", "style.png", "style2.png",
                           "--style-blend", "1,1", "--out", "o/g.png"], r"--style-blend does not apply to run.py --part 3 --grid"),
]


@pytest.mark.parametrize("case, argv, words", TOO_SMALL, ids=[c[0] for c in TOO_SMALL])
def test_too_small_for_the_network(case, argv, words, work, capsys, shared_network):
    refused(argv, work, capsys, words)


@pytest.mark.parametrize("case, argv, words", TOO_BIG, ids=[c[0] for c in TOO_BIG])
def test_more_than_the_machine_holds_refused_before_the_network_loads(case, argv, words, work, capsys, monkeypatch):
    monkeypatch.setattr(run, "load_vgg19", lambda *a: pytest.fail("the network loaded for a refused run"))
    refused(argv, work, capsys, words)


@pytest.mark.parametrize("case, argv, words", OVERFLOW, ids=[c[0] for c in OVERFLOW])
def test_numbers_that_overflow(case, argv, words, work, capsys, shared_network):
    refused(argv, work, capsys, words)


@pytest.mark.parametrize("case, argv, words", NAMES, ids=[c[0] for c in NAMES])
def test_names_the_file_system_refuses_are_refused_before_the_run(case, argv, words, work, capsys, monkeypatch):
    monkeypatch.setattr(run, "load_vgg19", lambda *a: pytest.fail("the network loaded for a refused run"))
    refused(argv, work, capsys, words)


@pytest.mark.parametrize("case, argv, words, existing", OVERWRITE, ids=[c[0] for c in OVERWRITE])
def test_no_run_overwrites_an_input(case, argv, words, existing, work, capsys, monkeypatch):
    monkeypatch.setattr(run, "load_vgg19", lambda *a: pytest.fail("the network loaded for a refused run"))
    (work / existing).parent.mkdir(exist_ok=True)
    shutil.copy(work / "content.png", work / existing)
    refused(argv, work, capsys, words)


@pytest.mark.parametrize("case, argv, words", IGNORED, ids=[c[0] for c in IGNORED])
def test_a_flag_the_mode_ignores_is_refused(case, argv, words, work, capsys, monkeypatch):
    monkeypatch.setattr(run, "load_vgg19", lambda *a: pytest.fail("the network loaded for a refused run"))
    refused(argv, work, capsys, words)


@pytest.mark.parametrize("bad", [["--content", "missing.png", "--style", "style.png"],   # class 8
                                 [*BASE, "--size", "100000"], [*BASE, "--seed", "4"],
                                 ["--part", "2", "--style", "empty.png"], [*BASE, "--style-layers", "conv9_9"]])
def test_a_refused_run_leaves_no_folder(bad, work, capsys, shared_network):
    (work / "empty.png").write_bytes(b"")
    refused([*bad, "--out", "new/deeper/x.png"], work, capsys, r".")
    assert not (work / "new").exists()


@pytest.mark.slow
def test_an_overflowing_blend_is_an_equal_blend(work, capsys, shared_network):
    """Class 3: (1e308, 1e308) summed to infinity and every weight became 0, the style target
    all zeros; now it is the same picture as (1, 1)."""
    for name, blend in (("a", "1e308,1e308"), ("b", "1,1")):
        assert run.main(["--content", "content.png", "--style", "style.png", "style2.png", "--style-blend", blend,
                         "--size", "32", "--steps", "2", "--precision", "fp32", "--out", f"{name}.png"]) == 0
    assert (work / "a.png").read_bytes() == (work / "b.png").read_bytes()
    assert np.asarray(Image.open(work / "a.png")).std() > 0


def test_the_grid_checks_every_cell_before_the_first_run(work, capsys, shared_network, monkeypatch):
    """Class 11 for the grid: the sheet's folder is checked before four runs, not after."""
    ran = []
    monkeypatch.setattr(run, "transfer", lambda *a, **k: ran.append(a) or pytest.fail("a cell ran"))
    (work / "g").mkdir()
    shutil.copy(work / "content.png", work / "g" / "x.png")
    shutil.copy(work / "style.png", work / "g" / "sheet_x_style.png")   # what the third cell writes
    refused(["--grid", "--content", "content.png", "g/x.png", "--style", "style.png", "g/sheet_x_style.png",
             "--size", "32", "--steps", "1", "--out", "g/sheet.png"], work, capsys,
            r"output g/sheet_x_style\.png would overwrite the input image g/sheet_x_style\.png")
    assert not ran


def test_the_same_cell_twice_runs_once(work, capsys, shared_network, monkeypatch):
    calls = []
    real = run.transfer
    monkeypatch.setattr(run, "transfer", lambda job, *a: calls.append(job.out) or real(job, *a))
    assert run.main(["--grid", "--content", "content.png", "content.png", "--style", "style.png", "style2.png",
                     "--size", "32", "--steps", "1", "--out", "o/g.png"]) == 0
    assert len(calls) == 2 and len(set(calls)) == 2
    assert (work / "o" / "g.png").exists()


def test_a_weights_file_that_is_not_vgg19s_is_refused(work, capsys, cnn):
    """A state dict with 16 convolutions of the wrong shape, one without biases or one holding
    NaN gave a traceback, or a loss of NaN blamed on --style-weight."""
    import torch
    convs = [m for m in cnn if isinstance(m, torch.nn.Conv2d)]
    good = {f"{i}.{k}": v.clone() for i, conv in enumerate(convs) for k, v in conv.state_dict().items()}
    torch.save(good, work / "good.pt")
    assert len(utils.load_vgg19(str(work / "good.pt"))) == len(utils.load_vgg19("original"))
    bad = {"shape.pt": {**good, "3.weight": torch.zeros(128, 64, 5, 5)},
           "nobias.pt": {k: v for k, v in good.items() if k != "0.bias"},
           "nan.pt": {**good, "7.bias": torch.full((256,), float("nan"))}}
    words = {"shape.pt": r"shape\.pt: the weight of conv2_2 is \(128, 64, 5, 5\), VGG-19's is \(128, 128, 3, 3\)",
             "nobias.pt": r"nobias\.pt has no bias for conv1_1",
             "nan.pt": r"nan\.pt: the bias of conv3_4 holds values that are not finite"}
    for name, state in bad.items():
        torch.save(state, work / name)
    for name in bad:
        refused([*BASE, "--weights", name, "--out", "o.png"], work, capsys, words[name])
    refused([*BASE, "--weights", "", "--out", "o.png"], work, capsys, r"weights: empty \(use 'original'")


def test_a_second_run_on_one_out_is_refused(work, capsys, shared_network):
    """Two runs to one --out at once: in one try of ten the picture and sidecar were one run's
    and the loss plot the other's."""
    from pathlib import Path
    from stylekit.base.lock import only_run_on
    with only_run_on(Path("o.png").resolve(), "run"):   # the first, still going
        refused([*BASE, "--out", "o.png"], work, capsys, r"^error: another run is writing o\.png: wait for it")
        refused(["--grid", "--content", "content.png", "content.png", "--style", "style.png", "style2.png",
                 "--size", "32", "--steps", "1", "--out", "o.png"], work, capsys, r"another run is writing o\.png")
    assert run.main([str(a) for a in [*BASE, "--out", "o.png"]]) == 0
