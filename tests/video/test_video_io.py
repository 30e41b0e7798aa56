"""Reading and writing clips: the round trip through every kind of input, resizing, the stills
made from clips, and the demo clip."""
import numpy as np
import pytest
from PIL import Image

from moving_clips import moving_square
from stylekit.base.errors import InputError
from stylekit.video import io as vio


@pytest.mark.parametrize("kind", ["mp4", "gif", "folder", "avi"])
def test_reader_writer_round_trip(tmp_path, kind):
    frames = moving_square(n=5, h=64, w=80)
    if kind == "mp4":
        path = vio.write_mp4(frames, tmp_path / "clip.mp4", fps=12)
    elif kind == "avi":
        import imageio.v2 as iio2
        path = tmp_path / "clip.avi"
        with iio2.get_writer(path, format="FFMPEG", fps=12, codec="mjpeg", quality=8, macro_block_size=2,
                             ffmpeg_log_level="error") as writer:
            for f in frames:
                writer.append_data(f)
    elif kind == "gif":
        path = vio.write_gif(frames, tmp_path / "clip.gif", fps=10)
    else:
        path = tmp_path / "frames"
        path.mkdir()
        for i, f in enumerate(frames):  # numbered so that name order and number order differ
            Image.fromarray(f).save(path / f"f{i + 1}.png")
        (path / "notes.txt").write_text("not a frame")
    read = vio.read_video(path, fps=12 if kind == "folder" else None)
    assert len(read.frames) == 5 and read.size == (80, 64)
    assert read.fps == pytest.approx(10 if kind == "gif" else 12)
    tolerance = {"folder": 0, "gif": 6}.get(kind, 12)          # GIF: 256 colours; video: lossy codecs
    for a, b in zip(read.frames, frames):
        assert np.abs(a.astype(int) - b).mean() <= tolerance
    if kind == "mp4":
        import imageio.v2 as iio2
        with iio2.get_reader(path, format="FFMPEG") as r:
            assert r.get_meta_data()["codec"] == "h264"
    assert len(vio.read_video(path, max_frames=3, fps=12).frames) == 3


def test_frames_brought_to_a_size_have_even_sides(tmp_path):
    assert vio.fitted_frame_size(61, 45, 32) == (32, 24) and vio.fitted_frame_size(61, 45, None) == (60, 44)
    Image.fromarray(np.zeros((45, 61, 3), np.uint8)).save(tmp_path / "odd.gif")
    assert vio.read_video(tmp_path / "odd.gif", size=32).frames[0].shape == (24, 32, 3)


def test_max_pixels_refuses_large_frames(tmp_path):
    path = vio.write_mp4(moving_square(n=2, h=64, w=80), tmp_path / "clip.mp4", fps=12)
    with pytest.raises(InputError, match="more than the limit"):
        vio.read_video(path, max_pixels=1000)


@pytest.mark.parametrize("kind", ["mp4", "gif", "folder"])
def test_frames_are_checked_before_decoding_and_sized_as_read(tmp_path, kind):
    """Every frame was decoded at full size before any check: a 1.4 MB GIF of 9000x9000 frames
    took 12 GB. The checks now see the frames' size and count from the header first."""
    frames = moving_square(n=5, h=120, w=160)
    if kind == "mp4":
        path = vio.write_mp4(frames, tmp_path / "clip.mp4", fps=10)
    elif kind == "gif":
        path = vio.write_gif(frames, tmp_path / "clip.gif", fps=10)
    else:
        path = tmp_path / "frames"
        path.mkdir()
        for i, f in enumerate(frames):
            Image.fromarray(f).save(path / f"{i}.png")
    seen = []
    rate = {"mp4": 10, "gif": None, "folder": 12}[kind]   # a GIF's comes from its frames' times

    def refuse(width, height, count, fps):
        seen.append((width, height, count, fps))
        raise InputError("too much")
    with pytest.raises(InputError, match="too much"):
        vio.read_video(path, size=40, check=refuse)
    assert seen == [(40, 30, 5, rate)]
    clip = vio.read_video(path, size=40, check=lambda *a: seen.append(a))
    assert [f.shape for f in clip.frames] == [(30, 40, 3)] * 5 and seen[-1] == (40, 30, 5, rate)


