"""run.py's inputs: every bad input refused with one `error: ...` line and exit code 2, odd
images and odd file names accepted. All files are made here, in tmp_path.

The CLI runs in-process (run.main) with the network loaded once per session.
"""
import re

import numpy as np
import pytest
from PIL import Image

from conftest import gif_bytes, photo, png_bytes
import run


@pytest.fixture(autouse=True)
def shared_network(cnn, monkeypatch):
    """The CLI loads VGG-19 on every call: hand it the session's copy instead."""
    monkeypatch.setattr(run, "load_vgg19", lambda weights, device: cnn)


def cli(*args):
    return run.main([str(a) for a in args])


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
    ("zero style scale", None, ["--style-scale", 0], "argument --style-scale: must be a finite number > 0, not 0"),
    ("negative style scale", None, ["--style-scale", -1], "argument --style-scale: must be a finite number > 0, not -1"),
    ("zero --max-pixels", None, ["--max-pixels", 0], "at least 1"),
    ("zero --save-every", None, ["--save-every", 0], "at least 1"),
    ("style weight a word", None, ["--style-weight", "lots"], "not a number"),
    ("style weight nan", None, ["--style-weight", "nan"], "finite number"),
    ("style weight inf", None, ["--style-weight", "inf"], "finite number"),
    ("style weight -inf", None, ["--style-weight", "-inf"], "finite number"),  # a value, not an option
    ("style weight =-inf", None, ["--style-weight=-inf"], "finite number"),
    ("content weight nan", None, ["--content-weight", "NaN"], "finite number"),
    ("content weight negative", None, ["--content-weight", "-1"], "finite number"),
    ("tv weight inf", None, ["--tv-weight", "Infinity"], "finite number"),
    ("lr nan", None, ["--lr", "nan"], "finite number"),
    ("style scale inf", None, ["--style-scale", "inf"], "finite number"),
    ("style blend a word", None, ["--style-blend", "a,b"], "not a comma-separated list"),
    ("style blend an empty entry", None, ["--style-blend", "1,,1"], "not a comma-separated list of numbers: '1,,1'"),
    ("style blend a trailing comma", None, ["--style-blend", "1,1,"], "not a comma-separated list of numbers: '1,1,'"),
    ("every weight zero", None, ["--content-weight", 0, "--style-weight", 0], "every loss weight is zero"),
    ("every style layer at weight 0", None, ["--style-layers", "relu1_1:0,pool5:0"],
     "every style layer's weight is 0 (relu1_1, pool5)"),   # the run "converged" on its first picture
    ("seed beyond 64 bits", None, ["--init", "noise", "--seed", 2 ** 64], "--seed: must be from 0 to"),
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


@pytest.mark.slow
def test_cli_runs_on_odd_images_with_odd_names(tmp_path, capsys):
    """RGBA content with a non-ASCII, spaced name; animated GIF style; output folder with spaces."""
    content = tmp_path / "contenu été (1).png"
    rgba = photo().convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))
    rgba.save(content)
    style = tmp_path / "スタイル 2.gif"
    style.write_bytes(gif_bytes())
    out = tmp_path / "sortie à/résultat final.png"
    assert cli("--content", content, "--style", style, "--size", 32, "--steps", 2, "--out", out) == 0
    assert Image.open(out).size == (32, 24)
    assert str(out) in capsys.readouterr().out
    assert re.search(r'"content": ".*contenu été \(1\)\.png"', out.with_suffix(".json").read_text(encoding="utf-8"))
