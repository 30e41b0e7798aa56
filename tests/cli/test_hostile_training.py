"""The training commands against a hostile or careless user (issue 17): checkpoints of another
network, painting or encoder, or edited by hand; two runs on one output; corrupt or oddly
named photos. Refusals exit 2 with one `error:` line and write nothing (`refused`)."""
import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest
import torch

from hostile_helpers import TINY_TRAIN, refused, texture_checkpoint
from stylekit.base.errors import InputError
from stylekit.base.files import save_torch
from stylekit.cli import train_adain as train_adain_cli, train_fast as train_fast_cli
from stylekit.cli.main import main as toolkit
from stylekit.nets.training import CHECKPOINT_FORMAT


def test_a_corrupt_training_photo_is_skipped_with_a_count(work, capsys, monkeypatch, cnn):
    """Class 6: the run trains on the photos that can be read and says which it skipped."""
    monkeypatch.setattr(train_fast_cli, "load_vgg19", lambda *a: cnn)
    (work / "photos" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 garbage" * 8)
    (work / "photos" / "folder.png").mkdir()   # a folder named like an image is not a photo
    code = toolkit(["train-fast", "--style", "style.png", "--data", "photos", *TINY_TRAIN, "--steps", "2",
                    "--batch", "2", "--out", "o/m.pt"])
    err = capsys.readouterr().err
    assert code == 0 and "Traceback" not in err
    assert re.search(r"warning: skipped 1 unreadable image: photos/broken\.jpg", err)
    assert (work / "o" / "m.pt").exists()


def test_train_adain_resume_of_a_style_checkpoint_is_refused(work, capsys, monkeypatch, cnn):
    monkeypatch.setattr(train_adain_cli, "load_vgg19", lambda *a: cnn)
    (work / "o").mkdir()
    texture_checkpoint(work / "o" / "d.ckpt")
    refused(["train-adain", "--styles", "photos", "--data", "photos", "--steps", "2", "--batch", "1", "--size", "32",
             "--width", "0.125", "--resume", "--out", "o/d.pt"], work, capsys, r"--resume")


def test_train_fast_resume_toward_another_painting_is_refused(work, capsys, monkeypatch, cnn):
    """Class 6: --resume with another --style went on training the checkpoint's network toward
    the new painting, and the model file named the second painting alone."""
    monkeypatch.setattr(train_fast_cli, "load_vgg19", lambda *a: cnn)
    base = ["train-fast", "--data", "photos", *TINY_TRAIN, "--out", "o/m.pt"]
    assert toolkit([*base, "--style", "style.png"]) == 0
    shutil.copy(work / "content.png", work / "other.png")
    capsys.readouterr()
    refused([*base, "--style", "other.png", "--steps", "2", "--resume"], work, capsys,
            r"--resume: o/m\.ckpt was trained toward style\.png, not other\.png")
    # nor with other loss settings: the model file would name the new ones alone
    refused([*base, "--style", "style.png", "--steps", "2", "--style-weight", "1", "--resume"], work, capsys,
            r"--resume: o/m\.ckpt was trained with weights .* resume with its settings")
    refused([*base, "--style", "style.png", "--steps", "2", "--seed", "5", "--resume"], work, capsys,
            r"was trained with seed 0, not 5")
    shutil.copy(work / "style.png", work / "same.png")   # the same painting under another name resumes
    assert toolkit([*base, "--style", "same.png", "--steps", "2", "--lr", "1e-4", "--resume"]) == 0
    shutil.copy(work / "style2.png", work / "same.png")   # the painting edited under its own name
    capsys.readouterr()
    refused([*base, "--style", "same.png", "--steps", "3", "--lr", "1e-4", "--resume"], work, capsys,
            r"was trained toward another version of same\.png \(its bytes differ\)")


def test_a_second_training_run_on_one_out_is_refused(work, capsys, monkeypatch, cnn):
    """Two runs on one --out took turns at the checkpoint, and one's model replaced the other's
    while it reported success."""
    from stylekit.base import lock as out_lock
    monkeypatch.setattr(train_fast_cli, "load_vgg19", lambda *a: cnn)
    monkeypatch.setattr(train_adain_cli, "load_vgg19", lambda *a: cnn)
    (work / "o").mkdir()
    with out_lock.only_run_on(work / "o" / "m.pt"):   # the first run, still going
        refused(["train-fast", "--style", "style.png", "--data", "photos", *TINY_TRAIN, "--out", "o/m.pt"], work, capsys,
                r"another training run is writing o/m\.pt: wait for it to end, or give another --out")
    with out_lock.only_run_on(work / "o" / "d.pt"):
        refused(["train-wct", "--level", "1", "--data", "photos", "--steps", "1", "--batch", "1", "--size", "32",
                 "--out", "o/d.pt"], work, capsys, r"another training run is writing o/d\.pt")
    assert list((work / "o").iterdir()) == []
    assert toolkit(["train-fast", "--style", "style.png", "--data", "photos", *TINY_TRAIN, "--out", "o/m.pt"]) == 0


def test_the_lock_counts_only_on_the_file_its_name_holds(tmp_path, monkeypatch):
    """A run that opened the lock file just before the run ahead of it ended (and removed it)
    locked a file no longer named, while a third run locked the new one: both trained."""
    import fcntl
    from stylekit.base import lock as out_lock
    out = tmp_path / "m.pt"
    with out_lock.only_run_on(out):
        lock = next(Path(tempfile.gettempdir()).glob(
            f"stylekit-out-{hashlib.sha1(str(out.resolve()).encode()).hexdigest()[:16]}.lock"))
    first = os.open(lock, os.O_RDWR | os.O_CREAT)      # the run ahead, still going
    fcntl.flock(first, fcntl.LOCK_EX)
    third = []
    real_flock = fcntl.flock

    def between_open_and_lock(fd, op):
        if not third:   # the run ahead ends, a third run starts and locks the new file
            lock.unlink()
            os.close(first)
            third.append(os.open(lock, os.O_RDWR | os.O_CREAT))
            real_flock(third[0], fcntl.LOCK_EX | fcntl.LOCK_NB)
        return real_flock(fd, op)
    monkeypatch.setattr(out_lock.fcntl, "flock", between_open_and_lock)
    try:
        with pytest.raises(InputError, match="another training run is writing"):
            with out_lock.only_run_on(out):
                pass
    finally:
        os.close(third[0])
        lock.unlink(missing_ok=True)


@pytest.mark.parametrize("command", ["train-fast", "train-texture"])
@pytest.mark.parametrize("style", ["nope.png", "photos"])
def test_a_missing_or_folder_painting_is_refused_before_its_hash(work, capsys, no_network, command, style):
    data = ["--data", "photos"] if command == "train-fast" else []
    refused([command, "--style", style, *data, *TINY_TRAIN, "--out", "o/m.pt"], work, capsys, r"nope\.png|photos")


def test_out_inside_the_training_photos_is_refused(work, capsys, no_network):
    """The loss plot would become a training photo, and a resumed run be refused for overwriting it."""
    refused(["train-fast", "--style", "style.png", "--data", "photos", *TINY_TRAIN, "--out", "photos/m.pt"], work,
            capsys, r"--out photos/m\.pt is inside --data photos")
    (work / "photos" / "deeper").mkdir()
    refused(["train-wct", "--level", "1", "--data", "photos", "--steps", "1", "--batch", "1", "--size", "32",
             "--width", "0.125", "--out", "photos/deeper/d.pt"], work, capsys, r"is inside --data photos")


def _edited_checkpoint(path, **changes):
    texture_checkpoint(path)
    state = torch.load(path, weights_only=True)
    for key, value in changes.items():
        if value is DELETE:
            state.pop(key, None)
        else:
            state[key] = value
    save_torch(state, path)


DELETE = object()


def test_an_unfinished_checkpoint_without_its_step_is_refused_in_one_line(work, capsys, no_network):
    (work / "o").mkdir()
    _edited_checkpoint(work / "o" / "m.ckpt", step=DELETE, steps=10)
    refused(["train-texture", "--style", "style.png", *TINY_TRAIN, "--out", "o/m.pt"], work, capsys,
            r"holds an unfinished run \(0 of 10 steps\)")


@pytest.mark.parametrize("changes", [{"step": "1"}, {"step": -5}, {"step": 1.0}, {"steps": "9"}, {"steps": None},
                                     {"history": "many"}, {"history": [1, 2]}, {"settings": None},
                                     {"settings": ["texture"]}])
def test_a_checkpoint_edited_by_hand_is_refused_in_one_line(work, capsys, no_network, changes):
    """Each gave a traceback (a string step in the batch indices, a None settings in --init's
    lookup, ...) on --resume, or without it where the check for an unfinished run reads the step."""
    (work / "o").mkdir()
    _edited_checkpoint(work / "o" / "m.ckpt", **changes)
    for resume in (["--resume"], []):
        refused(["train-texture", "--style", "style.png", *TINY_TRAIN, "--steps", "3", *resume, "--out", "o/m.pt"],
                work, capsys, r"o/m\.ckpt is a damaged training checkpoint")


def test_a_checkpoint_without_its_planned_steps_still_resumes(work, capsys, monkeypatch, cnn):
    monkeypatch.setattr(train_fast_cli, "load_vgg19", lambda *a: cnn)
    (work / "o").mkdir()
    _edited_checkpoint(work / "o" / "m.ckpt", steps=DELETE)
    assert toolkit(["train-texture", "--style", "style.png", *TINY_TRAIN, "--steps", "2", "--resume",
                    "--out", "o/m.pt"]) == 0


def test_a_finished_run_is_not_started_over_without_being_asked(work, capsys, monkeypatch, cnn):
    """A run without --resume over a finished one replaced its model (hours of training) in silence."""
    monkeypatch.setattr(train_fast_cli, "load_vgg19", lambda *a: cnn)
    argv = ["train-texture", "--style", "style.png", *TINY_TRAIN, "--out", "o/m.pt"]
    assert toolkit(argv) == 0
    capsys.readouterr()
    refused([*argv[:-2], "--steps", "2", "--out", "o/m.pt"], work, capsys,
            r"o/m\.ckpt holds a run of 1 steps, whose model this run would replace: train it on with --resume")
    (work / "o" / "m.ckpt").unlink()   # as the message says: then it starts afresh
    assert toolkit(argv) == 0


def test_resuming_a_decoder_on_another_encoder_is_refused(work, capsys):
    (work / "o").mkdir()
    net = torch.nn.Conv2d(3, 3, 1)
    save_torch({"format": CHECKPOINT_FORMAT, "net": net.state_dict(),
                "optimizer": torch.optim.Adam(net.parameters()).state_dict(), "step": 1, "steps": 2,
                "history": [{}], "settings": {"encoder_sha256": "0" * 64}}, work / "o" / "d.ckpt")
    from stylekit.nets.training import train
    from stylekit.settings import TrainSettings
    with pytest.raises(InputError, match="was trained with encoder_sha256 '0000"):
        train(net, lambda m, b: {"x": m(b).mean()}, [torch.rand(3, 8, 8)] * 4, TrainSettings(steps=2, batch=1),
              checkpoint=work / "o" / "d.ckpt", resume=True, record={"encoder_sha256": "1" * 64})


def test_a_file_name_that_is_not_utf8_trains(work, capsys):
    """Its lock's key and the loss plot's title took the name as UTF-8 and stopped the run."""
    from stylekit.base.figures import plot_losses
    from stylekit.base.lock import only_run_on
    odd = Path(os.fsdecode(b"o/\xff.pt"))
    (work / "o").mkdir()
    with only_run_on(odd):
        pass
    rows = [{"style": 1.0 / (1 + i), "total": 1.0 / (1 + i)} for i in range(3)]
    assert plot_losses(rows, work / "o" / "plot.png", title=odd.stem).exists()
