"""run.py's runs: refused outputs, Ctrl-C, NaN, determinism."""
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT
import run
import utils
from stylekit.base.images import tensor_to_pil


@pytest.fixture
def shared_network(cnn, monkeypatch):
    """The CLI loads VGG-19 on every call: hand it the session's copy instead."""
    monkeypatch.setattr(run, "load_vgg19", lambda weights, device: cnn)


def cli(*args):
    return run.main([str(a) for a in args])




# ---------------------------------------------------------------------------------------
# 3. Outputs
# ---------------------------------------------------------------------------------------



















@pytest.mark.parametrize("target", ["content", "style", "content via ..", "content via a symlink"])
def test_output_equal_to_an_input_refused(target, tiny_images, tmp_path, capsys, shared_network):
    content, style = tiny_images
    before = {p: p.read_bytes() for p in (content, style)}
    (tmp_path / "sub").mkdir()
    out = {"content": content, "style": style, "content via ..": tmp_path / "sub" / ".." / content.name,
           "content via a symlink": tmp_path / "link.png"}[target]
    if target.endswith("symlink"):
        out.symlink_to(content)
    assert cli("--content", content, "--style", style, "--size", 32, "--steps", 2, "--out", out) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: output ") and "would overwrite the input image" in err and "\n" not in err
    assert {p: p.read_bytes() for p in before} == before
    assert not content.with_suffix(".json").exists() and not style.with_suffix(".json").exists()


def test_output_under_a_file_refused(tiny_images, tmp_path, capsys, shared_network):
    content, style = tiny_images
    (tmp_path / "notes.txt").write_text("keep me")
    out = tmp_path / "notes.txt" / "out.png"
    assert cli("--content", content, "--style", style, "--size", 32, "--steps", 2, "--out", out) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines()[-1] == f"error: cannot write {out}: {tmp_path / 'notes.txt'} is a file, not a folder"
    assert "Traceback" not in err and (tmp_path / "notes.txt").read_text() == "keep me"


def test_output_under_a_file_refused_before_any_work(tiny_images, tmp_path, capsys, shared_network):
    content, style = tiny_images
    (tmp_path / "notes.txt").write_text("keep me")
    assert cli("--content", content, "--style", style, "--size", 32, "--steps", 2,
               "--out", tmp_path / "notes.txt" / "out.png") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot write") and "\n" not in err, err  # no progress bar first


# ---------------------------------------------------------------------------------------
# 4. Ctrl-C on a real run
# ---------------------------------------------------------------------------------------

def test_sigint_saves_best_image_and_exits_130(tiny_images, tmp_path):
    content, style = tiny_images
    out = tmp_path / "interrupted.png"
    proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "--part", "3", "--content", str(content),
                             "--style", str(style), "--size", "64", "--steps", "100000", "--out", str(out)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = bytearray()

    def read_stderr():
        for chunk in iter(lambda: proc.stderr.read1(4096), b""):
            err.extend(chunk)
    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while not re.search(rb"\b[2-9]/100000|\b\d{2,}/100000", err):  # a few evaluations done
            assert proc.poll() is None and time.monotonic() < deadline, bytes(err).decode(errors="replace")
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        proc.wait(timeout=20)
        waited = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(10)  # the reader alone reads stderr, up to its end
    stdout = proc.stdout.read()
    text = bytes(err).decode(errors="replace")
    assert proc.returncode == 130, text
    assert waited < 10, waited  # a couple of seconds: one evaluation, the saves and the loss plot
    assert "Traceback" not in text and "interrupted: the best image so far is in" in text
    meta = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert meta["status"] == "interrupted" and meta["evals"] >= 2
    assert Image.open(out).size == (64, 48)
    assert str(out).encode() in stdout


# ---------------------------------------------------------------------------------------
# 5. NaN from an absurd weight
# ---------------------------------------------------------------------------------------

def test_nan_loss_keeps_last_finite_image_and_names_the_weight(tiny_images, tmp_path, capsys, shared_network):
    content, style = tiny_images
    out = tmp_path / "nan.png"
    assert cli("--content", content, "--style", style, "--size", 32, "--steps", 5, "--style-weight", "1e300",
               "--out", out) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: the loss became") and "--style-weight (now 1e+300)" in err, err
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["status"] == "nan" and meta["evals"] == 0
    # the last finite image: here the start, the content image itself
    start = tensor_to_pil(utils.load_image(content, 32))
    assert np.array_equal(np.asarray(Image.open(out).convert("RGB")), np.asarray(start))


# ---------------------------------------------------------------------------------------
# 6. Determinism
# ---------------------------------------------------------------------------------------

def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("init", ["content", "noise"])
def test_same_command_same_bytes(init, tiny_images, tmp_path, shared_network):
    content, style = tiny_images
    args = ["--content", content, "--style", style, "--size", 32, "--steps", 4, "--init", init, "--seed", 7]
    outs = [tmp_path / f"run{i}.png" for i in range(2)]
    for out in outs:
        assert cli(*args, "--out", out) == 0
    assert digest(outs[0]) == digest(outs[1])
    if init == "noise":  # a fresh process, same thread count: the same bytes again
        env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
        fresh = tmp_path / "fresh.png"
        subprocess.run([sys.executable, str(ROOT / "run.py"), *map(str, args), "--out", str(fresh)],
                       env=env, cwd=tmp_path, check=True, capture_output=True)
        assert digest(fresh) == digest(outs[0])
        assert json.loads(fresh.with_suffix(".json").read_text())["threads"] == torch.get_num_threads()
        # and another seed gives another picture
        assert cli(*args[:-1], 8, "--out", tmp_path / "other.png") == 0
        assert digest(tmp_path / "other.png") != digest(outs[0])


# ---------------------------------------------------------------------------------------
# 7. Property: the loader returns an RGB image or raises InputError, nothing else
# ---------------------------------------------------------------------------------------












