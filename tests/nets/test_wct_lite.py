"""WCT lite, as shipped: the narrow encoder and its four decoders load and run in torch, their
ONNX bundle is made from those files and stays close to torch, `adain --method wct-lite` runs it
without torch (tests/nets/test_wct_portable.py), and a bundle is never made of decoders of another encoder."""
import pytest
import torch

from conftest import ROOT
from nets_helpers import near, pixels, torch_pixels, onepass
from stylekit.base.files import file_sha256
from stylekit.nets.adain import export, infer, model, portable, shipped, student
from stylekit.nets.adain.train import export as save_decoder

LITE = shipped.default_decoders("wct-lite")


@pytest.fixture(scope="module")
def torch_lite():
    decoders, trained = infer.load_decoders("wct-lite")
    return infer.encoder_for(trained), decoders


def test_the_shipped_decoders_decode_the_shipped_students_features(torch_lite):
    encoder, decoders = torch_lite
    assert isinstance(encoder, student.StudentEncoder) and encoder.width == 0.25
    _, trained = infer.load_decoders("wct-lite")
    assert {t["encoder_sha256"] for t in trained} == {file_sha256(shipped.LITE_ENCODER)}
    assert sorted(d.level for d in decoders) == list(shipped.LEVELS)
    content = torch.rand(1, 3, 37, 50)
    out = infer.stylize(encoder, decoders, content, torch.rand(1, 3, 30, 30), onepass("wct-lite"))
    assert out.shape == content.shape and 0 <= out.min() and out.max() <= 1


def test_the_lite_bundle_is_made_from_the_shipped_files_and_stays_close_to_torch(torch_lite):
    from stylekit.base.images import fit_size, open_image, resize_longest
    net = portable.load_for("wct-lite", LITE)
    assert net is not None, "models/wct_lite.zip is missing, or was made from other decoder files"
    assert portable.load_for("wct", LITE) is None   # VGG-19's bundle holds none of these decoders
    content = portable.to_array(resize_longest(open_image(ROOT / "images/content/chelsea.jpg"), 128))
    painting = open_image(ROOT / "images/style/great_wave.jpg")
    style = portable.resize(portable.to_array(painting), fit_size(*painting.size, 128)[::-1])
    near(pixels(net.stylize(content, [style], onepass("wct-lite", alpha=0.6))), torch_pixels(torch_lite, "wct-lite", content, [style], 0.6))


def test_a_bundle_of_decoders_of_another_encoder_is_refused(tmp_path):
    vgg_decoder = save_decoder(model.Decoder(0.125, 1), tmp_path / "vgg1.pt", {})
    with pytest.raises(ValueError, match="another encoder's features"):
        export.export_portable([ROOT / "images/content/chelsea.jpg"], [vgg_decoder], tmp_path / "b.zip",
                               shipped.LITE_ENCODER)
    assert not (tmp_path / "b.zip").exists()


def test_the_lite_pass_does_a_fraction_of_vggs_work():
    """The reason for the method: the narrow encoder's convolutions do under a tenth of VGG-19's
    multiply-adds up to relu4_1 (counted per output pixel of each layer)."""
    def macs(encoder):
        total, side = 0, 64
        for stage in encoder.stages:
            for m in stage:
                if isinstance(m, torch.nn.MaxPool2d):
                    side //= 2
                elif isinstance(m, torch.nn.Conv2d):
                    total += side * side * m.out_channels * m.in_channels * 9
        return total
    narrow = student.load_student(shipped.LITE_ENCODER)[0]
    assert macs(narrow) < 0.1 * macs(model.Encoder(torch.nn.Sequential(*student.narrow_vgg(1.0))))
