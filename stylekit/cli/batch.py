"""Photos in, pictures out, for the one-pass commands (`fast`, `adain`): one photo to one PNG, or
several photos (files or folders) to a folder of PNGs named after them, each photo's failure
reported without stopping the others."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

from stylekit.base.errors import InputError, one_line
from stylekit.base.images import IMAGE_SUFFIXES, image_files

# An --out with one of these suffixes names a file, not the folder a batch writes: refused,
# unless it is a folder already. Other dots ("results.v2") are a folder's name.
FILE_SUFFIXES = IMAGE_SUFFIXES | {".json", ".gif", ".tif", ".tiff"}


def _inputs(paths: list[Path], out: Path) -> tuple[list[Path], bool]:
    """The content files, and whether the user gave a folder or several files. A folder's
    images under `out`, a folder inside it (the results of an earlier run), are not inputs; `out`
    the folder itself is refused later, as every output that would overwrite an input."""
    files, results = [], out.resolve()
    for p in paths:
        if not p.is_dir():
            files.append(p)
            continue
        below = p.resolve() in results.parents   # `out` is a folder inside this one
        files += [f for f in image_files(p) if not (below and results in f.resolve().parents)]
    return files, len(paths) > 1 or any(p.is_dir() for p in paths)


def outputs(contents: list[Path], out: Path | None, folder: Path, single: Callable[[Path], Path]
            ) -> tuple[list[tuple[Path, Path]], bool]:
    """[(photo, its PNG)] and whether this is a batch. `out`: the user's --out, a PNG for one
    photo or a folder for several; without it, `folder` for several and `single(photo)` for one.
    Refuses, in one line, an --out of the wrong kind, no photos, one photo named twice and two
    photos whose PNGs would be the same file."""
    folder_out = out or folder
    files, many = _inputs(contents, folder_out)
    if many and out is not None and out.suffix.lower() in FILE_SUFFIXES and not out.is_dir():
        raise InputError(f"with a folder or several images, --out is a folder, not {out.name!r}")
    if not many and out is not None and out.suffix.lower() != ".png":
        raise InputError(f"--out must end in .png, not {out.name!r}")
    if not files:
        raise InputError(f"no photos in {', '.join(map(str, contents))} but the results in {folder_out}")
    pairs = [(path, folder_out / f"{path.stem}.png") for path in files] if many else [(files[0], out or single(files[0]))]
    first: dict[Path, Path] = {}
    for photo, png in pairs:   # a.png and a.webp: the photos named, not the one output twice
        other = first.get(png.resolve())
        if other is not None and other.resolve() == photo.resolve():
            raise InputError(f"{photo} is given twice")
        if other is not None:
            raise InputError(f"{other} and {photo} would both be written to {png}: rename one, "
                             f"or stylise them in two runs")
        first[png.resolve()] = photo
    return pairs, many


def _refused(photo: Path, exc: InputError, many: bool) -> None:
    """One photo of a batch refused: named on stderr, the others go on. A single photo's refusal
    is the command's."""
    if not many:
        raise exc
    print(one_line(f"error: {exc}" if str(photo) in str(exc) else f"error: {photo}: {exc}"), file=sys.stderr)


def checked(pairs: list[tuple[Path, Path]], many: bool, check: Callable[[Path], None]) -> list[tuple[Path, Path]]:
    """The pairs whose photo passes check(photo) (from its header, before anything is loaded:
    sizes, memory); the others are refused as `run_each` refuses them."""
    kept = []
    for photo, png in pairs:
        try:
            check(photo)
            kept.append((photo, png))
        except InputError as exc:
            _refused(photo, exc, many)
    return kept


def run_each(pairs: list[tuple[Path, Path]], many: bool, one: Callable[[Path, Path], None], refused: int = 0) -> int:
    """one(photo, png) for each pair; the exit code. In a batch a photo refused with InputError
    is named on stderr and the others go on (each PNG written is whole); the code is then 2, as
    it is when `refused` photos were turned away before."""
    failed = refused
    for photo, png in pairs:
        try:
            one(photo, png)
        except InputError as exc:
            _refused(photo, exc, many)
            failed += 1
    return 2 if failed else 0
