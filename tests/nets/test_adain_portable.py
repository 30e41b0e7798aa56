"""nets.adain.portable's AdaIN: the decoder's ONNX copy on the bundle's encoder gives the torch
pipeline's pixels at any size, with blends and alpha; the shipped copy (on the 8-bit encoder)
stays close to them; it stands in only for the file it was made from; `train-adain` writes
it (test_wct_portable.py checks that `adain --method adain` runs it without importing torch)."""
import json
import sys

import numpy as np
import pytest
import torch

from conftest import ROOT, structured, write_png
from nets_helpers import agrees_at_size, agrees_in_blends, fp32_encoder, near, pixels, torch_pixels, onepass
from stylekit.cli import main as toolkit
from stylekit.nets.adain import export, infer, model, numpy_transforms, portable, shipped
from stylekit.nets.adain.train import export as save_decoder
from stylekit.base.files import file_sha256

SHIPPED = shipped.DEFAULT_DECODER


@pytest.fixture(scope="module")
def torch_adain(cnn):
    return model.Encoder(cnn), infer.load_decoders("adain")[0]


@pytest.fixture(scope="module")
def exact(cnn):
    """AdaIN over an fp32 encoder (the bundle's is quantised) and the shipped decoder's copy."""
    copy = portable._session(portable.adain_copy_path(SHIPPED).read_bytes())
    return portable.PortableAdaIN(*fp32_encoder(cnn), {4: copy}, [])


@pytest.mark.parametrize("height, width", [(48, 64), (37, 53), (13, 9), (5, 7)])
def test_the_copy_gives_the_torch_pipelines_pixels_at_odd_sizes(exact, torch_adain, height, width):
    agrees_at_size(exact, torch_adain, "adain", 1.0, height, width)


def test_blends_and_alpha_agree_with_torch(exact, torch_adain):
    agrees_in_blends(exact, torch_adain, "adain")


def test_a_photo_and_painting_seen_before_are_not_encoded_again(exact):
    """AdaIN's pass is the photo's encode, the painting's and the decoder: with both kept, the
    decoder alone, and the same picture; another alpha on them is still a new picture."""
    content, style = structured(40, 56).numpy(), structured(32, 32).numpy()[..., ::-1].copy()
    first = exact.stylize(content, [style], onepass("adain", alpha=0.8))
    encoded = []   # the shape of each image encoded, a painting's (to every level) or a photo's (to one)
    original, deepest = exact.encode, exact.deepest
    exact.encode = lambda x, levels: encoded.append(x.shape) or original(x, levels)
    exact.deepest = lambda x, level: encoded.append(x.shape) or deepest(x, level)
    try:
        for _ in range(2):   # what is kept stays as it was
            assert np.array_equal(exact.stylize(content.copy(), [style.copy()], onepass("adain", alpha=0.8)), first) and encoded == []
        assert not np.array_equal(exact.stylize(content, [style], onepass("adain", alpha=0.4)), first) and encoded == []
        exact.stylize(content[..., ::-1].copy(), [style], onepass("adain", alpha=0.8))
        assert encoded == [(1, 3, 40, 56)]   # another photo: its encode alone
    finally:
        exact.encode, exact.deepest = original, deepest


def test_channel_statistics_become_the_styles():
    rng = np.random.default_rng(0)
    content = (rng.normal(size=(1, 5, 12, 17)) * rng.uniform(0.5, 3, (1, 5, 1, 1))).astype(np.float32)
    style = (rng.normal(size=(1, 5, 9, 9)) * 2 + 1).astype(np.float32)
    out = numpy_transforms.adain(content.copy(), [numpy_transforms.channel_stats(style)], [1.0], 1.0)
    (mean, std), (s_mean, s_std) = numpy_transforms.channel_stats(out), numpy_transforms.channel_stats(style)
    assert np.allclose(mean, s_mean, atol=1e-4) and np.allclose(std, s_std, atol=1e-3)
    assert np.allclose(numpy_transforms.adain(content.copy(), [numpy_transforms.channel_stats(style)], [1.0], 0.0), content, atol=1e-5)
    assert numpy_transforms.ADAIN_EPS == 1e-5 == model.channel_stats.__defaults__[0]


