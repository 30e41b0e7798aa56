"""Ctrl-C (SIGINT) and SIGTERM, the same everywhere (`stylekit.base.interrupt`): the first signal
stops the run, which keeps its work (the best image with its sidecar marked interrupted, the
frames done, the checkpoint and the model so far); exit 130 for SIGINT and 143 for SIGTERM; no
traceback; a second signal does not cut the saving short, nor make the message lie.

Here in process: the progress bar (or the step that has none) sends the signal to this process
at a chosen moment, as `kill` would. test_signals_subprocess.py sends them to commands in
subprocesses, at start-up and mid-run.
"""
import json
import os
import signal
import sys

import pytest
from PIL import Image

from conftest import ROOT, no_temporary_files, sidecar, structured, write_png

sys.path[:0] = [str(ROOT / "tests" / "video"), str(ROOT / "tests" / "nets")]  # their helpers

import run  # noqa: E402
from moving_clips import moving_square, single_thread  # noqa: E402
from nets_helpers import photo_folder  # noqa: E402
from stylekit.base.paths import MODELS  # noqa: E402
from stylekit.base.progress import Progress  # noqa: E402
from stylekit.cli import report as report_cli, train_fast as train_fast_cli, video as video_cli  # noqa: E402
from stylekit.cli.main import main as toolkit  # noqa: E402
from stylekit.nets import johnson, portable  # noqa: E402
from stylekit.nets.adain import portable as wct_portable  # noqa: E402
from stylekit.nets.training import load_checkpoint  # noqa: E402
from stylekit.video import io as vio  # noqa: E402

SIGNALS = [signal.SIGINT, signal.SIGTERM]


def send(sig):
    """`sig` to this process, as `kill` would send it; refused where nothing catches it (the
    default SIGTERM action would end the test session itself)."""
    handler = signal.getsignal(sig)
    assert callable(handler) and handler is not signal.default_int_handler, \
        f"no handler of this project for {sig.name}: it would end the process"
    os.kill(os.getpid(), sig)


@pytest.fixture
def signal_at(monkeypatch):
    """signal_at(sig, k): the k-th progress update sends `sig` (the run is in its k-th evaluation
    or training step)."""
    def arm(sig, k):
        seen = {"n": 0}
        original = Progress.update

        def update(self, n=1, postfix=None):
            seen["n"] += 1
            if seen["n"] == k:
                send(sig)
            original(self, n, postfix)
        monkeypatch.setattr(Progress, "update", update)
    return arm


@pytest.fixture
def shared_network(cnn, monkeypatch):
    for module in (run, video_cli, train_fast_cli, report_cli):
        monkeypatch.setattr(module, "load_vgg19", lambda *args, **kwargs: cnn)


@pytest.fixture
def images(tmp_path):
    content = write_png(tmp_path / "photo.png", structured(48, 64))
    style = write_png(tmp_path / "painting.png", structured(56, 56, seed=1).flip(-1))
    return content, style


