"""Before a run starts: every file it will write, checked against its inputs and the file system.

A front end lists what its run writes (the picture, its sidecar, the loss plot, snapshots,
GIFs, strips, checkpoints) and what it reads, and calls `check_plan` before it loads or
computes anything. A plan is refused, with one InputError line, when one of its files would
overwrite one of the inputs (paths resolved, symbolic and hard links followed) or an input
image's JSON sidecar, when two of
its files are the same file, or when one of them could not be written (`files.check_writable`:
the name too long, the folder a file or not writable). Nothing is created.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .errors import InputError
from .files import check_writable, sidecar_path


@dataclass(frozen=True)
class Numbered:
    """A family of files a run may write, whose names are not known in advance: those in
    `folder` whose name matches `pattern` (e.g. OUT_step0001.png ...). `longest` is the
    longest name the run can give one of them, checked for writing."""
    folder: Path
    pattern: str
    longest: Path
    shown: str = ""          # the names for messages, e.g. OUT_stepNNNN.png

    @property
    def pattern_shown(self) -> str:
        return self.shown or self.pattern

    def matches(self, path: Path) -> bool:
        return _resolved(path.parent) == _resolved(self.folder) and re.fullmatch(self.pattern, path.name) is not None


_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff"}


def _kind(path: Path) -> str:
    return "image" if path.suffix.lower() in _IMAGE_SUFFIXES else "file"


def _resolved(path: Path) -> Path:
    try:
        return Path(os.path.realpath(path))
    except (OSError, ValueError):
        return Path(os.path.abspath(path))


def _same_file(a: Path, b: Path) -> bool:
    if _resolved(a) == _resolved(b):
        return True
    try:
        return os.path.samefile(a, b)   # hard links
    except (OSError, ValueError):
        return False


def check_plan(outputs: Iterable[Path | Numbered], inputs: Iterable[Path | None]) -> None:
    """Refuse (InputError) a run whose `outputs` overwrite one of its `inputs`, collide with
    each other, or cannot be written. Inputs are the files it reads (None is skipped)."""
    outputs = list(outputs)
    files = [Path(o) for o in outputs if not isinstance(o, Numbered)]
    families = [o for o in outputs if isinstance(o, Numbered)]
    given = [Path(p) for p in inputs if p is not None]
    existing = [p for p in given if os.path.lexists(p)]
    # An input image's JSON sidecar (a run's record, when the image is an earlier output) is
    # kept too: out.png beside an input out.jpg would write out.json over it.
    records = [(p, sidecar_path(p)) for p in existing if _kind(p) == "image" and os.path.lexists(sidecar_path(p))]
    seen: dict[Path, Path] = {}
    for out in files:
        key = _resolved(out)
        if key in seen:
            raise InputError(f"two files of this run would be the same file: {seen[key]} and {out}")
        seen[key] = out
    for out in files:
        for path in existing:
            if _same_file(out, path):
                raise InputError(f"output {out} would overwrite the input {_kind(path)} {path}")
        for image, record in records:
            if _same_file(out, record):
                raise InputError(f"output {out} would overwrite {record}, the record beside the input image {image}")
    planned = {_resolved(f) for f in files}
    for out in files:
        if out.suffix.lower() == ".json" and os.path.lexists(out):
            _check_record_is_ours(out, [f for f in files if f != out and sidecar_path(f) == out], planned)
    for family in families:
        for path in existing:
            if family.matches(path) or family.matches(_resolved(path)):
                raise InputError(f"the files {family.folder / family.pattern_shown} would overwrite "
                                 f"the input {_kind(path)} {path}")
    for out in files + [f.longest for f in families]:
        check_writable(out)


def _check_record_is_ours(record: Path, owners: list[Path], planned: set[Path]) -> None:
    """An existing JSON the run would write over is an earlier run's record of the same output
    (that output is still there), or the record of something else beside it: a shipped
    network's settings (`--out models/starry_night.png` replaced models/starry_night.json)."""
    if any(os.path.lexists(o) for o in owners):
        return
    try:
        beside = [p for p in record.parent.iterdir()
                  if p.stem == record.stem and p.name != record.name and _resolved(p) not in planned]
    except OSError:
        return
    if beside:
        raise InputError(f"{record} would be written over, and it is the record of {beside[0]}: "
                         f"give another --out")