def test_the_shipped_copy_is_current_and_stays_close_to_torch_on_a_photo(torch_adain):
    from stylekit.base.images import fit_size, open_image, resize_longest
    net = portable.load_adain(SHIPPED)
    assert net is not None, "models/adain_decoder.onnx is missing or was made from another adain_decoder.pt"
    assert net.training == [infer.load_decoder(SHIPPED)[1]]
    content = portable.to_array(resize_longest(open_image(ROOT / "images/content/chelsea.jpg"), 128))
    painting = open_image(ROOT / "images/style/great_wave.jpg")
    style = portable.resize(portable.to_array(painting), fit_size(*painting.size, 64)[::-1])
    near(pixels(net.stylize(content, [style], onepass("adain"))), torch_pixels(torch_adain, "adain", content, [style], 1.0))


def test_the_copy_stands_in_only_for_the_file_it_was_made_from(tmp_path, monkeypatch):
    other = tmp_path / "adain_decoder.pt"
    other.write_bytes(SHIPPED.read_bytes())
    assert portable.load_adain(other) is None   # no copy beside it
    portable.adain_copy_path(other).write_bytes(portable.adain_copy_path(SHIPPED).read_bytes())
    assert portable.load_adain(other) is not None   # the same file, its copy beside it
    torch.manual_seed(0)
    save_decoder(model.Decoder(width=0.125), other, {})   # retrained since
    assert portable.load_adain(other) is None
    wct_level4 = shipped.wct_decoder_path(4)
    assert portable.load_adain(wct_level4) is None
    assert portable.load_adain(SHIPPED, tmp_path / "missing.zip") is None
    foreign = tmp_path / "foreign.pt"
    foreign.write_bytes(b"x")
    portable.adain_copy_path(foreign).write_bytes((ROOT / "models" / "starry_night.onnx").read_bytes())
    assert portable.load_adain(foreign) is None   # an ONNX file, but not an AdaIN copy
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert portable.load_adain(SHIPPED) is None


def test_the_export_records_the_decoders_hash_and_settings(tmp_path):
    path = tmp_path / "d.pt"
    torch.manual_seed(1)
    save_decoder(model.Decoder(width=0.125), path, {"kind": "adain", "steps": 3})
    assert export.export_adain(path) == portable.adain_copy_path(path)
    net = portable.load_adain(path)
    assert net is not None and net.training == [infer.load_decoder(path)[1]]
    meta = portable._session(portable.adain_copy_path(path).read_bytes()).get_modelmeta().custom_metadata_map
    assert meta["source_sha256"] == file_sha256(path) and meta["format"] == portable.ADAIN_FORMAT


@pytest.mark.parametrize("flags", [["--precision", "bf16"], ["--preserve-color", "luminance"],
                                   ["--decoder", str(SHIPPED), str(SHIPPED)]])
def test_adain_takes_torch_where_the_copy_cannot_serve(tmp_path, flags, capsys):
    content = write_png(tmp_path / "photo.png", structured(24, 32))
    style = write_png(tmp_path / "style.png", structured(24, 24, seed=3))
    out = tmp_path / "out.png"
    code = toolkit.main(["adain", "--method", "adain", "--content", str(content), "--style", str(style),
                         "--size", "32", "--out", str(out), *flags])
    if flags[0] == "--decoder":   # torch's check, one line
        assert code == 2 and "give it one decoder of level 4" in capsys.readouterr().err and not out.exists()
    else:
        assert code == 0 and json.loads(out.with_suffix(".json").read_text())["runtime"] == "torch"


@pytest.mark.parametrize("method", ["adain", "wct"])
def test_the_output_never_overwrites_a_decoders_settings_or_copy(tmp_path, capsys, method):
    decoder = tmp_path / "dec.pt"
    decoder.write_bytes((SHIPPED if method == "adain" else shipped.wct_decoder_path(4)).read_bytes())
    settings = decoder.with_suffix(".json")
    settings.write_text('{"status": "done"}')
    content = write_png(tmp_path / "photo.png", structured(24, 32))
    assert toolkit.main(["adain", "--method", method, "--decoder", str(decoder), "--content", str(content),
                         "--style", str(content), "--size", "32", "--out", str(tmp_path / "dec.png")]) == 2
    assert "would overwrite the input file" in capsys.readouterr().err
    assert settings.read_text() == '{"status": "done"}' and not (tmp_path / "dec.png").exists()
