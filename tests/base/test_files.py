"""stylekit.base.files: atomic writes that never leave a half-written file or a stale sidecar,
outputs that cannot be written refused as input errors, strict JSON."""
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import structured
from stylekit.base import files
from stylekit.base.errors import InputError
from stylekit.base.files import read_json, sidecar_path, write_json
from utils import save_image


def temp_files(folder):
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


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


@pytest.mark.parametrize("exc", [OSError(28, "No space left on device"), KeyboardInterrupt()],
                         ids=["disk full", "Ctrl-C"])
@pytest.mark.parametrize("nth", [1, 2], ids=["image temp", "sidecar temp"])
def test_failed_save_of_a_new_output_leaves_nothing(tmp_path, monkeypatch, exc, nth):
    """Not even the folders made for it; a folder that was there stays."""
    (tmp_path / "there").mkdir()
    for out in (tmp_path / "new" / "deeper" / "out.png", tmp_path / "there" / "new" / "out.png"):
        monkeypatch.setattr(files.os, "fsync", failing_after(nth, exc, os.fsync))
        with pytest.raises(InputError if isinstance(exc, OSError) else KeyboardInterrupt):
            save_image(structured(8, 8), out, {"run": "new"})
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["there"]


def test_a_failed_atomic_write_leaves_no_folder_it_made(tmp_path, monkeypatch):
    monkeypatch.setattr(files.os, "fsync", failing_after(1, OSError(28, "No space left on device"), os.fsync))
    with pytest.raises(InputError, match="No space left on device"):
        files.atomic_write(tmp_path / "a" / "b" / "model.pt", b"weights")
    assert list(tmp_path.iterdir()) == []


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
    files.check_writable(tmp_path / "new" / "out.png")  # fine, and leaves nothing behind, not even the folder
    assert not (tmp_path / "new").exists() and temp_files(tmp_path) == []
    with pytest.raises(InputError, match="longer than 255 bytes"):
        files.check_writable(tmp_path / "new" / ("n" * 300 + ".png"))


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


@pytest.mark.parametrize("write", ["atomic_write", "write_image"])
def test_a_signal_between_two_lines_of_a_write_strands_no_temporary_file(write, tmp_path, monkeypatch):
    """A stopped `fast` batch left a `.NAME.png.xxxx.tmp` in 2 of 28 tries: the signal came
    between the temporary file's creation and the code that removes it. The write finishes,
    then the signal stops the command."""
    import signal
    from stylekit.base import interrupt
    real = files.write_temp

    def signal_after(path, data):
        tmp = real(path, data)
        os.kill(os.getpid(), signal.SIGTERM)   # the handler runs before this function returns
        return tmp
    monkeypatch.setattr(files, "write_temp", signal_after)
    out = tmp_path / "a.png"
    with interrupt.stop_on_signals():
        with pytest.raises(KeyboardInterrupt):
            if write == "atomic_write":
                files.atomic_write(out, b"bytes")
            else:
                files.write_image(Image.new("RGB", (4, 4)), out, {"x": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == (["a.png"] if write == "atomic_write" else ["a.json", "a.png"])
