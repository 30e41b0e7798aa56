"""The temporal loss (the module, its place in the model, the engine's arguments for it) and a
clip stylised with it against frame by frame."""
import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT
from moving_clips import moving_square, single_thread
from style_and_content import TemporalLoss, build_model
from stylekit.settings import Settings
from stylekit.video import flow
from stylekit.video import stylize as video


@pytest.fixture(scope="module")
def clip():
    frames = moving_square()
    return frames, flow.clip_motion(frames)


@pytest.fixture
def one_thread():
    with single_thread():
        yield


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


def test_default_later_steps():
    assert video.default_later_steps(2) == 1 and video.default_later_steps(100) == 40
    assert video.default_later_steps(1) == 1          # never 0: every later frame gets a step


def test_frame_tensor_round_trip():
    frame = moving_square(n=1, h=64, w=80)[0]
    t = video.to_tensor(frame)
    assert t.shape == (1, 3, 64, 80) and t.dtype == torch.float32 and float(t.max()) <= 1
    assert video.to_frame(t).tolist() == frame.tolist()


def test_temporal_loss_lowers_the_warping_error(cnn, clip, one_thread):
    frames, motion = clip
    style = torch.from_numpy(np.asarray(Image.open(ROOT / "images/style/starry_night.jpg")
                                        .resize((80, 64)), np.float32) / 255).permute(2, 0, 1)[None]
    errors, distances = {}, {}
    for weight in (0.0, video.TEMPORAL_WEIGHT):
        res = video.stylize_video(cnn, frames, [style], Settings(steps=16), later_steps=6, temporal_weight=weight,
                                  motion=motion)
        assert res.status == "done" and len(res.frames) == len(frames) and res.evals == [16, 6, 6, 6]
        errors[weight] = flow.warping_error(res.frames, motion)
        distances[weight] = video.style_distance(cnn, res.frames, style)
    assert errors[video.TEMPORAL_WEIGHT] < 0.6 * errors[0.0]
    assert distances[video.TEMPORAL_WEIGHT] < 1.25 * distances[0.0]
    summary = video.summary(cnn, res, motion, [style])
    assert summary["warping_error"] == pytest.approx(errors[video.TEMPORAL_WEIGHT])
    assert summary["evals"] == [16, 6, 6, 6] and 0 < summary["reliable_fraction"] < 1
