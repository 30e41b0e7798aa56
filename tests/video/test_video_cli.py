"""The video commands: a clip stylised end to end, every output checked before the work, bad
video input (one `error:` line, exit 2), video-demo and video-sheet, and `python -m video`."""
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT
import run
from moving_clips import moving_square, single_thread
from stylekit.base.errors import InputError
from stylekit.cli.main import main as toolkit
from stylekit.cli.video import legacy_argv
from stylekit.video import io as vio
from stylekit.video.stylize import TEMPORAL_WEIGHT

STYLE = ROOT / "images/style/starry_night.jpg"


@pytest.fixture
def one_thread():
    with single_thread():
        yield


def test_a_gifs_own_frame_times_reach_the_gif_made_of_it(tmp_path, one_thread):
    frames = [Image.fromarray(f) for f in moving_square(n=3, h=64, w=80)]
    src = tmp_path / "pause.gif"
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=[100, 600, 200], loop=0)
    out = tmp_path / "out" / "styled.mp4"
    assert toolkit([str(a) for a in ("video", src, "--style", STYLE, "--size", 64, "--steps", 4,
                                     "--later-steps", 2, "--out", out)]) == 0
    assert vio.read_video(out.with_suffix(".gif")).frame_ms == [100, 600, 200]
    assert vio.read_video(out).fps == pytest.approx(1000 / 300, abs=0.01)   # the mp4: one rate, their mean
    assert json.loads(out.with_suffix(".json").read_text())["frame_ms"] == [100, 600, 200]


def test_cli_video(tmp_path, one_thread, capsys, monkeypatch):
    src = vio.write_mp4(moving_square(n=3, h=64, w=80), tmp_path / "in.mp4", fps=8)
    style = tmp_path / "style.png"
    Image.open(STYLE).resize((64, 52)).save(style)
    out = tmp_path / "out" / "styled.mp4"
    code = run.main([str(a) for a in ("--video", src, "--style", style, "--size", 64, "--steps", 8,
                                      "--later-steps", 3, "--out", out)])
    assert code == 0
    clip = vio.read_video(out)
    assert len(clip.frames) == 3 and clip.size == (64, 50) and clip.fps == pytest.approx(8)  # even sides
    assert len(vio.read_video(out.with_suffix(".gif")).frames) == 3
    assert Image.open(tmp_path / "out" / "styled_strip.png").height == 50
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["evals"] == [8, 3, 3] and meta["settings"]["temporal_weight"] == TEMPORAL_WEIGHT
    assert meta["settings"]["hist_layers"] == []   # as run.py records a loss that is off
    assert meta["warping_error"] > 0 and meta["style_distance"] > 0 and meta["seconds_per_frame"] > 0
    assert str(out) in capsys.readouterr().out

    # The mp4 refused (a full disk): the earlier run stays whole, its record, GIF and strip included.
    def full_disk(frames, path, fps, frame_ms=None):
        raise InputError(f"cannot write {path}: the disk is full")
    again = [str(a) for a in ("--video", src, "--style", style, "--size", 64, "--steps", 8, "--later-steps", 2,
                              "--out", out)]
    monkeypatch.setattr("stylekit.cli.video.write_mp4", full_disk)
    assert run.main(again) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert errors == [f"error: cannot write {out}: the disk is full"]
    assert json.loads(out.with_suffix(".json").read_text())["evals"] == [8, 3, 3]
    assert out.with_suffix(".gif").exists() and (tmp_path / "out" / "styled_strip.png").exists()
    monkeypatch.undo()
    # The GIF refused after the mp4 (a full disk): the frames and their record stay, the error says
    # where, and the earlier run's GIF and strip, which show another clip, are gone.
    monkeypatch.setattr("stylekit.cli.video.write_gif", full_disk)
    code = run.main(again)
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 2 and err == [f"error: cannot write {out.with_suffix('.gif')}: the disk is full; "
                                 f"the 3 frames are in styled.mp4, styled.json"]
    assert json.loads(out.with_suffix(".json").read_text())["evals"] == [8, 2, 2]
    assert len(vio.read_video(out).frames) == 3
    assert not out.with_suffix(".gif").exists() and not (tmp_path / "out" / "styled_strip.png").exists()


def _bad_inputs(tmp_path):
    (tmp_path / "text.mp4").write_text("this is not a video\n" * 20)
    (tmp_path / "empty.avi").write_bytes(b"")
    (tmp_path / "no_frames").mkdir()
    (tmp_path / "no_frames" / "readme.txt").write_text("x")
    Image.new("RGB", (40, 40)).save(tmp_path / "still.png")
    # A valid container with no video stream: the frames are what is missing.
    import imageio_ffmpeg
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i",
                    "anullsrc=r=8000:cl=mono", "-t", "0.2", str(tmp_path / "audio_only.mp4")], check=True)
    return ["missing.mp4", "text.mp4", "empty.avi", "no_frames", "still.png", "audio_only.mp4"]


def test_bad_video_input_exits_2_with_one_line(tmp_path, capsys):
    for name in _bad_inputs(tmp_path):
        code = run.main(["--video", str(tmp_path / name), "--style", str(STYLE), "--size", "64",
                         "--out", str(tmp_path / "o.mp4")])
        err = capsys.readouterr().err
        assert code == 2, (name, err)
        assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), (name, err)
    assert not (tmp_path / "o.mp4").exists()
    code = run.main(["--video", str(tmp_path / "text.mp4"), "--out", str(tmp_path / "o.png")])
    assert code == 2 and "must end in .mp4 for a video, not 'o.png'" in capsys.readouterr().err
    # in words that fit `python -m stylekit video` as well as run.py --video (it has no --video flag)
    code = toolkit(["video", str(tmp_path / "still.png"), "--style", str(STYLE), "--out", str(tmp_path / "o.mp4")])
    assert code == 2 and "still.png is a single image; a video is read from a video file" in capsys.readouterr().err


