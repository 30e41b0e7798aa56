"""A synthetic clip whose motion is known, shared by the video tests (not a test module)."""
import contextlib

import cv2
import numpy as np
import torch

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


@contextlib.contextmanager
def single_thread():
    """Tiny convolutions run no faster on two threads, and far slower on busy cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
