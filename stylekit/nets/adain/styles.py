"""AdaIN's training styles, built from offline packages.

    python -m stylekit build-styles [--out data/styles] [--cache data/cache]

Van Gogh details and reassembled jigsaw paintings from GCompris, GIMP and Krita patterns,
OpenCV's graffiti and abstract KDE wallpapers, each stored with its shorter side at most
`packages.SHORT_SIDE` px, as JPEG, with a MANIFEST.json naming its package, path and licence.
Anything that looks like one of the bundled images/style/ paintings is left out: those stay
unseen styles for evaluation.
"""
from __future__ import annotations

import hashlib
import re
import struct
from pathlib import Path

import numpy as np
from PIL import Image

from stylekit.base.paths import DATA, STYLE_DIR
from stylekit.base.images import image_files
from stylekit.nets.packages import (DEFAULT_CACHE, SHORT_SIDE, Source, image_set, open_bytes, read_rcc, shrink,
                                    source_files)

DEFAULT_STYLES = DATA / "styles"
GIMP_PATTERN_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}
# Patterns smaller than this are dither cells and hatching primitives, not textures.
MIN_PATTERN_SIDE = 24
# KDE wallpapers that are abstract or illustrated (the rest are photographs).
ABSTRACT_WALLPAPERS = ("Altai", "Autumn", "Canopee", "Cascade", "Cluster", "Elarun", "Flow", "FlyingKonqui",
                       "Honeywave", "IceCold", "Kay", "Kokkini", "MilkyWay", "Opal", "PastelHills", "Patak",
                       "SafeLanding", "Shell", "Volna")
# Thumbnails correlating at least this much with a bundled style image are the same picture.
DUPLICATE_CORRELATION = 0.9


def read_gimp_pattern(data: bytes) -> Image.Image:
    """A GIMP pattern (.pat) as a PIL image.

    Layout (big-endian u32s): header size, version, width, height, bytes per pixel (1 grey,
    2 grey + alpha, 3 RGB, 4 RGBA), the magic 'GPAT'; the pattern's name fills the rest of the
    header; then the pixels, row by row. Raises ValueError for anything else.
    """
    if len(data) < 24 or data[20:24] != b"GPAT":
        raise ValueError("not a GIMP pattern")
    header_size, _version, width, height, depth = struct.unpack(">5I", data[:20])
    if depth not in GIMP_PATTERN_MODES or not width or not height or header_size < 24:
        raise ValueError(f"unsupported GIMP pattern ({width}x{height}, {depth} bytes per pixel)")
    size = width * height * depth
    pixels = data[header_size:header_size + size]
    if len(pixels) < size:
        raise ValueError("truncated GIMP pattern")
    return Image.frombytes(GIMP_PATTERN_MODES[depth], (width, height), pixels)


def _flatten(img: Image.Image) -> Image.Image:
    """RGB, transparency composited over white."""
    img = img.convert("RGBA")
    background = Image.new("RGB", img.size, (255, 255, 255))
    background.paste(img, mask=img.getchannel("A"))
    return background


def _tile(img: Image.Image, side: int) -> Image.Image:
    """A seamless pattern repeated to at least `side` px on each side."""
    if min(img.size) >= side:
        return img
    w, h = max(side, img.width), max(side, img.height)
    out = Image.new("RGB", (w, h))
    for y in range(0, h, img.height):
        for x in range(0, w, img.width):
            out.paste(img, (x, y))
    return out


# Each selector below takes a package's files {path: bytes} and yields (label, member, image).

def _gcompris_details(files: dict[str, bytes]):
    """The 'details' pictures that the bundle's README says are paintings (the rest are photos)."""
    for bundle in files.values():
        pictures = read_rcc(bundle)
        readme = next((v for k, v in pictures.items() if k.endswith("/README")), b"").decode("utf-8", "replace")
        for block in readme.split("\n\n"):
            if "painting" not in block:
                continue
            for name in re.findall(r"\S+_background\.webp", block):
                member = next((k for k in pictures if k.endswith("/" + name)), None)
                if member:
                    yield name.removesuffix("_background.webp"), member, open_bytes(pictures[member])


def _gcompris_paintings(files: dict[str, bytes]):
    """The jigsaw puzzles of paintings, reassembled: each board file gives the canvas size and
    every piece's centre as a fraction of it; the painting is the pieces' bounding box."""
    for bundle in files.values():
        pieces = {k.rsplit("/", 1)[-1]: v for k, v in read_rcc(bundle).items()}
        for board, text in sorted((k, v.decode("utf-8", "replace")) for k, v in pieces.items()
                                  if re.fullmatch(r"board\d+_0\.qml", k)):
            canvas_size = re.search(r'"width"\s*:\s*(\d+)\s*,\s*"height"\s*:\s*(\d+)', text)
            placed = re.findall(r'"pixmapfile"\s*:\s*"image/([^"]+)"\s*,\s*"x"\s*:\s*"([\d.]+)"\s*,'
                                r'\s*"y"\s*:\s*"([\d.]+)"', text)
            if not canvas_size or not placed or any(name not in pieces for name, _, _ in placed):
                continue
            width, height = int(canvas_size[1]), int(canvas_size[2])
            canvas = Image.new("RGBA", (width, height))
            for name, x, y in placed:
                piece = open_bytes(pieces[name]).convert("RGBA")
                canvas.alpha_composite(piece, (round(float(x) * width - piece.width / 2),
                                               round(float(y) * height - piece.height / 2)))
            label = re.sub(r"[_-]?[a-z]?\d+\.\w+$", "", placed[0][0])
            yield label, f"paintings.rcc:{board}", canvas.crop(canvas.getchannel("A").getbbox())


