"""nets.adain.portable: the numpy pipeline over ONNX gives the torch pipeline's pixels at any
size, with blends and alpha; the shipped bundle (its encoder in 8 bits) stays close to them;
it is used only for the decoder files it was made from, and lets `adain` run without torch."""
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch

from conftest import ROOT, structured, write_png
from nets_helpers import adain_sidecar, agrees_at_size, agrees_in_blends, fp32_wct, near, pixels, torch_pixels, onepass
from stylekit.cli import main as toolkit, train_adain as train_adain_cli
from stylekit.nets.adain import export, infer, model, numpy_transforms, portable, shipped
from stylekit.nets.adain.train import export as save_decoder
from stylekit.base.files import file_sha256

SHIPPED = shipped.default_decoders("wct")


@pytest.fixture(scope="module")
def bundle():
    net = portable.load(SHIPPED)
    assert net is not None, "models/wct_portable.zip is missing, or was made from other decoder files"
    return net


@pytest.fixture(scope="module")
def exact(cnn):
    return fp32_wct(cnn)


@pytest.fixture(scope="module")
def torch_wct(cnn):
    return model.Encoder(cnn), infer.load_decoders("wct")[0]


def test_the_shipped_bundle_is_made_from_the_shipped_decoders(bundle):
    meta = json.loads(zipfile.ZipFile(shipped.PORTABLE_WCT).read("meta.json"))
    assert {int(k): d["source_sha256"] for k, d in meta["decoders"].items()} == \
        {level: file_sha256(p) for level, p in zip(shipped.LEVELS, SHIPPED)}
    assert bundle.levels == [4, 3, 2, 1]
    assert bundle.training == [infer.load_decoder(p)[1] for p in SHIPPED]   # in the order given, as torch's


@pytest.mark.parametrize("height, width", [(48, 64), (37, 53), (13, 9), (5, 7)])
def test_the_pipeline_gives_the_torch_pipelines_pixels_at_odd_sizes(exact, torch_wct, height, width):
    agrees_at_size(exact, torch_wct, "wct", 0.55, height, width)


def test_blends_and_alpha_agree_with_torch(exact, torch_wct):
    agrees_in_blends(exact, torch_wct, "wct")


# Not 13x9 as above: its 16 positions at relu3_1 against the painting's 80 leave most of the 256
# eigenvalues equal, where the two libraries' directions (and so the histograms) are arbitrary.
@pytest.mark.parametrize("height, width", [(48, 64), (37, 53), (21, 30)])
def test_histogram_matching_gives_the_torch_pipelines_pixels(exact, torch_wct, height, width):
    agrees_at_size(exact, torch_wct, "wct", 0.55, height, width, histograms=1.0, max_move=0.75)
    agrees_at_size(exact, torch_wct, "wct", 0.8, height, width, histograms=0.5)


def test_histogram_matching_in_blends_agrees_with_torch(exact, torch_wct):
    agrees_in_blends(exact, torch_wct, "wct", histograms=1.0)


def test_the_shipped_bundle_stays_close_to_torch_on_a_photo(bundle, torch_wct):
    from stylekit.base.images import fit_size, open_image, resize_longest
    content = portable.to_array(resize_longest(open_image(ROOT / "images/content/chelsea.jpg"), 128))
    painting = open_image(ROOT / "images/style/great_wave.jpg")
    style = portable.resize(portable.to_array(painting), fit_size(*painting.size, 128)[::-1])
    near(pixels(bundle.stylize(content, [style], onepass("wct", alpha=0.55))), torch_pixels(torch_wct, "wct", content, [style], 0.55))


@pytest.mark.parametrize("pipeline, run", [
    (portable.PortableAdaIN, onepass("wct")), (portable.PortableWCT, onepass("adain")),
    (portable.PortableWCT, onepass("wct", preserve_color="luminance")), (portable.PortableWCT, onepass("wct", precision="bf16")),
])
def test_the_copies_refuse_a_run_they_cannot_make(pipeline, run):
    """The front ends send these to torch; a run that slipped through would come out wrong, unsaid."""
    with pytest.raises(ValueError, match="the ONNX copies of"):
        pipeline(None, {}, {4: None}, []).stylize(np.zeros((1, 3, 8, 8), np.float32), [np.zeros((1, 3, 8, 8), np.float32)], run)