def stderr_of(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return err


# ---------------------------------------------------------------------------------------
# In process: every kind of run keeps its work, 130 / 143
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_optimization_keeps_the_best_image(sig, images, tmp_path, signal_at, shared_network, capsys):
    content, style = images
    out = tmp_path / "out" / "x.png"
    signal_at(sig, 3)
    assert run.main([str(a) for a in ("--content", content, "--style", style, "--size", 48, "--steps", 1000,
                                      "--out", out)]) == 128 + sig
    assert "interrupted: the best image so far is in" in stderr_of(capsys)
    meta = sidecar(out)
    assert meta["status"] == "interrupted" and meta["evals"] == 3
    assert Image.open(out).size == (48, 36) and (out.parent / "x_losses.png").exists()
    assert no_temporary_files(tmp_path)


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_grid_keeps_the_cell_it_was_in(sig, images, tmp_path, signal_at, shared_network, capsys):
    content, style = images
    out = tmp_path / "sheet.png"
    signal_at(sig, 2)
    assert run.main([str(a) for a in ("--grid", "--content", content, content, "--style", style, style,
                                      "--size", 40, "--steps", 1000, "--out", out)]) == 128 + sig
    stderr_of(capsys)
    cell = tmp_path / "sheet_photo_painting.png"
    assert sidecar(cell)["status"] == "interrupted" and not out.exists()


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_video_keeps_the_frames_done(sig, tmp_path, signal_at, shared_network, capsys):
    clip = vio.write_mp4(moving_square(n=3, h=64, w=80), tmp_path / "in.mp4", fps=8)
    out = tmp_path / "v.mp4"
    signal_at(sig, 3 + 2)  # frame 1 takes 3 evaluations; the signal comes in frame 2's second
    with single_thread():
        code = toolkit([str(a) for a in ("video", clip, "--style", ROOT / "images/style/starry_night.jpg",
                                         "--size", 64, "--steps", 3, "--later-steps", 100, "--out", out)])
    assert code == 128 + sig
    # frame 2, cut short at 2 of its 100 evaluations, was kept as done
    assert f"interrupted: {out} holds the 1 frame done" in stderr_of(capsys)
    meta = sidecar(out)
    assert meta["status"] == "interrupted" and meta["frames"] == 1 and meta["evals"] == [3]
    assert len(vio.read_video(out).frames) == 1 and out.with_suffix(".gif").exists()


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_video_keeps_every_frame_when_stopped_after_the_last(sig, tmp_path, shared_network, capsys, monkeypatch):
    """A signal while the clip's figures were computed (seconds, after the last frame) threw
    every frame away: 'nothing was written'."""
    clip = vio.write_mp4(moving_square(n=3, h=64, w=80), tmp_path / "in.mp4", fps=8)
    out = tmp_path / "v.mp4"
    real = video_cli.summary

    def stopped_meanwhile(*args):
        send(sig)
        return real(*args)
    monkeypatch.setattr(video_cli, "summary", stopped_meanwhile)
    with single_thread():
        code = toolkit([str(a) for a in ("video", clip, "--style", ROOT / "images/style/starry_night.jpg",
                                         "--size", 64, "--steps", 3, "--later-steps", 2, "--out", out)])
    assert code == 128 + sig
    assert f"interrupted: {out} holds the 3 frames done" in stderr_of(capsys)
    assert sidecar(out)["frames"] == 3 and len(vio.read_video(out).frames) == 3
    assert out.with_suffix(".gif").exists() and no_temporary_files(tmp_path)


# Python runs its fork hooks (logging's lock, for one) in the parent after every fork with a
# `preexec_fn`, as imageio's ffmpeg spawns are; a KeyboardInterrupt raised inside a hook is
# printed as "Exception ignored" and dropped. Hooks cannot be unregistered: this one is armed
# by one test at a time and is a no-op otherwise.
_FORK = {"sig": None, "at": 0, "forks": 0}


def _signal_in_fork_hook():
    if _FORK["sig"] is None:
        return
    _FORK["forks"] += 1
    if _FORK["forks"] == _FORK["at"]:
        sig, _FORK["sig"] = _FORK["sig"], None
        send(sig)
        sum(range(1000))   # bytecode for the handler to run in, still inside the hook


os.register_at_fork(after_in_parent=_signal_in_fork_hook)


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_video_stops_for_a_signal_that_comes_while_ffmpeg_is_spawned(sig, tmp_path, shared_network, capsys,
                                                                     monkeypatch):
    """A signal landing in a fork hook while ffmpeg was spawned to read the clip was dropped (1
    in 14 tries of a probe): the run went on through every frame. The spawn holds the signal."""
    clip = vio.write_mp4(moving_square(n=3, h=64, w=80), tmp_path / "in.mp4", fps=8)
    out = tmp_path / "v.mp4"
    monkeypatch.setitem(_FORK, "sig", sig)
    monkeypatch.setitem(_FORK, "at", 1)   # the first fork: ffmpeg reading the clip
    monkeypatch.setitem(_FORK, "forks", 0)
    with single_thread():
        code = toolkit([str(a) for a in ("video", clip, "--style", ROOT / "images/style/starry_night.jpg",
                                         "--size", 64, "--steps", 3, "--later-steps", 2, "--out", out)])
    err = stderr_of(capsys)
    assert code == 128 + sig and "nothing was written" in err and "frame=" not in err, err
    assert not out.exists() and no_temporary_files(tmp_path)


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_training_keeps_the_model_and_its_checkpoint(sig, images, tmp_path, signal_at, shared_network, capsys):
    _, style = images
    out = tmp_path / "m.pt"
    signal_at(sig, 3)
    code = toolkit([str(a) for a in ("train-fast", "--style", style, "--data", photo_folder(tmp_path),
                                     "--steps", 100, "--batch", 1, "--train-size", 32, "--width", 4,
                                     "--res-blocks", 1, "--save-every", 50, "--precision", "fp32", "--out", out)])
    assert code == 128 + sig
    assert "continue with --resume" in stderr_of(capsys)
    assert load_checkpoint(out.with_suffix(".ckpt"))["step"] == 3
    assert johnson.load_model(out)[1]["trained_steps"] == 3
    assert json.loads(out.with_suffix(".json").read_text())["status"] == "interrupted"


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_trained_network_on_a_folder_names_what_it_kept(sig, images, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        write_png(folder / f"p{i}.png", structured(40, 48, seed=i))
    calls = {"n": 0}
    original = portable.PortableNet.stylize   # the shipped network runs its ONNX copy on a CPU

    def stylize(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            send(sig)
        return original(*args, **kwargs)
    monkeypatch.setattr(portable.PortableNet, "stylize", stylize)
    out = tmp_path / "out"
    code = toolkit(["fast", str(MODELS / "starry_night.pt"), "--content", str(folder), "--out", str(out)])
    assert code == 128 + sig
    assert stderr_of(capsys).strip().splitlines()[-1] == \
        f"interrupted; kept 2 finished files: {out / 'p0.png'}, {out / 'p0.json'}"
    assert sorted(p.name for p in out.iterdir()) == ["p0.json", "p0.png"]


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_any_painting_stopped_in_its_pass_writes_nothing(sig, images, tmp_path, monkeypatch, capsys):
    content, style = images
    calls = {"n": 0}
    original = wct_portable.PortableWCT.deepest   # WCT runs its ONNX bundle on a CPU: a photo's encodes

    def deepest(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:   # the picture's second level
            send(sig)
        return original(*args, **kwargs)
    monkeypatch.setattr(wct_portable.PortableWCT, "deepest", deepest)
    out = tmp_path / "out" / "x.png"
    code = toolkit(["adain", "--content", str(content), "--style", str(style), "--size", "48", "--out", str(out)])
    assert code == 128 + sig and calls["n"] == 2
    assert stderr_of(capsys).strip().splitlines() == ["interrupted; nothing was written"]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_report_keeps_its_finished_runs(sig, tmp_path, signal_at, shared_network, capsys):
    signal_at(sig, 3)
    code = toolkit(["report", "--ablate", "--part", "2", "--quick", "--out", str(tmp_path)])
    assert code == 128 + sig
    assert "interrupted: finished runs are kept under" in stderr_of(capsys)
    metas = [json.loads(p.read_text()) for p in (tmp_path / "results").rglob("*.json")]
    assert [m["status"] for m in metas if "status" in m] == ["interrupted"]


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_signal_while_loading_the_network_writes_nothing(sig, images, tmp_path, cnn, monkeypatch, capsys):
    content, style = images

    def load(*args, **kwargs):
        send(sig)
        return cnn
    monkeypatch.setattr(run, "load_vgg19", load)
    out = tmp_path / "out" / "x.png"
    assert run.main([str(a) for a in ("--content", content, "--style", style, "--size", 48, "--out", out)]) == 128 + sig
    assert stderr_of(capsys).strip().splitlines() == ["interrupted; nothing was written"]
    assert not (tmp_path / "out").exists()


def test_handlers_are_restored(images, tmp_path, shared_network):
    content, style = images
    before = {s: signal.getsignal(s) for s in SIGNALS}
    assert run.main([str(a) for a in ("--content", content, "--style", style, "--size", 48, "--steps", 1,
                                      "--out", tmp_path / "x.png")]) == 0
    assert {s: signal.getsignal(s) for s in SIGNALS} == before
