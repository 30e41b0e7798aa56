"""nets.adain.student: WCT's narrow encoder, distilled from VGG-19; decoders of its features;
the encoder a set of decoders needs; `train-student` and `train-wct --encoder`."""
import copy

import numpy as np
import pytest
import torch

from conftest import structured
from nets_helpers import one_error_line, photo_folder
from stylekit.base.errors import InputError
from stylekit.cli import main as toolkit
from stylekit.nets.adain import infer, model, student, train
from stylekit.nets.crops import RandomCrops
from stylekit.settings import TrainSettings

TEACHER_CHANNELS = [64, 128, 256, 512]
WCT = {"kind": "wct"}   # what train-wct records: the decoders of either WCT


@pytest.fixture(scope="module")
def teacher(cnn):
    return model.Encoder(cnn)


def test_pruning_keeps_each_filter_with_the_inputs_it_reads(teacher):
    """A teacher whose filters that pruning drops are zero computes its kept channels from the
    kept channels alone: the pruned student, its lift started as the pruning's choice of
    channels, must then give the teacher's features exactly, at every level."""
    sparse = copy.deepcopy(teacher)
    with torch.no_grad():
        for conv, keep in zip(student.convolutions(sparse), student.channels(0.25)):
            dropped = conv.weight.abs().sum((1, 2, 3)).argsort()[:conv.out_channels - keep]
            conv.weight[dropped] = 0
            conv.bias[dropped] = 0
    net = student.Distillation(student.pruned(sparse, 0.25), TEACHER_CHANNELS, student.kept_channels(sparse, 0.25))
    x = structured(40, 48)
    with torch.no_grad():
        for lifted, target in zip(net(x), sparse(x)):
            assert torch.allclose(lifted, target, rtol=1e-4, atol=1e-4 * target.abs().max().item())
        assert sum(student.DistillLoss(sparse)(net, x).values()).item() < 1e-8
        # relu1_1 keeps all 64 channels: the unpruned teacher's own
        assert torch.equal(student.pruned(teacher, 0.25)(x, 1)[0], teacher(x, 1)[0])


@pytest.mark.parametrize("height, width", [(17, 23), (32, 40)])
def test_a_quarter_width_student_gives_each_level_a_quarter_of_the_channels(teacher, height, width):
    narrow = student.StudentEncoder(0.25)
    x = torch.rand(1, 3, height, width)
    with torch.no_grad():
        ours, theirs = narrow(x), teacher(x)
    assert [f.shape[1] for f in ours] == [64, 32, 64, 128]   # relu1_1 whole
    assert [f.shape[-2:] for f in ours] == [f.shape[-2:] for f in theirs]
    assert sum(p.numel() for p in narrow.parameters()) < sum(p.numel() for p in teacher.parameters()) / 14


def test_calibration_scales_each_level_to_the_teachers_mean_and_changes_nothing_else(teacher):
    narrow = student.pruned(teacher, 0.25)
    images = torch.cat([structured(32, 32, seed=i) for i in range(3)])
    with torch.no_grad():
        before = narrow(images)
        factors = student.calibrate(narrow, images)
        after = narrow(images)
    for level, (b, a, c) in enumerate(zip(before, after, factors)):
        assert a.mean().item() == pytest.approx(model.LAYER_SCALES[level], rel=1e-4)
        assert torch.allclose(a, c * b, rtol=1e-3, atol=1e-4 * a.abs().max().item())


def test_a_decoder_of_the_students_features_gives_back_the_image_size():
    narrow = student.StudentEncoder(0.25)
    x = torch.rand(1, 3, 24, 40)
    for level in model.LEVELS:
        decoder = model.Decoder(0.25, level, feature_width=0.25)
        with torch.no_grad():
            assert decoder(narrow(x, level)[-1]).shape == x.shape
        assert decoder.arch["feature_width"] == 0.25
    assert "feature_width" not in model.Decoder(0.25, 2).arch   # VGG decoders' files stay as made
    with pytest.raises(InputError, match="feature width"):
        model.Decoder(0.25, 2, feature_width=0)