def test_the_constants_copied_from_the_torch_modules_agree():
    from stylekit.nets.adain import wct
    assert (numpy_transforms.RELATIVE_EIGEN_FLOOR, portable.WCT_FLOOR) == (wct.RELATIVE_EIGEN_FLOOR, infer.WCT_FLOOR)


def test_moments_and_the_map_agree_with_torch_above_the_grids_size():
    """Both paths take the moments on the same grid, and apply the map to every position."""
    from stylekit.nets.adain import wct
    rng = np.random.default_rng(1)
    content = (rng.normal(size=(1, 4, 300, 301)) * [[[[1]], [[2]], [[0.5]], [[3]]]] + 1).astype(np.float32)
    style = (rng.normal(size=(1, 4, 280, 290)) + 2).astype(np.float32)
    style[0, 1] += style[0, 0]
    for got, want in zip(numpy_transforms.moments(content), wct.moments(torch.from_numpy(content))):
        assert np.allclose(got, want.numpy(), rtol=1e-5, atol=1e-5)
    mine = numpy_transforms.transfer(content.copy(), [numpy_transforms.style_moments(style)], [1.0], 0.7)
    theirs = wct.whiten_colour(torch.from_numpy(content), torch.from_numpy(style), alpha=0.7).numpy()
    assert np.allclose(mine, theirs, atol=1e-3)


def test_the_style_is_resized_as_torch_resizes_it():
    from stylekit.base.tensors import resize_tensor
    img = structured(50, 70, seed=4)
    for size in ((20, 28), (90, 126)):   # shrinking (antialiased) and enlarging
        assert np.abs(portable.resize(img.numpy(), size) - resize_tensor(img, size).numpy()).max() < 1e-4


def test_whitening_and_colouring_give_the_styles_mean_and_covariance():
    rng = np.random.default_rng(0)
    content = rng.normal(size=(1, 6, 20, 30)).astype(np.float32) * rng.uniform(0.5, 3, (1, 6, 1, 1)).astype(np.float32)
    style = (rng.normal(size=(1, 6, 15, 15)) @ np.eye(15) + 2).astype(np.float32)
    style[0, 1] += style[0, 0]   # correlated channels
    styles = [numpy_transforms.style_moments(style)]
    out = numpy_transforms.transfer(content.copy(), styles, [1.0], 1.0)   # (transfer overwrites its input)
    (mean, cov), (s_mean, s_cov) = numpy_transforms.moments(out), numpy_transforms.moments(style)
    assert np.allclose(mean, s_mean, atol=1e-4) and np.allclose(cov, s_cov, atol=1e-3)
    assert np.allclose(numpy_transforms.transfer(content.copy(), styles, [1.0], 0.0), content, atol=1e-5)
    half = numpy_transforms.transfer(content.copy(), styles, [1.0], 0.5)
    assert np.allclose(half, (content + out) / 2, atol=1e-4)   # alpha mixes with the photo's features


def test_files_the_bundle_was_not_made_from_are_not_stood_in_for(tmp_path, monkeypatch):
    other = tmp_path / "wct_relu1_1.pt"
    torch.manual_seed(0)
    save_decoder(model.Decoder(width=0.5, level=1), other, {})   # a retrained relu1_1 decoder
    assert portable.load([SHIPPED[3], SHIPPED[0]]).levels == [4, 1]   # a subset of the shipped ones
    assert portable.load([SHIPPED[3], other]) is None
    assert portable.load([SHIPPED[0], SHIPPED[0]]) is None   # two of a level: torch's error
    assert portable.load([tmp_path / "missing.pt"]) is None
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(shipped.PORTABLE_WCT.read_bytes()[:5000])
    assert portable.load(SHIPPED, damaged) is None
    monkeypatch.setitem(sys.modules, "onnxruntime", None)   # import onnxruntime raises ImportError
    assert portable.load(SHIPPED) is None