def test_a_gif_frame_above_pillows_limit_is_held_to_max_pixels(tmp_path, monkeypatch):
    """A GIF past Pillow's own limit printed two lines of Pillow's warning before the error, and
    past twice the limit failed with "An unknown error occurred while initializing plugin"."""
    import warnings
    path = vio.write_gif(moving_square(n=3, h=64, w=80), tmp_path / "clip.gif", fps=10)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(vio.read_video(path, max_pixels=10 ** 6).frames) == 3
        with pytest.raises(InputError, match=r"have 80x64 = 5,120 pixels, more than the limit of 5,000"):
            vio.read_video(path, max_pixels=5000)
    assert Image.MAX_IMAGE_PIXELS == 1000


def test_a_gif_keeps_its_own_frame_times(tmp_path):
    """Only the first frame's time was read: 100, 500, 100 ms played as 100 ms each. The clip's
    rate is their mean (the mp4's), and a GIF written from its frames shows each for its time."""
    frames = [Image.fromarray(f) for f in moving_square(n=3, h=64, w=80)]
    frames[0].save(tmp_path / "slow.gif", save_all=True, append_images=frames[1:], duration=[100, 500, 100], loop=0)
    clip = vio.read_video(tmp_path / "slow.gif")
    assert clip.fps == pytest.approx(1000 / (700 / 3)) and clip.frame_ms == [100, 500, 100]
    out = vio.write_gif(clip.frames[:2], tmp_path / "out.gif", clip.fps, clip.frame_ms)   # cut short: its first two
    assert vio.read_video(out).frame_ms == [100, 500]
    assert vio.read_video(tmp_path / "slow.gif", fps=5).frame_ms is None   # a rate given is the user's
    even = vio.write_gif(clip.frames, tmp_path / "even.gif", 10)
    assert vio.read_video(even).frame_ms is None and vio.read_video(even).fps == pytest.approx(10)


def test_strip_and_sheet(tmp_path):
    frames = moving_square(n=8, h=64, w=80)
    s = vio.strip(frames, count=3, gap=4)
    assert s.shape == (64, 3 * 80 + 2 * 4, 3) and (s[:, 80:84] == 255).all()
    assert s[:, :80].tolist() == frames[0].tolist() and s[:, -80:].tolist() == frames[-1].tolist()
    a = vio.write_gif(frames, tmp_path / "a.gif", fps=10)
    b = vio.write_gif(frames[:2], tmp_path / "b.gif", fps=10)
    out = vio.sheet([a, b], tmp_path / "sheet.png", count=3)
    assert Image.open(out).size == (248, 64 + 4 + 64)   # the shorter row padded to the width


def test_make_demo_pans_across_the_photo(tmp_path):
    path = vio.make_demo(tmp_path / "demo.mp4", frames=3, size=(64, 48))
    clip = vio.read_video(path)
    assert len(clip.frames) == 3 and clip.size == (64, 48) and clip.fps == pytest.approx(12)
    assert np.abs(clip.frames[0].astype(int) - clip.frames[-1]).mean() > 5   # it moves


# A disk that refuses more than 4 KB (the file-size limit, inherited by ffmpeg, stands in for
# a full disk): the writers must say so in one line and leave no file under the output's name.
# ffmpeg reported such a failure only in its log, and a 4 KB mp4 without its index was renamed
# into place.
_SMALL_DISK = """
import resource, signal, sys
from pathlib import Path
from moving_clips import moving_square
from stylekit.base.errors import InputError
from stylekit.video import io as vio
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # writes past the limit fail with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
writer = {"mp4": vio.write_mp4, "gif": vio.write_gif}[sys.argv[1]]
try:
    writer(moving_square(n=12, h=96, w=128), Path(sys.argv[2]), 12)
except InputError as exc:
    print(exc)
    sys.exit(2)
"""


@pytest.mark.parametrize("kind", ["mp4", "gif"])
def test_a_refused_write_leaves_no_file(tmp_path, kind):
    import os
    import subprocess
    import sys
    from pathlib import Path
    out = tmp_path / f"clip.{kind}"
    tests = Path(__file__).parent
    done = subprocess.run([sys.executable, "-c", _SMALL_DISK, kind, str(out)], capture_output=True, text=True,
                          cwd=tests.parent.parent, env={**os.environ, "PYTHONPATH": f"{tests}:{tests.parent.parent}"},
                          timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stdout.startswith(f"cannot write {out}") and done.stdout.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
