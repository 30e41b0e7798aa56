"""Issue 6, inputs: every bad input refused with one `error: ...` line and exit code 2, every
odd but valid image loaded to the right RGB values. All files are made here, in tmp_path.

The CLI runs in-process (run.main) with the network loaded once per session.
"""
import io
import re

import numpy as np
import pytest
from PIL import Image, ImageCms

from conftest import structured
import run
from stylekit.base.images import DEFAULT_MAX_PIXELS
from stylekit.base.errors import InputError
from utils import load_image
from stylekit.base.images import open_image


@pytest.fixture(autouse=True)
def shared_network(cnn, monkeypatch):
    """The CLI loads VGG-19 on every call: hand it the session's copy instead."""
    monkeypatch.setattr(run, "load_vgg19", lambda weights, device: cnn)


def cli(*args):
    return run.main([str(a) for a in args])


def png_bytes(img: Image.Image, fmt="PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def photo(w=64, h=48) -> Image.Image:
    arr = (structured(h, w)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    return Image.fromarray(arr)


def corrupt_png(d):
    data = bytearray(png_bytes(photo()))
    idat = data.index(b"IDAT")
    data[idat + 40] ^= 0x5A  # inside the compressed pixels: CRC and zlib both break
    (d / "corrupt.png").write_bytes(bytes(data))
    return d / "corrupt.png"


def truncated_jpeg(d):
    data = png_bytes(photo(), "JPEG", quality=90)
    (d / "truncated.jpg").write_bytes(data[: len(data) * 2 // 3])
    return d / "truncated.jpg"


def write(d, name, data: bytes):
    (d / name).write_bytes(data)
    return d / name


# ---------------------------------------------------------------------------------------
# 1. Refused inputs: exit 2, one `error: ...` line, nothing written
# ---------------------------------------------------------------------------------------

# (case id, content file maker or None for the good one, extra arguments, message fragment)
BAD_INPUTS = [
    ("missing path", lambda d: d / "nope.jpg", [], "no such file"),
    ("missing path in a missing folder", lambda d: d / "no" / "where.png", [], "no such file"),
    ("directory", lambda d: d, [], "is a directory"),
    ("zero-byte file", lambda d: write(d, "empty.png", b""), [], "empty (0 bytes)"),
    ("text named .jpg", lambda d: write(d, "notes.jpg", b"just some text\n" * 20), [], "unknown or unsupported format"),
    ("truncated JPEG", truncated_jpeg, [], "truncated"),
    ("corrupt PNG", corrupt_png, [], "cannot read"),
    ("EPS, which Pillow would hand to Ghostscript", lambda d: write(d, "vector.jpg", b"%!PS-Adobe-3.0 EPSF-3.0\n"
     b"%%BoundingBox: 0 0 16 16\n0 0 moveto 16 16 lineto stroke\nshowpage\n"), [], "unknown or unsupported format"),
    ("PNG header only", lambda d: write(d, "header.png", png_bytes(photo())[:40]), [], "cannot read"),
    ("above the default pixel limit", lambda d: write(d, "bomb.png", png_bytes(Image.new("1", (12000, 12000)))),
     [], "more than the limit of 89,478,485"),
    ("above --max-pixels", lambda d: write(d, "bomb.png", png_bytes(Image.new("1", (12000, 12000)))),
     ["--max-pixels", 1_000_000], "pass a larger --max-pixels"),
    ("missing style image", None, ["--style", "missing_style.png"], "no such file: missing_style.png"),
    ("unknown style layer", None, ["--style-layers", "conv1_1,conv9_9"], "unknown layer 'conv9_9'"),
    ("unknown content layer", None, ["--content-layer", "relu_99"], "unknown layer 'relu_99'"),
    ("zero size", None, ["--size", 0], "at least 1"),
    ("negative size", None, ["--size", -3], "at least 1"),
    ("fractional size", None, ["--size", 12.5], "not a whole number"),
    ("zero steps", None, ["--steps", 0], "at least 1"),
    ("negative steps", None, ["--steps", -10], "at least 1"),
    ("zero style scale", None, ["--style-scale", 0], "greater than 0"),
    ("negative style scale", None, ["--style-scale", -1], "must be a finite number >= 0"),
    ("zero --max-pixels", None, ["--max-pixels", 0], "at least 1"),
    ("zero --save-every", None, ["--save-every", 0], "at least 1"),
    ("style weight a word", None, ["--style-weight", "lots"], "not a number"),
    ("style weight nan", None, ["--style-weight", "nan"], "finite number"),
    ("style weight inf", None, ["--style-weight", "inf"], "finite number"),
    ("style weight -inf", None, ["--style-weight", "-inf"], "expected one argument"),  # looks like an option
    ("style weight =-inf", None, ["--style-weight=-inf"], "finite number"),
    ("content weight nan", None, ["--content-weight", "NaN"], "finite number"),
    ("content weight negative", None, ["--content-weight", "-1"], "finite number"),
    ("tv weight inf", None, ["--tv-weight", "Infinity"], "finite number"),
    ("lr nan", None, ["--lr", "nan"], "finite number"),
    ("style scale inf", None, ["--style-scale", "inf"], "finite number"),
    ("style blend a word", None, ["--style-blend", "a,b"], "not a comma-separated list"),
    ("every weight zero", None, ["--content-weight", 0, "--style-weight", 0], "every loss weight is zero"),
    ("seed beyond 64 bits", None, ["--init", "noise", "--seed", 2 ** 64], "out of range"),
]


@pytest.mark.parametrize("make, extra, message", [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_refused_with_one_line(make, extra, message, tiny_images, tmp_path, capsys, monkeypatch):
    content, style = tiny_images
    monkeypatch.chdir(tmp_path)  # relative names resolve here
    if make is not None:
        content = make(tmp_path)
    out = tmp_path / "out" / "result.png"
    code = cli("--part", 3, "--content", content, "--style", style, "--size", 32, "--steps", 2,
               "--out", out, *extra)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith("error: ") and "\n" not in err and message in err, err
    assert "Traceback" not in err
    assert not out.exists() and not out.with_suffix(".json").exists()
    assert not (tmp_path / "out" / "result_losses.png").exists()
    assert not list(tmp_path.rglob("*.tmp"))


def test_pixel_limit_can_be_raised(tiny_images, tmp_path, capsys):
    """A 2000x1000 palette image: refused under --max-pixels 1000000, fine under 3000000."""
    _, style = tiny_images
    big = Image.fromarray((np.indices((1000, 2000)).sum(0) % 7).astype(np.uint8), "L").convert("P")
    big.save(tmp_path / "big.png")
    out = tmp_path / "big_out.png"
    args = ["--content", tmp_path / "big.png", "--style", style, "--size", 32, "--steps", 1, "--out", out]
    assert cli(*args, "--max-pixels", 1_000_000) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: {tmp_path / 'big.png'} has 2000x1000 = 2,000,000 pixels, more than the limit "
                   "of 1,000,000; pass a larger --max-pixels if you trust this file")
    assert not out.exists()
    assert cli(*args, "--max-pixels", 3_000_000) == 0
    assert Image.open(out).size == (32, 16)


def test_pixel_limit_checked_before_decoding(tmp_path):
    """The limit is enforced from the header: a 144-megapixel file is refused at once."""
    Image.new("1", (12000, 12000)).save(tmp_path / "bomb.png")
    with pytest.raises(InputError, match=r"12000x12000 = 144,000,000 pixels, more than the limit of 1,000,000"):
        open_image(tmp_path / "bomb.png", max_pixels=1_000_000)
    assert Image.MAX_IMAGE_PIXELS == DEFAULT_MAX_PIXELS  # restored afterwards


def test_tiny_image_refused_naming_the_minimum(tmp_path):
    """load_image refuses a file too small for a layer before upscaling it."""
    Image.new("RGB", (1, 1), (200, 10, 10)).save(tmp_path / "dot.png")
    with pytest.raises(InputError, match=r"dot.png is 1x1 px, too small: layer conv5_1 needs at least 16 px on each side"):
        load_image(tmp_path / "dot.png", 64, min_side=16, layer="conv5_1")
    Image.new("RGB", (16, 20)).save(tmp_path / "ok.png")
    assert load_image(tmp_path / "ok.png", 64, min_side=16).shape == (1, 3, 64, 51)


@pytest.mark.parametrize("which", ["content", "style"])
def test_cli_refuses_1x1_image(which, tiny_images, tmp_path, capsys):
    content, style = tiny_images
    dot = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), (200, 10, 10)).save(dot)
    content, style = (dot, style) if which == "content" else (content, dot)
    out = tmp_path / "x.png"
    code = cli("--content", content, "--style", style, "--size", 32, "--steps", 1, "--out", out)
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and "\n" not in err, err
    # The deepest layer the image feeds: part 3's style layer relu5_1 (the content image feeds
    # the style layers too, since the output takes its shape).
    assert "1x1" in err and "at least 16 px" in err and "relu5_1" in err
    assert not out.exists()


@pytest.mark.parametrize("blend", ["nan", "inf", "nan,1", "inf,1"])
def test_style_blend_must_be_finite(blend, tiny_images, tmp_path, capsys):
    content, style = tiny_images
    out = tmp_path / "x.png"
    n = len(blend.split(","))
    code = cli("--content", content, "--style", *[style] * n, "--style-blend", blend, "--size", 32,
               "--steps", 1, "--out", out)
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and "\n" not in err, err
    assert not out.exists()


@pytest.mark.parametrize("option", ["--style-layers", "--content-layer"])
def test_empty_layer_list_refused(option, tiny_images, tmp_path, capsys):
    content, style = tiny_images
    out = tmp_path / "x.png"
    code = cli("--content", content, "--style", style, option, ",", "--size", 32, "--steps", 1, "--out", out)
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and "\n" not in err, err


# ---------------------------------------------------------------------------------------
# 2. Odd but valid images load to the right RGB values
# ---------------------------------------------------------------------------------------

def _palette(transparent: bool) -> Image.Image:
    img = Image.new("P", (4, 2))
    img.putpalette([255, 0, 0, 0, 128, 255, 10, 200, 30] + [0] * (256 * 3 - 9))
    img.putdata([0, 1, 2, 0, 1, 2, 0, 1])
    if transparent:
        img.info["transparency"] = 1
    return img


def _exif_jpeg(orientation: int) -> bytes:
    """40x20 blue picture with a red 10x10 block in its stored top-left corner."""
    img = Image.new("RGB", (40, 20), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return png_bytes(img, "JPEG", quality=95, exif=exif)


def _gif() -> bytes:
    frames = [Image.new("RGB", (24, 16), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    return png_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=40, loop=0)


def _cmyk() -> Image.Image:
    img = Image.new("CMYK", (4, 1))
    img.putdata([(0, 0, 0, 0), (255, 0, 0, 0), (0, 0, 0, 255), (0, 255, 255, 0)])
    return img


def _rgba() -> Image.Image:
    img = Image.new("RGBA", (3, 1))
    img.putdata([(10, 20, 30, 0), (10, 20, 30, 255), (0, 0, 0, 128)])
    return img


def _near(got, want, tol=0):
    return all(abs(int(g) - int(w)) <= tol for g, w in zip(got, want))


WHITE, RED, BLUE = (255, 255, 255), (255, 0, 0), (0, 0, 255)

# (case id, file name, file bytes maker, expected size, {(x, y): (rgb, tolerance)})
GOOD_IMAGES = [
    ("greyscale L", "grey.png", lambda: png_bytes(Image.new("L", (5, 3), 77)), (5, 3), {(4, 2): ((77,) * 3, 0)}),
    ("1-bit", "bits.png", lambda: png_bytes(Image.new("1", (5, 3), 1)), (5, 3), {(0, 0): (WHITE, 0)}),
    ("palette", "pal.png", lambda: png_bytes(_palette(False)), (4, 2),
     {(0, 0): (RED, 0), (1, 0): ((0, 128, 255), 0), (2, 0): ((10, 200, 30), 0)}),
    ("palette with transparency", "palt.png", lambda: png_bytes(_palette(True)), (4, 2),
     {(0, 0): (RED, 0), (1, 0): (WHITE, 0), (2, 0): ((10, 200, 30), 0)}),
    ("palette GIF with transparency", "palt.gif", lambda: png_bytes(_palette(True), "GIF", transparency=1), (4, 2),
     {(0, 0): (RED, 0), (0, 1): (WHITE, 0), (1, 1): ((10, 200, 30), 0)}),
    ("RGBA over white", "rgba.png", lambda: png_bytes(_rgba()), (3, 1),
     {(0, 0): (WHITE, 0), (1, 0): ((10, 20, 30), 0), (2, 0): ((127, 127, 127), 1)}),
    ("LA", "la.png", lambda: png_bytes(Image.merge("LA", [Image.new("L", (2, 1), 60),
                                                          Image.frombytes("L", (2, 1), bytes([0, 255]))])), (2, 1),
     {(0, 0): (WHITE, 0), (1, 0): ((60,) * 3, 0)}),
    ("greyscale with tRNS colour key", "key.png", lambda: png_bytes(Image.new("L", (2, 2), 50), transparency=50),
     (2, 2), {(1, 1): (WHITE, 0)}),
    ("RGB with tRNS colour key", "rgbkey.png",
     lambda: png_bytes(Image.new("RGB", (2, 2), (1, 2, 3)), transparency=(1, 2, 3)), (2, 2), {(0, 0): (WHITE, 0)}),
    ("CMYK TIFF", "cmyk.tif", lambda: png_bytes(_cmyk(), "TIFF"), (4, 1),
     {(0, 0): (WHITE, 0), (1, 0): ((0, 255, 255), 0), (2, 0): ((0, 0, 0), 0), (3, 0): (RED, 0)}),
    ("CMYK JPEG", "cmyk.jpg", lambda: png_bytes(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95),
     (16, 16), {(8, 8): (RED, 12)}),
    ("16-bit PNG", "deep.png", lambda: png_bytes(Image.fromarray(np.array([[0, 200, 32768, 65535]], np.uint16))),
     (4, 1), {(0, 0): ((0,) * 3, 0), (1, 0): ((1,) * 3, 0), (2, 0): ((128,) * 3, 0), (3, 0): (WHITE, 0)}),
    ("float TIFF with inf and nan", "float.tif",
     lambda: png_bytes(Image.fromarray(np.array([[0.0, 0.5, 1.0, np.inf, np.nan]], np.float32)), "TIFF"), (5, 1),
     {(0, 0): ((0,) * 3, 0), (1, 0): ((128,) * 3, 0), (2, 0): (WHITE, 0), (3, 0): (WHITE, 0), (4, 0): ((0,) * 3, 0)}),
    ("EXIF orientation 6", "rot6.jpg", lambda: _exif_jpeg(6), (20, 40), {(15, 4): (RED, 40), (4, 4): (BLUE, 40)}),
    ("EXIF orientation 8", "rot8.jpg", lambda: _exif_jpeg(8), (20, 40), {(4, 35): (RED, 40), (4, 4): (BLUE, 40)}),
    ("EXIF orientation 3", "rot3.jpg", lambda: _exif_jpeg(3), (40, 20), {(35, 15): (RED, 40), (4, 4): (BLUE, 40)}),
    ("animated GIF", "anim.gif", _gif, (24, 16), {(5, 5): (RED, 0)}),
    ("sRGB ICC profile kept as is", "srgb.png",
     lambda: png_bytes(photo(), icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()),
     (64, 48), {(10, 10): (photo().getpixel((10, 10)), 1), (50, 40): (photo().getpixel((50, 40)), 1)}),
    ("broken ICC profile ignored", "badicc.png", lambda: png_bytes(photo(), icc_profile=b"not a profile" * 10),
     (64, 48), {(10, 10): (photo().getpixel((10, 10)), 0)}),
    ("non-ASCII name with spaces", "été 画像 my photo.png", lambda: png_bytes(Image.new("RGB", (3, 3), (9, 8, 7))),
     (3, 3), {(1, 1): ((9, 8, 7), 0)}),
    ("JPEG named .png", "really_a_jpeg.png", lambda: png_bytes(Image.new("RGB", (8, 8), (0, 0, 255)), "JPEG"),
     (8, 8), {(4, 4): (BLUE, 3)}),
]


@pytest.mark.parametrize("name, make, size, pixels", [c[1:] for c in GOOD_IMAGES], ids=[c[0] for c in GOOD_IMAGES])
def test_odd_images_load_as_rgb(name, make, size, pixels, tmp_path, recwarn):
    path = tmp_path / name
    path.write_bytes(make())
    img = open_image(path)
    assert img.mode == "RGB" and img.size == size
    for xy, (want, tol) in pixels.items():
        assert _near(img.getpixel(xy), want, tol), (xy, img.getpixel(xy), want)
    assert not [w for w in recwarn if "utils" in w.filename], [str(w.message) for w in recwarn]
    tensor = load_image(path)
    assert tensor.shape == (1, 3, size[1], size[0]) and tensor.min() >= 0 and tensor.max() <= 1


def test_conversion_is_reported(tmp_path):
    (tmp_path / "a.png").write_bytes(png_bytes(_rgba()))
    assert "composited over white" in open_image(tmp_path / "a.png").info["converted"]
    (tmp_path / "b.png").write_bytes(png_bytes(photo()))
    assert "converted" not in open_image(tmp_path / "b.png").info


def test_cli_runs_on_odd_images_with_odd_names(tmp_path, capsys):
    """RGBA content with a non-ASCII, spaced name; animated GIF style; output folder with spaces."""
    content = tmp_path / "contenu été (1).png"
    rgba = photo().convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))
    rgba.save(content)
    style = tmp_path / "スタイル 2.gif"
    style.write_bytes(_gif())
    out = tmp_path / "sortie à/résultat final.png"
    assert cli("--content", content, "--style", style, "--size", 32, "--steps", 2, "--out", out) == 0
    assert Image.open(out).size == (32, 24)
    assert str(out) in capsys.readouterr().out
    assert re.search(r'"content": ".*contenu été \(1\)\.png"', out.with_suffix(".json").read_text(encoding="utf-8"))
