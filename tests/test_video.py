"""Video: flow, warp and reliability mask on a synthetic clip, the reader/writer round trip,
the temporal loss against frame by frame, and bad video input on the command line."""
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT
import run
from stylekit.settings import Settings
from stylekit.video import stylize as video
from style_and_content import TemporalLoss, build_model

SHIFT, SIDE, X0, Y0 = 3, 32, 12, 24


def moving_square(n=4, h=80, w=96, shift=SHIFT, seed=0):
    """A textured square moving `shift` px right per frame over a fixed textured background."""
    rng = np.random.default_rng(seed)
    background = cv2.GaussianBlur((rng.random((h, w, 3)) * 128).astype(np.uint8), (0, 0), 1.0)
    square = cv2.GaussianBlur((rng.random((SIDE, SIDE, 3)) * 255).astype(np.uint8), (0, 0), 1.0)
    frames = []
    for t in range(n):
        f = background.copy()
        f[Y0:Y0 + SIDE, X0 + t * shift:X0 + t * shift + SIDE] = square
        frames.append(f)
    return frames


@pytest.fixture(scope="module")
def clip():
    frames = moving_square()
    return frames, video.clip_motion(frames)


@pytest.fixture
def one_thread():
    """Tiny convolutions run no faster on two threads, and far slower on busy cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_flow_recovers_the_known_shift(clip):
    frames, motion = clip
    for t in range(1, len(frames)):
        x = X0 + t * SHIFT
        inside = motion[t].backward[Y0 + 6:Y0 + SIDE - 6, x + 6:x + SIDE - 6].reshape(-1, 2).mean(0)
        assert inside[0] == pytest.approx(-SHIFT, abs=0.5) and abs(inside[1]) < 0.5
        assert np.abs(motion[t].backward[:, -16:]).mean() < 0.3   # the background stays put
    fwd = video.optical_flow(frames[0], frames[1])[Y0 + 6:Y0 + SIDE - 6, X0 + 6:X0 + SIDE - 6]
    assert fwd[..., 0].mean() == pytest.approx(SHIFT, abs=0.5)


def test_warp_and_mask(clip):
    frames, motion = clip
    for t in range(1, len(frames)):
        m = motion[t].mask
        assert m.shape == frames[t].shape[:2] and set(np.unique(m)) <= {0.0, 1.0}
        assert 0.6 < m.mean() < 1.0
        warped = video.warp(frames[t - 1].astype(np.float32), motion[t].backward)
        err = np.abs(warped - frames[t]).mean(-1)
        unwarped = np.abs(frames[t - 1].astype(np.float32) - frames[t]).mean(-1)
        # Where the mask trusts the flow, the warped previous frame is the next frame.
        assert (err * m).sum() / m.sum() < 0.4 * (unwarped * m).sum() / m.sum()
        assert (err * m).sum() / m.sum() < 3.0   # grey levels out of 255
        # What cannot be warped (the background uncovered behind the square) is masked out.
        bad = err > 30
        assert bad.any() and (m[bad] == 0).all()
    assert video.warp(frames[0], np.zeros((*frames[0].shape[:2], 2), np.float32)).tolist() == frames[0].tolist()


def test_reliability_flags_inconsistent_flow():
    h, w = 20, 30
    back = np.zeros((h, w, 2), np.float32)
    back[..., 0] = -2.0
    fwd = np.zeros((h, w, 2), np.float32)
    fwd[..., 0] = 2.0
    m = video.reliability(back, fwd)
    assert m[:, 2:].all() and not m[:, :2].any()        # pointing outside the frame: unreliable
    fwd[5:10, 10:20, 0] = -2.0                            # forward and backward disagree there
    m = video.reliability(back, fwd)
    assert not m[5:10, 13:20].any() and m[12:, 5:].all()


def test_temporal_loss_module():
    target = torch.rand(1, 3, 8, 10)
    mask = torch.zeros(1, 1, 8, 10)
    mask[..., :5] = 1
    loss = TemporalLoss(target, mask)
    x = target.clone()
    x[..., 5:] += 0.5                          # different only where the mask is 0
    assert loss(x) is x and loss.loss.item() == 0
    x = target + 0.1
    assert loss(x) is x and loss.loss.item() == pytest.approx(0.01, rel=1e-4)  # mean over reliable pixels


def test_build_model_adds_temporal_before_the_vgg(cnn):
    img = torch.rand(1, 3, 32, 32)
    model, losses = build_model(cnn, img, img, temporal=(img, torch.ones(1, 1, 32, 32)))
    assert len(losses["temporal"]) == 1 and list(model.children())[0] is losses["temporal"][0]
    _, losses = build_model(cnn, img, img)
    assert losses["temporal"] == []


def test_stylize_init_image_and_temporal_arguments(cnn):
    from stylekit.optim.engine import stylize
    from stylekit.base.errors import InputError
    content, start = torch.rand(1, 3, 32, 40), torch.rand(1, 3, 32, 40)
    res = stylize(cnn, content, content, Settings(size=None, steps=1), init_image=start)
    assert torch.equal(res.image, start)        # the one evaluation is of the given image
    res = stylize(cnn, content, content, Settings(size=None, steps=2), init_image=start, temporal_target=start, temporal_mask=torch.ones(1, 1, 32, 40), temporal_weight=10.0)
    assert res.history[0]["temporal"] == 0 and "temporal" not in stylize(cnn, content, content, Settings(size=None, steps=1)).final
    with pytest.raises(InputError):
        stylize(cnn, content, content, Settings(size=None, steps=1), temporal_weight=1.0)


@pytest.mark.parametrize("kind", ["mp4", "gif", "folder", "avi"])
def test_reader_writer_round_trip(tmp_path, kind):
    frames = moving_square(n=5, h=64, w=80)
    if kind == "mp4":
        path = video.write_mp4(frames, tmp_path / "clip.mp4", fps=12)
    elif kind == "avi":
        import imageio.v2 as iio2
        path = tmp_path / "clip.avi"
        with iio2.get_writer(path, format="FFMPEG", fps=12, codec="mjpeg", quality=8, macro_block_size=2,
                             ffmpeg_log_level="error") as writer:
            for f in frames:
                writer.append_data(f)
    elif kind == "gif":
        path = video.write_gif(frames, tmp_path / "clip.gif", fps=10)
    else:
        path = tmp_path / "frames"
        path.mkdir()
        for i, f in enumerate(frames):  # numbered so that name order and number order differ
            Image.fromarray(f).save(path / f"f{i + 1}.png")
        (path / "notes.txt").write_text("not a frame")
    read = video.read_video(path, fps=12 if kind == "folder" else None)
    assert len(read.frames) == 5 and read.size == (80, 64)
    assert read.fps == pytest.approx(10 if kind == "gif" else 12)
    tolerance = {"folder": 0, "gif": 6}.get(kind, 12)          # GIF: 256 colours; video: lossy codecs
    for a, b in zip(read.frames, frames):
        assert np.abs(a.astype(int) - b).mean() <= tolerance
    if kind == "mp4":
        import imageio.v2 as iio2
        with iio2.get_reader(path, format="FFMPEG") as r:
            assert r.get_meta_data()["codec"] == "h264"
    assert len(video.read_video(path, max_frames=3, fps=12).frames) == 3


def test_fit_frames_even_sides():
    frames = [np.zeros((45, 61, 3), np.uint8)]
    assert video.fit_frames(frames, 32)[0].shape == (24, 32, 3)
    assert video.fit_frames(frames, None)[0].shape == (44, 60, 3)


def test_temporal_loss_lowers_the_warping_error(cnn, clip, one_thread):
    frames, motion = clip
    style = torch.from_numpy(np.asarray(Image.open(ROOT / "images/style/starry_night.jpg")
                                        .resize((80, 64)), np.float32) / 255).permute(2, 0, 1)[None]
    errors, distances = {}, {}
    for weight in (0.0, video.TEMPORAL_WEIGHT):
        res = video.stylize_video(cnn, frames, [style], Settings(steps=16), later_steps=6, temporal_weight=weight,
                                  motion=motion)
        assert res.status == "done" and len(res.frames) == len(frames) and res.evals == [16, 6, 6, 6]
        errors[weight] = video.warping_error(res.frames, motion)
        distances[weight] = video.style_distance(cnn, res.frames, style)
    assert errors[video.TEMPORAL_WEIGHT] < 0.6 * errors[0.0]
    assert distances[video.TEMPORAL_WEIGHT] < 1.25 * distances[0.0]


def test_cli_video(tmp_path, one_thread, capsys):
    src = video.write_mp4(moving_square(n=3, h=64, w=80), tmp_path / "in.mp4", fps=8)
    style = tmp_path / "style.png"
    Image.open(ROOT / "images/style/starry_night.jpg").resize((64, 52)).save(style)
    out = tmp_path / "out" / "styled.mp4"
    code = run.main([str(a) for a in ("--video", src, "--style", style, "--size", 64, "--steps", 8,
                                      "--later-steps", 3, "--out", out)])
    assert code == 0
    clip = video.read_video(out)
    assert len(clip.frames) == 3 and clip.size == (64, 50) and clip.fps == pytest.approx(8)  # even sides
    assert len(video.read_video(out.with_suffix(".gif")).frames) == 3
    assert Image.open(tmp_path / "out" / "styled_strip.png").height == 50
    import json
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["evals"] == [8, 3, 3] and meta["settings"]["temporal_weight"] == video.TEMPORAL_WEIGHT
    assert meta["warping_error"] > 0 and meta["style_distance"] > 0 and meta["seconds_per_frame"] > 0
    assert str(out) in capsys.readouterr().out


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
    style = ROOT / "images/style/starry_night.jpg"
    for name in _bad_inputs(tmp_path):
        code = run.main(["--video", str(tmp_path / name), "--style", str(style), "--size", "64",
                         "--out", str(tmp_path / "o.mp4")])
        err = capsys.readouterr().err
        assert code == 2, (name, err)
        assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), (name, err)
    assert not (tmp_path / "o.mp4").exists()
    code = run.main(["--video", str(tmp_path / "text.mp4"), "--out", str(tmp_path / "o.png")])
    assert code == 2 and "must end in .mp4" in capsys.readouterr().err


def test_bad_video_exit_code_from_the_shell(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "run.py"), "--video", str(tmp_path / "nope.mp4"),
                           "--out", str(tmp_path / "o.mp4")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [f"error: no such video: {tmp_path / 'nope.mp4'}"]
