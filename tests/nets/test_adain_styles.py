"""nets.adain.styles: the GIMP pattern reader of the style-set builder."""
import struct

import numpy as np
import pytest

from stylekit.nets.adain import styles


def gimp_pattern(width: int, height: int, depth: int, pixels: bytes, name: bytes = b"test\0") -> bytes:
    header = struct.pack(">5I", 24 + len(name), 1, width, height, depth) + b"GPAT" + name
    return header + pixels


def test_gimp_pattern_reader():
    pixels = bytes(range(2 * 3 * 3))
    img = styles.read_gimp_pattern(gimp_pattern(2, 3, 3, pixels))
    assert img.mode == "RGB" and img.size == (2, 3)
    assert np.asarray(img).tobytes() == pixels
    assert styles.read_gimp_pattern(gimp_pattern(4, 1, 1, b"\x00\x40\x80\xff")).mode == "L"
    for bad in (gimp_pattern(2, 3, 3, pixels[:-1]), gimp_pattern(2, 3, 5, bytes(30)), b"GIMP" * 10):
        with pytest.raises(ValueError):
            styles.read_gimp_pattern(bad)