def test_a_bundle_of_another_format_or_missing_a_graph_is_not_stood_in_for(tmp_path):
    """A bundle written before the encoder's graphs were composed (format 1: four stages), or
    one missing a graph, leaves the decoders to torch rather than failing in a pass."""
    def copied(name: str, meta_format: str | None = None, leave_out: str | None = None):
        out = tmp_path / name
        with zipfile.ZipFile(shipped.PORTABLE_WCT) as src, zipfile.ZipFile(out, "w") as dst:
            for entry in src.namelist():
                data = src.read(entry)
                if entry == "meta.json" and meta_format:
                    data = json.dumps({**json.loads(data), "format": meta_format}).encode()
                if entry != leave_out:
                    dst.writestr(entry, data)
        return out
    assert portable.load(SHIPPED, copied("same.zip")) is not None
    assert portable.load(SHIPPED, copied("old.zip", meta_format="style-transfer-wct-onnx/1")) is None
    assert portable.load(SHIPPED, copied("partial.zip", leave_out="through2.onnx")) is None
    assert portable.load_adain(shipped.default_decoders("adain")[0], copied("no_encoder.zip", leave_out="encoder.onnx")) is None


@pytest.mark.parametrize("method, style_size", [("wct", [41, 41]), ("wct-lite", [41, 41]), ("adain", [20, 20])])
def test_adain_runs_its_onnx_copies_without_importing_torch(tmp_path, method, style_size):
    content = write_png(tmp_path / "photo.png", structured(30, 41))
    style = write_png(tmp_path / "style.png", structured(32, 32, seed=3))
    out = tmp_path / "out.png"
    code = ("import sys; from stylekit.cli.main import main; "
            f"code = main(['adain', '--method', {method!r}, '--content', {str(content)!r}, '--style', {str(style)!r}, "
            f"'--size', '41', '--out', {str(out)!r}]); print('torch' in sys.modules); sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"
    meta = json.loads(out.with_suffix(".json").read_text())
    assert (meta["runtime"], meta["precision"], meta["method"], meta["style_size"]) == ("onnxruntime", "fp32", method,
                                                                                         style_size)
    if method == "adain":
        assert meta["training"][0]["style_count"] > 0   # the sidecar's summary, as torch's path writes it


@pytest.mark.parametrize("flags, runtime", [([], "onnxruntime"), (["--precision", "bf16"], "torch"),
                                            (["--preserve-color", "luminance"], "torch"),
                                            (["--method", "adain"], "onnxruntime"),
                                            (["--method", "adain", "--precision", "bf16"], "torch"),
                                            (["--method", "wct", "--decoder", str(SHIPPED[3]), str(SHIPPED[1])],
                                             "onnxruntime")])
def test_adain_takes_torch_where_the_bundle_cannot_serve(tmp_path, flags, runtime):
    assert adain_sidecar(tmp_path, flags, style_side=24)["runtime"] == runtime


@pytest.mark.parametrize("height, width, flags, words", [
    (6, 40, [], "is 40x6 px, too small: layer relu4_1 needs at least 8 px"),   # the file itself
    (40, 64, ["--style-scale", "0.001"], "style.png at 8x5 px is too small: relu4_1 needs at least 8 px on each "
                                         "side; raise --size or --style-scale"),   # once resized
    (40, 64, ["--size", "1"], "style.png at 8x5 px is too small")])
def test_both_paths_refuse_a_style_too_small_alike(tmp_path, capsys, height, width, flags, words):
    content = write_png(tmp_path / "photo.png", structured(24, 32))
    style = write_png(tmp_path / "style.png", structured(height, width))
    said = []
    for precision in ([], ["--precision", "bf16"]):
        assert toolkit.main(["adain", "--content", str(content), "--style", str(style), "--out",
                             str(tmp_path / "o.png"), *flags, *precision]) == 2
        said.append(capsys.readouterr().err)
    assert said[0] == said[1] and words in said[0], said
    assert not (tmp_path / "o.png").exists()


def test_training_a_shipped_decoder_refreshes_the_bundle(tmp_path, monkeypatch, cnn):
    decoders = [tmp_path / f"wct_relu{level}_1.pt" for level in shipped.LEVELS]
    torch.manual_seed(0)
    for level, path in zip(shipped.LEVELS, decoders):
        save_decoder(model.Decoder(width=0.125, level=level), path, {})
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        write_png(photos / f"p{i}.png", structured(48, 64, seed=i))
    monkeypatch.setattr(export, "load_vgg19", lambda *a: cnn)
    bundle = tmp_path / "wct_portable.zip"
    export.export_portable(sorted(photos.iterdir()), decoders, bundle)
    before = bundle.read_bytes()
    monkeypatch.setattr(train_adain_cli, "default_decoders", lambda method: decoders)
    monkeypatch.setattr(train_adain_cli, "bundle_path", lambda method: bundle)
    monkeypatch.setattr(train_adain_cli, "load_vgg19", lambda *a: cnn)
    assert toolkit.main(["train-wct", "--level", "1", "--width", "0.125", "--data", str(photos), "--steps", "2",
                         "--batch", "1", "--size", "32", "--out", str(decoders[0])]) == 0
    assert bundle.read_bytes() != before
    assert portable.load(decoders, bundle) is not None   # made from the decoder just trained


# Freed buffers kept at 512 px, not at 1024; a 64 px picture with the painting at 1536 px, whose
# own pass the estimate had at 10 bytes a pixel (a 1536 px painting: 1.0 GB estimated, 2.4 taken).
@pytest.mark.parametrize("size, style_scale", [(512, 1), (1024, 1), (64, 24)])
def test_the_bundle_holds_no_more_memory_than_the_check_allows_for(tmp_path, size, style_scale):
    """`adain` refuses runs by torch's memory model (`limits.estimate('wct', ...)`); the ONNX
    path must stay within it (with ONNX Runtime's arenas it took 1.5 times the estimate at 1024
    px, and with freed buffers kept there up to 1.0 times)."""
    from stylekit.base.limits import estimate
    out = tmp_path / "big.png"
    # The peak of this process's own memory (VmHWM): ru_maxrss would keep pytest's, whose pages
    # the child shared between fork and exec.
    code = ("import re, sys; from stylekit.cli.main import main; code = main(['adain', '--content', "
            f"'images/content/astronaut.jpg', '--style', 'images/style/night_cafe.jpg', '--size', '{size}', "
            f"'--style-scale', '{style_scale}', "
            f"'--out', {str(out)!r}]); "
            "print(re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read()).group(1)); sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    peak = int(done.stdout.split()[-1]) * 1024   # the command's own peak RSS, in bytes
    meta = json.loads(out.with_suffix(".json").read_text())
    (h, w), (sh, sw) = meta["size"], meta["style_size"]
    assert meta["runtime"] == "onnxruntime"
    assert peak <= estimate("wct", h * w, sh * sw), (peak, estimate("wct", h * w, sh * sw))


def test_a_photos_encode_to_one_level_gives_the_whole_encoders_features(exact, bundle):
    """A photo's encode to relu1_1 ... relu3_1 runs a graph to that level alone: in fp32 the
    whole encoder's features at that level, and in the shipped bundle's 8 bits within its
    rounding (the whole encoder rounds each level's features again for its own output)."""
    x = structured(40, 56).numpy()
    for pipeline, close in ((exact, 1e-5), (bundle, 0.02)):
        whole = pipeline.encode(x, 4)
        assert [f.shape[1] for f in whole] == [64, 128, 256, 512]
        for level in shipped.LEVELS:
            alone = pipeline.deepest(x, level)
            assert alone.shape == whole[level - 1].shape
            assert np.abs(alone - whole[level - 1]).mean() <= close * np.abs(whole[level - 1]).mean()


def test_paintings_and_photos_are_kept_and_give_the_same_pictures(exact):
    """A second picture with the same painting does not encode the painting again, and one of
    the same photo skips the photo's first encode (the later levels encode the picture so far,
    which depends on the painting); kept by the pixels, not the array object; the pictures are
    the same to the last bit."""
    exact.kept_styles.clear()
    exact.kept_photos.clear()
    content = structured(40, 56).numpy()
    style = structured(48, 48).numpy()[..., ::-1].copy()
    first = exact.stylize(content, [style], onepass("wct", alpha=0.6))
    encoded = []   # (shape, level) of each encode: a painting's, to every level, and a photo's, to one
    original, deepest = exact.encode, exact.deepest
    exact.encode = lambda x, levels: encoded.append((x.shape, levels)) or original(x, levels)
    exact.deepest = lambda x, level: encoded.append((x.shape, level)) or deepest(x, level)
    try:
        again = exact.stylize(content.copy(), [style.copy()], onepass("wct", alpha=0.6))
        assert np.array_equal(first, again)
        assert encoded == [((1, 3, 40, 56), level) for level in exact.levels[1:]]   # the later levels alone
        assert np.array_equal(first, exact.stylize(content, [style], onepass("wct", alpha=0.6)))   # what is kept stays as it was
        encoded.clear()
        other_alpha = exact.stylize(content, [style], onepass("wct", alpha=0.3))   # a photo kept is not a picture kept
        assert not np.array_equal(other_alpha, first) and len(encoded) == len(exact.levels) - 1
        changed = style.copy()
        changed[0, 0, 0, 0] += 0.5   # one pixel: another painting
        encoded.clear()
        exact.stylize(content, [changed], onepass("wct", alpha=0.6))
        assert [e for e in encoded if e[0] == (1, 3, 48, 48)] == [((1, 3, 48, 48), exact.levels[0])]
        for k in range(exact.KEPT_STYLES):
            exact.style_statistics(style * (0.9 - 0.01 * k))
        encoded.clear()
        exact.stylize(content, [style], onepass("wct", alpha=0.6))   # pushed out by newer paintings: encoded again
        assert [e for e in encoded if e[0] == (1, 3, 48, 48)] == [((1, 3, 48, 48), exact.levels[0])]
        exact.forget()   # what bench times: a new photo and painting
        encoded.clear()
        assert np.array_equal(exact.stylize(content, [style], onepass("wct", alpha=0.6)), first)
        assert sorted(encoded) == sorted([((1, 3, 48, 48), 4)] + [((1, 3, 40, 56), level) for level in exact.levels])
    finally:
        exact.encode, exact.deepest = original, deepest


def test_kept_values_are_bounded_in_count_and_bytes():
    from stylekit.base.kept import Kept, pixels_key
    a = np.zeros((2, 3), np.float32)
    assert pixels_key(a) == pixels_key(a.copy()) != pixels_key(a.reshape(3, 2))   # the shape counts
    b = a.copy()
    b[1, 2] = 1e-30
    assert pixels_key(b) != pixels_key(a)
    kept = Kept(3, limit=100, size=len)
    for name, value in [("a", "x" * 10), ("b", "y" * 10), ("c", "z" * 10)]:
        kept.put(name.encode(), value)
    assert kept.get(b"a") == "x" * 10   # a is now the most recent
    kept.put(b"d", "w" * 10)
    assert kept.get(b"b") is None and kept.get(b"a") is not None   # the least recent went
    kept.put(b"big", "v" * 101)   # larger than the limit alone: not kept, nothing pushed out
    assert kept.get(b"big") is None and kept.get(b"c") is not None
    kept.put(b"e", "u" * 85)   # 85 + 10 + 10 + 10 > 100: the least recent (a, then d) go until it fits
    assert [kept.get(k) is not None for k in (b"a", b"c", b"d", b"e")] == [False, True, False, True]


def test_a_photo_too_large_to_keep_is_neither_kept_nor_copied(exact, monkeypatch):
    """Print-size features (over KEPT_PHOTO_BYTES) would be a large copy made only to be dropped."""
    content = structured(40, 56).numpy()[..., ::-1].copy()
    style = structured(48, 48).numpy()
    feat_bytes = 512 * 5 * 7 * 4   # relu4_1 of the padded 40x56 photo
    monkeypatch.setattr(exact, "KEPT_PHOTO_BYTES", feat_bytes - 1)
    monkeypatch.setattr(exact.kept_photos, "limit", feat_bytes - 1)
    exact.forget()
    offered = []
    monkeypatch.setattr(exact.kept_photos, "put", lambda key, value: offered.append(value))
    first = exact.stylize(content, [style], onepass("wct", alpha=0.6))
    assert offered == [] and exact.kept_photos.get(portable.pixels_key(portable.pad_to_stride(content))) is None
    monkeypatch.setattr(exact, "KEPT_PHOTO_BYTES", feat_bytes)
    assert np.array_equal(exact.stylize(content, [style], onepass("wct", alpha=0.6)), first) and len(offered) == 1