def test_a_frame_rate_the_file_does_not_tell_is_asked_for(tmp_path, capsys):
    """ffmpeg writes 1000 fps as "1k fps", which reads as 0: the clip came out at 12 fps, silently."""
    clip = vio.write_mp4(moving_square(n=3, h=64, w=80), tmp_path / "fast.mp4", fps=1000)
    out = tmp_path / "new" / "o.mp4"
    code = toolkit(["video", str(clip), "--style", str(STYLE), "--size", "32", "--out", str(out)])
    assert code == 2 and capsys.readouterr().err == (f"error: {clip} does not tell its frame rate in a form that "
                                                     f"can be read: pass --fps\n")
    assert not out.parent.exists() and vio.read_video(clip, fps=25).fps == 25


def test_a_frame_rate_out_of_range_is_refused_before_decoding(tmp_path, capsys, monkeypatch):
    """A 600-frame 1080p clip at 120 fps was decoded whole (23 s) before its rate was refused."""
    clip = vio.write_mp4(moving_square(n=3, h=64, w=80), tmp_path / "fast.mp4", fps=120)
    decoded = []
    real = np.asarray
    monkeypatch.setattr(vio.np, "asarray", lambda *a, **k: decoded.append(1) or real(*a, **k))
    code = toolkit(["video", str(clip), "--style", str(STYLE), "--size", "32", "--out", str(tmp_path / "o.mp4")])
    assert code == 2 and capsys.readouterr().err.startswith(f"error: {clip} runs at 120 fps, and the GIF")
    assert decoded == []


def test_no_warping_error_when_no_pixel_can_be_followed():
    """Flat frames of changing brightness: "warping error nan" on the screen, "nan" in the JSON."""
    from stylekit.video.flow import clip_motion, warping_error
    flat = [np.full((32, 32, 3), v, np.uint8) for v in (20, 128, 240)]
    assert warping_error(flat, clip_motion(flat)) is None
    still = [flat[1]] * 3
    assert warping_error(still, clip_motion(still)) == 0


def test_bad_video_exit_code_from_the_shell(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "run.py"), "--video", str(tmp_path / "nope.mp4"),
                           "--out", str(tmp_path / "o.mp4")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [f"error: no such video: {tmp_path / 'nope.mp4'}"]


def test_every_output_is_checked_before_the_work(tmp_path, capsys):
    src = vio.write_gif(moving_square(n=2, h=64, w=80), tmp_path / "clip.gif", fps=8)
    before = src.read_bytes()
    # OUT.gif would be the input clip itself.
    code = toolkit(["video", str(src), "--size", "32", "--steps", "1", "--out", str(tmp_path / "clip.mp4")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "would overwrite the input" in err, err
    assert src.read_bytes() == before and not (tmp_path / "clip.mp4").exists()
    # OUT.json cannot be written (a folder is in the way): refused before any frame.
    (tmp_path / "a.json").mkdir()
    code = toolkit(["video", str(src), "--size", "32", "--steps", "1", "--out", str(tmp_path / "a.mp4")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "a.json" in err, err
    assert not (tmp_path / "a.mp4").exists() and not (tmp_path / "a.gif").exists()


def test_video_demo_and_sheet(tmp_path, capsys):
    demo = tmp_path / "demo.mp4"
    assert toolkit(["video-demo", str(demo)]) == 0
    clip = vio.read_video(demo)
    assert len(clip.frames) == 24 and clip.size == (320, 240) and clip.fps == pytest.approx(12)
    still = tmp_path / "sheet.png"
    assert toolkit(["video-sheet", str(still), str(demo), str(demo), "--size", "32"]) == 0
    w, h = Image.open(still).size
    assert h == 2 * 24 + 4 and w == 6 * 32 + 5 * 4
    assert str(still) in capsys.readouterr().out
    assert toolkit(["video-demo", str(tmp_path / "demo.gif")]) == 2
    assert toolkit(["video-sheet", str(still), str(tmp_path / "missing.mp4")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err)


def test_legacy_argv():
    assert legacy_argv(["--make-demo", "d.mp4"]) == ["video-demo", "--", "d.mp4"]
    assert legacy_argv(["--sheet", "o.png", "a.mp4", "b.mp4", "--size", "32"]) == \
        ["video-sheet", "--size", "32", "--", "o.png", "a.mp4", "b.mp4"]
    assert legacy_argv(["--make-demo=-d.mp4"]) == ["video-demo", "--", "-d.mp4"]   # a path, not a flag
    for argv in ([], ["--sheet", "o.png"], ["--make-demo", "d.mp4", "--sheet", "o.png", "a.mp4"], ["--nope"]):
        with pytest.raises(InputError):
            legacy_argv(argv)


def test_python_m_video(tmp_path):
    """The old entry point: bad input is one `error:` line and exit 2, never a usage block."""
    def run_module(*args):
        return subprocess.run([sys.executable, "-m", "video", *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)
    proc = run_module()
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("error: ") and "usage" not in proc.stderr
    missing = tmp_path / "missing.mp4"
    proc = run_module("--sheet", str(tmp_path / "o.png"), str(missing), "--size", "32")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [f"error: no such video: {missing}"]
    assert not (tmp_path / "o.png").exists()