def _patterns(files: dict[str, bytes]):
    """Seamless patterns (GIMP .pat or PNG), tiled up to SHORT_SIDE; dither cells left out."""
    for member, data in files.items():
        if member.endswith(".pat"):
            img = read_gimp_pattern(data)
        elif member.endswith(".png"):
            img = open_bytes(data)
        else:
            continue
        if min(img.size) >= MIN_PATTERN_SIDE:
            yield Path(member).stem, member, _tile(_flatten(img), SHORT_SIDE)


def _plain(files: dict[str, bytes]):
    for member, data in files.items():
        yield Path(member).stem, member, open_bytes(data)


def _wallpapers(files: dict[str, bytes]):
    """The smallest stored size of each abstract wallpaper that is at least SHORT_SIDE high."""
    sizes: dict[str, list[tuple[int, str]]] = {}
    for member in files:
        parts = member.split("/")
        found = re.fullmatch(r"(\d+)x(\d+)\.\w+", parts[-1])
        if len(parts) > 4 and parts[-4] in ABSTRACT_WALLPAPERS and parts[-2] == "images" and found:
            w, h = int(found[1]), int(found[2])
            if min(w, h) >= SHORT_SIDE:
                sizes.setdefault(parts[-4], []).append((w * h, member))
    for name, options in sorted(sizes.items()):
        member = min(options)[1]
        yield name, member, open_bytes(files[member])


STYLE_SOURCES = (
    (Source("vangogh", "deb", "gcompris-qt-data", ("rcc/details.rcc",),
            "public domain (the bundle's README: 'based on an original painting by Van Gogh')"), _gcompris_details),
    (Source("painting", "deb", "gcompris-qt-data", ("rcc/paintings.rcc",),
            "artworks in the public domain; the GCompris scans are labelled GPL-3.0-or-later "
            "(the bundle's README, see images/SOURCES.md)"), _gcompris_paintings),
    (Source("gimp", "deb", "gimp-data", ("gimp/2.0/patterns/",),
            "GPL-3+ / CC-BY-SA / CC0 (gimp-data, see its debian/copyright)"), _patterns),
    (Source("krita", "deb", "krita-data", ("krita/patterns/",),
            "GPL / LGPL (krita-data, see its debian/copyright)"), _patterns),
    (Source("graffiti", "deb", "opencv-doc", ("examples/data/graf1.png", "examples/data/graf3.png"),
            "OpenCV sample data (BSD-3-Clause)"), _plain),
    (Source("kde", "deb", "plasma-workspace-wallpapers", ("wallpapers/",),
            "per wallpaper in its metadata: CC-BY-SA 4.0, CC-BY 4.0, LGPL"), _wallpapers),
)


def _signature(img: Image.Image) -> np.ndarray:
    """A 24x24 grey thumbnail, zero mean and unit norm: its dot product with another is
    their correlation, high for the same picture at another size or crop."""
    small = np.asarray(img.convert("L").resize((24, 24), Image.BILINEAR), dtype=np.float64).ravel()
    small -= small.mean()
    return small / (np.linalg.norm(small) or 1.0)


def _has_contrast(img: Image.Image) -> bool:
    """Not a flat colour: a style needs something to transfer."""
    return float(np.asarray(img.convert("L"), np.float32).std()) > 4


def build_styles(out: Path = DEFAULT_STYLES, cache: Path = DEFAULT_CACHE, progress=print) -> list[dict]:
    """Gather the training styles into `out` (short side SHORT_SIDE px, JPEG) with a
    MANIFEST.json naming each file's origin and licence; returns the manifest.

    Anything that looks like one of the bundled images/style/ pictures is left out: those are
    the unseen styles the decoder is evaluated on.
    """
    bundled = [_signature(open_bytes(p.read_bytes())) for p in image_files(STYLE_DIR)]
    seen = set()
    with image_set(out) as (tmp_out, manifest):
        for source, select in STYLE_SOURCES:
            kept = 0
            for label, member, img in select(source_files(source, cache)):
                signature = _signature(img)
                digest = hashlib.sha1(img.tobytes()).hexdigest()[:12]
                if digest in seen or not _has_contrast(img) or max(float(signature @ b) for b in bundled) >= DUPLICATE_CORRELATION:
                    continue
                seen.add(digest)
                name = f"{source.name}_{re.sub(r'[^A-Za-z0-9]+', '_', label).strip('_').lower()}.jpg"
                if (tmp_out / name).exists():
                    name = name.replace(".jpg", f"_{digest[:6]}.jpg")
                shrink(img).save(tmp_out / name, quality=90)
                manifest.append({"file": name, "source": source.package, "member": member, "licence": source.licence})
                kept += 1
            progress(f"{source.name} ({source.package}): {kept} styles")
    return manifest
