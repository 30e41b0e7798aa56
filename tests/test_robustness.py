"""Issue 6, outputs and runs: atomic writes, refused outputs, Ctrl-C, NaN, determinism, and a
property-based test of the image loader."""
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image

from conftest import ROOT, structured
import run
import utils
from stylekit.base import files
from stylekit.base.images import tensor_to_pil
from stylekit.base.errors import InputError
from stylekit.base.images import open_image
from stylekit.base.files import read_json, sidecar_path, write_json
from utils import save_image


@pytest.fixture
def shared_network(cnn, monkeypatch):
    """The CLI loads VGG-19 on every call: hand it the session's copy instead."""
    monkeypatch.setattr(run, "load_vgg19", lambda weights, device: cnn)


def cli(*args):
    return run.main([str(a) for a in args])


def temp_files(folder):
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


# ---------------------------------------------------------------------------------------
# 3. Outputs
# ---------------------------------------------------------------------------------------

@pytest.fixture
def old_output(tmp_path):
    """An earlier result with its sidecar, and a different new image to save over it."""
    out = tmp_path / "res" / "out.png"
    save_image(structured(16, 24), out, {"run": "old"})
    return out, out.read_bytes(), sidecar_path(out).read_bytes(), structured(16, 24).flip(-1)


def failing_after(n, exc, real):
    """A stand-in for `real` whose n-th call (1-based) raises `exc`."""
    calls = []

    def fake(*args, **kwargs):
        calls.append(args)
        if len(calls) == n:
            raise exc
        return real(*args, **kwargs)
    return fake


@pytest.mark.parametrize("exc", [OSError(28, "No space left on device"), KeyboardInterrupt()],
                         ids=["disk full", "Ctrl-C"])
@pytest.mark.parametrize("nth", [1, 2], ids=["image temp", "sidecar temp"])
def test_failed_save_keeps_old_output(old_output, monkeypatch, exc, nth):
    """A failure once a temporary file is open: no new file, no temp file, the old pair intact."""
    out, old_png, old_json, new = old_output
    monkeypatch.setattr(files.os, "fsync", failing_after(nth, exc, os.fsync))
    with pytest.raises(InputError if isinstance(exc, OSError) else KeyboardInterrupt) as info:
        save_image(new, out, {"run": "new"})
    if isinstance(exc, OSError):
        assert str(info.value) == f"cannot write {out if nth == 1 else sidecar_path(out)}: No space left on device"
    assert out.read_bytes() == old_png and sidecar_path(out).read_bytes() == old_json
    assert sorted(p.name for p in out.parent.iterdir()) == ["out.json", "out.png"]


def test_failed_save_of_a_new_output_leaves_nothing(tmp_path, monkeypatch):
    out = tmp_path / "new" / "out.png"
    monkeypatch.setattr(files.os, "fsync", failing_after(1, KeyboardInterrupt(), os.fsync))
    with pytest.raises(KeyboardInterrupt):
        save_image(structured(8, 8), out, {"run": "new"})
    assert list(out.parent.iterdir()) == []


@pytest.mark.parametrize("exc", [OSError(5, "Input/output error"), KeyboardInterrupt()], ids=["I/O error", "Ctrl-C"])
@pytest.mark.parametrize("fails", ["image", "sidecar"])
def test_failed_rename_never_leaves_a_stale_sidecar(old_output, monkeypatch, fails, exc):
    """The image's rename fails: the old pair stays. The sidecar's fails after the image is in
    place: no sidecar, rather than the old one describing the new image."""
    out, old_png, old_json, new = old_output
    target = out if fails == "image" else sidecar_path(out)
    real = os.replace

    def replace(src, dst):
        if Path(dst) == target:
            raise exc
        return real(src, dst)
    monkeypatch.setattr(files.os, "replace", replace)
    with pytest.raises(InputError if isinstance(exc, OSError) else KeyboardInterrupt):
        save_image(new, out, {"run": "new"})
    if fails == "image":
        assert out.read_bytes() == old_png and sidecar_path(out).read_bytes() == old_json
    else:
        assert out.read_bytes() != old_png and not sidecar_path(out).exists()
    assert temp_files(out.parent) == []


def test_parent_folders_created_and_permissions_plain(tmp_path):
    old = os.umask(0o022)
    try:
        out = tmp_path / "a" / "b c" / "d" / "out.png"
        save_image(structured(8, 12), out, {"x": 1})
        assert Image.open(out).size == (12, 8) and read_json(sidecar_path(out)) == {"x": 1}
        assert out.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600
        assert sidecar_path(out).stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        save_image(structured(8, 12), out)
        assert out.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


def test_long_file_name(tmp_path):
    out = tmp_path / ("n" * 245 + ".png")  # 249 bytes: the temporary name must not exceed 255
    save_image(structured(8, 8), out, {"x": 1})
    assert out.exists() and sidecar_path(out).exists()


