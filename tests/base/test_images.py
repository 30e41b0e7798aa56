"""stylekit.base.images: every odd but valid image loads to the right RGB values; the pixel
limit and the minimum size are checked before decoding. All files are made here, in tmp_path."""

import numpy as np
import pytest
from PIL import Image, ImageCms

from conftest import BLUE, RED, WHITE, gif_bytes, photo, png_bytes
from stylekit.base.errors import InputError
from stylekit.base.images import DEFAULT_MAX_PIXELS, open_image
from utils import load_image


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


def test_thin_image_refused_once_brought_to_its_size(tmp_path):
    """An 8x2000 photo passes the check as it is, but at --size 100 it would be a 1x100 line: an
    8x2000 photo came out of a one-pass command as a 1x100 picture."""
    Image.new("RGB", (8, 2000)).save(tmp_path / "thin.png")
    with pytest.raises(InputError, match=r"thin.png is 8x2000 px, 1x100 at --size 100: too small, layer relu4_1 "
                                         r"needs at least 8 px on each side; raise --size"):
        load_image(tmp_path / "thin.png", 100, min_side=8, layer="relu4_1")
    assert load_image(tmp_path / "thin.png", 2000, min_side=8).shape == (1, 3, 2000, 8)
    assert load_image(tmp_path / "thin.png", None, min_side=8).shape == (1, 3, 2000, 8)


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
    ("animated GIF", "anim.gif", gif_bytes, (24, 16), {(5, 5): (RED, 0)}),
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


def test_a_file_that_may_not_be_read_is_said_so(tmp_path, monkeypatch):
    """An unreadable file (another user's, mode 600) was called 'damaged or truncated?'."""
    path = tmp_path / "theirs.png"
    path.write_bytes(png_bytes(photo(8, 8)))

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))
    monkeypatch.setattr(Image, "open", refused)   # root reads every file: the refusal is staged
    with pytest.raises(InputError, match=f"^cannot read {path}: permission denied$"):
        open_image(path)


def test_a_folders_hidden_images_are_left_out(tmp_path):
    """`fast --content FOLDER` stylised the images of a `.thumbnails` folder inside it too."""
    from stylekit.base.images import image_files
    for name in ("a.png", "sub/b.jpg", ".hid/c.png", "sub/.thumbnails/d.png", ".e.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(png_bytes(photo(8, 8)))
    assert image_files(tmp_path) == [tmp_path / "a.png", tmp_path / "sub" / "b.jpg"]
    assert image_files(tmp_path / ".hid") == [tmp_path / ".hid" / "c.png"]   # asked for by name: read


def test_a_mask_of_another_shape_than_the_photo_is_refused(tmp_path):
    """A 5000x8 mask for a 96x64 photo was stretched to it without a word: its regions landed
    elsewhere than drawn. A mask within 5% of the photo's proportions is taken."""
    from stylekit.base.tensors import load_mask
    thin, near = tmp_path / "thin.png", tmp_path / "near.png"
    Image.new("L", (5000, 8), 255).save(thin)
    Image.new("L", (100, 66), 255).save(near)
    with pytest.raises(InputError, match=r"the mask .*thin\.png is 5000x8 px, not the photo's shape \(96x64 px here\)"):
        load_mask(thin, (64, 96), 1)
    assert load_mask(near, (64, 96), 1)[0].shape == (1, 1, 64, 96)
    # at --size 8 a 64x43 photo is 8x5 (7% off its shape): its own mask is still taken
    Image.new("L", (64, 43), 255).save(near)
    assert load_mask(near, (5, 8), 1)[0].shape == (1, 1, 5, 8)


def test_a_mask_is_held_to_the_photo_files_shape_when_the_working_size_rounds_far_from_it(tmp_path):
    """A 24x4000 photo at --size 64 is 1x64 px: a rounding 2.6 times off its shape. Its own
    24x4000 mask was refused for "not the photo's shape"; held to the file's shape, it is taken."""
    from stylekit.base.tensors import load_mask
    own, wide = tmp_path / "own.png", tmp_path / "wide.png"
    Image.new("L", (24, 4000), 255).save(own)
    Image.new("L", (64, 64), 255).save(wide)
    assert load_mask(own, (64, 1), 1, photo_wh=(24, 4000))[0].shape == (1, 1, 64, 1)
    with pytest.raises(InputError, match=r"wide\.png is 64x64 px, not the photo's shape \(24x4000 px\)"):
        load_mask(wide, (64, 1), 1, photo_wh=(24, 4000))
