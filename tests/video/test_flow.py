"""Optical flow, warp and reliability mask on a synthetic clip whose motion is known."""
import numpy as np
import pytest

from moving_clips import SHIFT, SIDE, X0, Y0, moving_square
from stylekit.video import flow


@pytest.fixture(scope="module")
def clip():
    frames = moving_square()
    return frames, flow.clip_motion(frames)


def test_flow_recovers_the_known_shift(clip):
    frames, motion = clip
    for t in range(1, len(frames)):
        x = X0 + t * SHIFT
        inside = motion[t].backward[Y0 + 6:Y0 + SIDE - 6, x + 6:x + SIDE - 6].reshape(-1, 2).mean(0)
        assert inside[0] == pytest.approx(-SHIFT, abs=0.5) and abs(inside[1]) < 0.5
        assert np.abs(motion[t].backward[:, -16:]).mean() < 0.3   # the background stays put
    fwd = flow.optical_flow(frames[0], frames[1])[Y0 + 6:Y0 + SIDE - 6, X0 + 6:X0 + SIDE - 6]
    assert fwd[..., 0].mean() == pytest.approx(SHIFT, abs=0.5)


def test_warp_and_mask(clip):
    frames, motion = clip
    for t in range(1, len(frames)):
        m = motion[t].mask
        assert m.shape == frames[t].shape[:2] and set(np.unique(m)) <= {0.0, 1.0}
        assert 0.6 < m.mean() < 1.0
        warped = flow.warp(frames[t - 1].astype(np.float32), motion[t].backward)
        err = np.abs(warped - frames[t]).mean(-1)
        unwarped = np.abs(frames[t - 1].astype(np.float32) - frames[t]).mean(-1)
        # Where the mask trusts the flow, the warped previous frame is the next frame.
        assert (err * m).sum() / m.sum() < 0.4 * (unwarped * m).sum() / m.sum()
        assert (err * m).sum() / m.sum() < 3.0   # grey levels out of 255
        # What cannot be warped (the background uncovered behind the square) is masked out.
        bad = err > 30
        assert bad.any() and (m[bad] == 0).all()
    assert flow.warp(frames[0], np.zeros((*frames[0].shape[:2], 2), np.float32)).tolist() == frames[0].tolist()


def test_reliability_flags_inconsistent_flow():
    h, w = 20, 30
    back = np.zeros((h, w, 2), np.float32)
    back[..., 0] = -2.0
    fwd = np.zeros((h, w, 2), np.float32)
    fwd[..., 0] = 2.0
    m = flow.reliability(back, fwd)
    assert m[:, 2:].all() and not m[:, :2].any()        # pointing outside the frame: unreliable
    fwd[5:10, 10:20, 0] = -2.0                            # forward and backward disagree there
    m = flow.reliability(back, fwd)
    assert not m[5:10, 13:20].any() and m[12:, 5:].all()


def test_warping_error_is_zero_for_a_still_clip():
    frames = [moving_square(n=1)[0]] * 3
    motion = flow.clip_motion(frames)
    assert all(m.mask.mean() > 0.9 for m in motion[1:])
    assert flow.warping_error(frames, motion) < 1e-3