def test_unwritable_outputs_are_input_errors(tmp_path):
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(InputError, match=r"cannot write .*file.png/out.png: .*file.png is a file, not a folder"):
        save_image(structured(8, 8), tmp_path / "file.png" / "out.png")
    with pytest.raises(InputError, match="is a file, not a folder"):
        files.check_writable(tmp_path / "file.png" / "sub" / "out.png")
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(InputError, match=r"cannot write .*dir.png"):
        save_image(structured(8, 8), tmp_path / "dir.png")
    with pytest.raises(InputError, match="is a directory"):
        files.check_writable(tmp_path / "dir.png")
    assert temp_files(tmp_path) == [] and (tmp_path / "file.png").read_bytes() == b"x"
    files.check_writable(tmp_path / "new" / "out.png")  # fine, and leaves no file behind
    assert list((tmp_path / "new").iterdir()) == []


def test_json_is_strict_and_read_back_safely(tmp_path):
    path = write_json(tmp_path / "m.json", {"loss": float("nan"), "w": np.float32("inf"), "n": np.int64(3),
                                           "t": torch.tensor(0.5), "p": tmp_path / "été.png"})

    def refuse(name):
        raise ValueError(name)
    data = json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)
    assert data == {"loss": "nan", "w": "inf", "n": 3, "t": 0.5, "p": str(tmp_path / "été.png")}
    assert "été" in path.read_text(encoding="utf-8")  # readable UTF-8, not \u escapes
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "bad.json").write_bytes(b"\xff{")
    assert read_json(tmp_path / "list.json") is None and read_json(tmp_path / "bad.json") is None
    assert read_json(tmp_path / "missing.json") is None


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

MAGIC = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*",
         b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"P6\n", b"\x00\x00\x01\x00"]

# format -> modes Pillow writes in it
WRITABLE = {
    "PNG": ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"],
    "JPEG": ["L", "RGB", "CMYK"],
    "GIF": ["L", "P"],
    "BMP": ["1", "L", "P", "RGB", "RGBA"],
    "TIFF": ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F"],
    "WEBP": ["RGB", "RGBA"],
    "PPM": ["1", "L", "RGB", "I;16"],
    "TGA": ["L", "P", "RGB", "RGBA"],
    "QOI": ["RGB", "RGBA"],
}
FORMAT_MODES = [(f, m) for f, modes in WRITABLE.items() for m in modes]


def test_every_format_and_mode_is_writable_and_loads(scratch):
    """The table the property test draws from, checked in full once."""
    for fmt, mode in FORMAT_MODES:
        buf = io.BytesIO()
        Image.new(mode, (5, 3)).save(buf, fmt)
        scratch.write_bytes(buf.getvalue())
        assert open_image(scratch).size == (5, 3), (fmt, mode)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("property") / "case.img"


def check_loader(path):
    try:
        img = open_image(path)
    except InputError as exc:
        assert str(exc) and "\n" not in str(exc)
        return None
    assert isinstance(img, Image.Image) and img.mode == "RGB" and img.width >= 1 and img.height >= 1
    return img


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=st.sampled_from(MAGIC), body=st.binary(max_size=1500))
def test_random_bytes_give_an_image_or_input_error(prefix, body, scratch):
    data = prefix + body
    if not data:
        return
    scratch.write_bytes(data)
    check_loader(scratch)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fmt_mode=st.sampled_from(FORMAT_MODES), w=st.integers(1, 48), h=st.integers(1, 48),
       seed=st.integers(0, 2 ** 32 - 1), damage=st.sampled_from(["none", "truncate", "flip"]),
       where=st.floats(0, 1))
def test_random_images_load_or_fail_cleanly(fmt_mode, w, h, seed, damage, where, scratch):
    fmt, mode = fmt_mode
    rng = np.random.default_rng(seed)
    img = Image.new(mode, (w, h))
    img.frombytes(rng.integers(0, 256, len(img.tobytes()), dtype=np.uint8).tobytes())
    if mode == "P":
        img.putpalette(rng.integers(0, 256, 768, dtype=np.uint8).tobytes())
        if rng.random() < 0.5:
            img.info["transparency"] = int(rng.integers(0, 256))
    buf = io.BytesIO()
    img.save(buf, fmt, **({"transparency": img.info["transparency"]} if "transparency" in img.info else {}))
    data = bytearray(buf.getvalue())
    cut = int(where * (len(data) - 1))
    if damage == "truncate":
        data = data[:cut]
    elif damage == "flip":
        data[cut] ^= 0xFF
    scratch.write_bytes(bytes(data))
    got = check_loader(scratch)
    if damage == "none":
        assert got is not None and got.size == (w, h), (fmt, mode)
