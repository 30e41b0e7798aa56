"""Property-based tests of the image loader: any bytes or damaged image either load as RGB or
raise one InputError."""
import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image

from stylekit.base.errors import InputError
from stylekit.base.images import open_image


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