@pytest.mark.slow
def test_distillation_lowers_the_loss_and_the_file_loads_calibrated(teacher, tmp_path):
    photos = list(photo_folder(tmp_path).iterdir())
    data = RandomCrops(photos, 32, 10 ** 6)
    config = TrainSettings.preset("student", steps=30, batch=2, lr=1e-3, precision="fp32", save_every=100)
    _, result = train.train_student(teacher, data, config, out=tmp_path / "s.pt")
    totals = [row["total"] for row in result.history]
    assert result.status == "done" and set(result.history[0]) == {*model.ENCODER_LAYERS, "total"}
    assert np.mean(totals[-5:]) < 0.7 * np.mean(totals[:5])
    loaded, settings = student.load_student(tmp_path / "s.pt")
    assert loaded.width == 0.25 and settings["steps"] == 30 and set(settings["calibration"]) == set(model.ENCODER_LAYERS)
    assert not any(p.requires_grad for p in loaded.parameters())
    crops = torch.stack([data[len(data) - 1 - i] for i in range(train.CALIBRATION_CROPS)])
    with torch.no_grad():
        means = [f.mean().item() for f in loaded(crops)]
    assert means == pytest.approx(list(model.LAYER_SCALES), rel=1e-2)   # weights stored in fp16


def test_decoders_name_the_encoder_they_need(tmp_path, monkeypatch):
    assert infer.encoder_for([{}, {}]).width == 1.0          # VGG-19's decoders
    with pytest.raises(InputError, match="different encoders"):
        infer.encoder_for([{"encoder_sha256": "a" * 64}, {}])
    with pytest.raises(InputError, match="not wct_lite_encoder.pt"):
        infer.encoder_for([{"encoder_sha256": "a" * 64}])
    monkeypatch.setattr(infer, "LITE_ENCODER", tmp_path / "gone.pt")
    with pytest.raises(InputError, match="gone.pt is missing: make models"):
        infer.encoder_for([{"encoder_sha256": "a" * 64}])
    decoders = [train.export(model.Decoder(0.125, level, feature_width=0.25), tmp_path / f"d{level}.pt", WCT)
                for level in (1, 2)]
    decoders.append(train.export(model.Decoder(0.125, 3), tmp_path / "vgg3.pt", WCT))
    with pytest.raises(InputError, match="different encoders' features"):
        infer.load_decoders("wct-lite", decoders)


def test_decoders_of_the_other_wct_are_refused_naming_the_method(tmp_path, capsys):
    """`--method wct` with WCT lite's decoders ran the narrow encoder with WCT's preset and
    recorded "wct" in the sidecar; the reverse ran VGG-19 as "wct-lite"."""
    narrow = [train.export(model.Decoder(0.125, level, feature_width=0.25), tmp_path / f"n{level}.pt", WCT)
              for level in (1, 2)]
    wide = [train.export(model.Decoder(0.125, 2), tmp_path / "w2.pt", WCT)]
    with pytest.raises(InputError, match=r"^these decoders decode the narrow encoder's features \(WCT lite's\): "
                                         r"give --method wct-lite, not wct$"):
        infer.load_decoders("wct", narrow)
    with pytest.raises(InputError, match=r"^these decoders decode VGG-19's features \(WCT's\): give --method wct, "
                                         r"not wct-lite$"):
        infer.load_decoders("wct-lite", wide)
    assert len(infer.load_decoders("wct-lite", narrow)[0]) == 2 and len(infer.load_decoders("wct", wide)[0]) == 1
    out = tmp_path / "new" / "o.png"
    assert toolkit.main(["adain", "--method", "wct", "--decoder", *map(str, narrow), "--content",
                         "images/content/chelsea.jpg", "--style", "images/style/starry_night.jpg", "--size", "32",
                         "--out", str(out)]) == 2
    assert one_error_line(capsys.readouterr().err).endswith("give --method wct-lite, not wct")
    assert not out.parent.exists()


