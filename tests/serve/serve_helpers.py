"""What the web app's tests share: an app around one runner (the VGG-19 loaded once per session),
a test client, tiny images, and waiting for a job."""
from __future__ import annotations

import contextlib
import io
import time
import warnings

import numpy as np
from PIL import Image

from conftest import photo

with warnings.catch_warnings():
    warnings.simplefilter("ignore")   # starlette's note that httpx has a successor (httpx 0.28 is pinned)
    from fastapi.testclient import TestClient

from stylekit.serve.app import create_app
from stylekit.serve.runners import Catalogue, Runner

BASE = "http://127.0.0.1"
FINISHED = ("done", "failed", "cancelled")
_shared: dict = {}


def shared_runner() -> Runner:
    """One runner for every test that runs real jobs: its networks load once."""
    if "runner" not in _shared:
        _shared["runner"] = Runner(Catalogue(), "cpu", preview_every=2)
    return _shared["runner"]


@contextlib.contextmanager
def client(runner=None, **kwargs):
    """A test client of a fresh app (its own queue), closed (jobs cancelled) on the way out."""
    app = create_app(runner=runner or shared_runner(), **kwargs)
    with TestClient(app, base_url=BASE) as c:
        c.app_state = app.state
        yield c


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def photo_png(w=64, h=48) -> bytes:
    return png(photo(w, h))


def painting_png(side=56, seed=1) -> bytes:
    rng = np.random.default_rng(seed)
    stripes = np.zeros((side, side, 3), np.uint8)
    stripes[:, :, 0] = (np.arange(side)[None, :] % 8 < 4) * 220
    stripes[:, :, 2] = rng.integers(0, 255, (side, side))
    return png(Image.fromarray(stripes))


def files(content: bytes | None = None, *styles: bytes, content_name="photo.png") -> list:
    out = []
    if content is not None:
        out.append(("content", (content_name, content, "image/png")))
    out += [("style", (f"painting{i}.png", s, "image/png")) for i, s in enumerate(styles)]
    return out


def wait(c, job_id: str, until=FINISHED, timeout: float = 120.0, every: float = 0.02) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = c.get(f"/api/jobs/{job_id}").json()
        if status["status"] in until:
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {status['status']} after {timeout} s: {status}")
        time.sleep(every)


def decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img
