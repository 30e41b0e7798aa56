"""Files out: atomic writes (never a half-written file), images with JSON sidecars, torch files.
Torch-free: torch is imported only to save a torch object."""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from PIL import Image

from .errors import InputError, reason
from .interrupt import held, note_written


def _umask() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def cannot_write(path: Path, exc: BaseException) -> InputError:
    for parent in path.parents:  # 'results/x.png/out.png' where results/x.png is a file
        if parent.exists():
            if not parent.is_dir():
                return InputError(f"cannot write {path}: {parent} is a file, not a folder")
            break
    return InputError(f"cannot write {path}: {reason(exc)}")


def write_temp(path: Path, data: bytes) -> Path:
    """`data` in a new temporary file beside `path` (folders created), on disk; its path.

    Permissions are those of a plain new file (umask), not mkstemp's private 0600.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:80]}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise cannot_write(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise cannot_write(path, exc) from None
        raise
    return Path(tmp)


def commit(tmp: Path, path: Path) -> None:
    """Rename a finished temporary file onto `path` (atomic on POSIX); the caller cleans up."""
    try:
        os.replace(tmp, path)
    except OSError as exc:
        raise cannot_write(path, exc) from None
    note_written(path)  # an interrupted command names the files it finished


def move_aside(path: Path) -> Path | None:
    """Rename an existing file to a temporary name beside it (None if there is none)."""
    if not os.path.lexists(path):
        return None
    if path.is_dir():
        raise InputError(f"cannot write {path}: it is a directory")
    try:
        fd, aside = tempfile.mkstemp(prefix=f".{path.name[:80]}.", suffix=".old.tmp", dir=path.parent)
        os.close(fd)
        os.replace(path, aside)
    except OSError as exc:
        raise cannot_write(path, exc) from None
    return Path(aside)


def sync_dir(folder: Path) -> None:
    """Make renames in `folder` durable (best effort)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def _folders_undone(folder: Path):
    """The folders above a file (`folder` included) that a write is about to make are removed
    again, if empty, when the write fails: a run that wrote nothing leaves no folder."""
    made = []
    try:
        for candidate in (folder, *folder.parents):
            if os.path.lexists(candidate):
                break
            made.append(candidate)
    except OSError:
        made = []
    try:
        yield
    except BaseException:
        for candidate in made:   # the deepest first
            try:
                candidate.rmdir()
            except OSError:
                break
        raise


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename: never a half-written file.

    Raises InputError (one line) when the file cannot be written.
    """
    path = Path(path)
    with _folders_undone(path.parent), held():
        tmp = write_temp(path, data)
        try:
            commit(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)  # still there only if the rename failed
    sync_dir(path.parent)


def save_torch(obj, path: str | os.PathLike) -> Path:
    """`torch.save` with the same atomic write as the images: never a half-written model."""
    import torch
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write(Path(path), buffer.getvalue())
    return Path(path)


def write_image(pil: Image.Image, path: str | os.PathLike, meta: dict | None = None) -> Path:
    """Write a PNG (or JPEG, by suffix) atomically, and its JSON sidecar if `meta` is given.

    An interrupted run never leaves a half-written file: each is written to a temporary file
    in the same folder and renamed into place. A failure (or Ctrl-C) before the image is in
    place leaves the old image and sidecar as they were; after it, there is no sidecar
    rather than an old one: a sidecar never describes another image.
    Raises InputError when the files cannot be written.
    """
    path = Path(path)
    buf = io.BytesIO()
    fmt = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"
    if fmt == "JPEG" and pil.mode not in ("RGB", "L"):
        pil = pil.convert("RGB")
    pil.save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    side = sidecar_path(path) if meta is not None else None
    meta_bytes = json_bytes(meta) if meta is not None else None
    with _folders_undone(path.parent), held():
        _write_pair(path, buf.getvalue(), side, meta_bytes)
    sync_dir(path.parent)
    return path


def _write_pair(path: Path, data: bytes, side: Path | None, meta_bytes: bytes | None) -> None:
    temps: list[Path] = []
    old_side = None
    try:
        temps.append(write_temp(path, data))
        if side is not None:
            temps.append(write_temp(side, meta_bytes))
            old_side = move_aside(side)
        commit(temps[0], path)
        if side is not None:
            commit(temps[1], side)
    except BaseException:
        image_in_place = bool(temps) and not temps[0].exists()
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        if old_side is not None and not image_in_place:
            try:
                os.replace(old_side, side)  # the old image stays, and so does its sidecar
            except OSError:
                pass
        raise
    finally:
        if old_side is not None:
            old_side.unlink(missing_ok=True)


def check_writable(path: str | os.PathLike) -> None:
    """Raise InputError now if `path` could not be written later. Creates nothing: no folder
    is left behind for a run that is refused later for another reason.

    For callers to run before a long computation whose result goes to `path`: the names must
    fit the file system, and the nearest existing folder above must take a new file (tried
    with a temporary file, removed at once).
    """
    path = Path(path)
    try:
        is_dir = path.is_dir()
    except OSError:   # a name too long for the file system: said below
        is_dir = False
    if is_dir:
        raise InputError(f"output {path} is a directory")
    existing = next((p for p in path.parents if os.path.lexists(p)), Path("."))
    if not existing.is_dir():
        raise InputError(f"cannot write {path}: {existing} is a file, not a folder")
    try:
        longest = os.pathconf(existing, "PC_NAME_MAX")
    except (OSError, ValueError):
        longest = 255
    for part in path.relative_to(existing).parts if path.is_absolute() == existing.is_absolute() else path.parts:
        if len(os.fsencode(part)) > longest:
            raise InputError(f"cannot write {path}: the name {part[:40]}... is longer than {longest} bytes")
    with held():   # a new file in the nearest existing folder, removed at once, signal or not
        try:
            fd, probe = tempfile.mkstemp(prefix=f".{path.name[:80]}.", suffix=".tmp", dir=existing)
        except OSError as exc:
            raise cannot_write(path, exc) from None
        os.close(fd)
        os.unlink(probe)


def sidecar_path(image_path: str | os.PathLike) -> Path:
    return Path(image_path).with_suffix(".json")


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path) or type(value).__name__ == "device":   # torch.device, without importing torch
        return str(value)
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:   # a numpy or torch scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN or Infinity
    return value


def json_bytes(data: dict) -> bytes:
    text = json.dumps(_jsonable(data), indent=2, allow_nan=False, default=str, ensure_ascii=False)
    # UTF-8, readable; a file name that is not valid UTF-8 keeps its JSON \udcXX escapes.
    return (text + "\n").encode("utf-8", "backslashreplace")


def file_sha256(path: str | os.PathLike) -> str:
    with open(path, "rb") as f:   # in chunks: an input may be any file, however large
        return hashlib.file_digest(f, "sha256").hexdigest()


def write_json(path: str | os.PathLike, data: dict) -> Path:
    path = Path(path)
    atomic_write(path, json_bytes(data))
    return path


def read_json(path: str | os.PathLike) -> dict | None:
    """A JSON object from a file, or None if it is missing, unreadable or not an object."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