@pytest.mark.slow
def test_train_student_then_a_decoder_of_its_features(tmp_path, capsys):
    photos = photo_folder(tmp_path)
    enc = tmp_path / "enc.pt"
    common = ["--data", str(photos), "--size", "32", "--batch", "2", "--precision", "fp32"]
    assert toolkit.main(["train-student", *common, "--steps", "3", "--out", str(enc)]) == 0
    dec = tmp_path / "dec2.pt"
    assert toolkit.main(["train-wct", "--level", "2", "--width", "0.125", "--encoder", str(enc), *common,
                         "--steps", "3", "--out", str(dec)]) == 0
    decoder, settings = infer.load_decoder(dec)
    assert decoder.arch["feature_width"] == 0.25 and settings["encoder_sha256"]
    capsys.readouterr()
    # a file that is no student is refused in one line, before any step
    assert toolkit.main(["train-wct", "--level", "2", "--encoder", str(dec), *common, "--steps", "3",
                         "--out", str(tmp_path / "other.pt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "not a WCT student encoder" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "other.pt").exists()
    assert toolkit.main(["train-student", *common, "--width", "1.5", "--out", str(tmp_path / "s2.pt")]) == 2
    assert "at most 1" in capsys.readouterr().err


def test_a_decoder_narrow_at_full_size_has_fewer_channels_only_there():
    narrow = student.StudentEncoder(0.25)
    x = torch.rand(1, 3, 40, 24)
    decoder = model.Decoder(0.5, 3, feature_width=0.25, full_size_width=0.25)
    convs = [(m.in_channels, m.out_channels) for m in decoder.net if isinstance(m, torch.nn.Conv2d)]
    # relu3_1 (64 channels) -> 64 at a quarter of the size, 64 then 16 at half, 16 then 3 at full size
    assert convs == [(64, 64), (64, 64), (64, 16), (16, 16), (16, 3)]
    with torch.no_grad():
        assert decoder(narrow(x, 3)[-1]).shape == x.shape
    assert decoder.arch["full_size_width"] == 0.25
    assert "full_size_width" not in model.Decoder(0.5, 3, full_size_width=0.5).arch   # as every older file
    assert "full_size_width" not in model.Decoder(0.5, 1, full_size_width=0.25).arch   # one convolution: no stage before
    with pytest.raises(InputError, match="full-size width"):
        model.Decoder(0.5, 3, full_size_width=1.5)


def test_a_wider_start_computes_what_the_narrow_decoder_did_and_a_narrower_one_keeps_its_first_channels():
    torch.manual_seed(0)
    start = model.Decoder(0.25, 3, feature_width=0.25).eval()
    feats = torch.rand(2, 64, 6, 5)
    wide = model.Decoder(0.5, 3, feature_width=0.25).eval()
    train.reshape_into(wide, start)
    with torch.no_grad():
        assert torch.allclose(wide(feats), start(feats), atol=1e-5)
    mixed = model.Decoder(0.5, 3, feature_width=0.25, full_size_width=0.125)
    train.reshape_into(mixed, wide)
    old, new = wide.state_dict(), mixed.state_dict()
    for name, value in new.items():
        assert torch.equal(value, old[name][tuple(slice(0, n) for n in value.shape)])
    assert new["net.15.weight"].shape == (3, 8, 3, 3)


def test_a_judges_features_are_the_ones_the_reconstruction_is_compared_in(teacher):
    """With VGG-19 as the judge, the feature term is the distance of the decoded crop's VGG-19
    features from the photo's, while the decoder is still given the narrow encoder's."""
    torch.manual_seed(0)
    narrow = student.StudentEncoder(0.25).eval()
    decoder = model.Decoder(0.125, 2, feature_width=0.25)
    images = torch.rand(2, 3, 32, 32)
    judged = model.ReconstructionLoss(narrow, 2, 1.0, 0.0, judge=teacher)(decoder, images)["features"]
    own = model.ReconstructionLoss(narrow, 2, 1.0, 0.0)(decoder, images)["features"]
    with torch.no_grad():
        decoded = decoder(narrow(images, 2)[-1])
        expected = model.FeatureLoss(2)(teacher(decoded, 2)[-1], teacher(images, 2)[-1])
    assert judged.item() == pytest.approx(expected.item(), rel=1e-4)
    assert abs(judged.item() - own.item()) > 0.1 * expected.item()
    with pytest.raises(InputError, match="--feature-loss"):
        TrainSettings.preset("wct", feature_loss="pixels")


def test_a_start_must_decode_the_same_encoders_features(tmp_path):
    made = train.export(model.Decoder(0.125, 2, feature_width=0.25), tmp_path / "d2.pt", {"encoder_sha256": "aa"})
    arch = model.Decoder(0.25, 2, feature_width=0.25).arch
    assert train.starting_decoder(made, arch, "aa").arch["width"] == 0.125   # widths may differ
    with pytest.raises(InputError, match="another encoder's features than this run's"):
        train.starting_decoder(made, arch, "bb")
