"""AdaIN: the statistics it transfers, the decoder's output shape and range, training through
the shared loop, saved decoders (and refused files), alpha, style blends, masks, colour
preservation, the CLI glue, and the GIMP pattern reader of the style-set builder."""
import argparse
import json
import struct

import numpy as np
import pytest
import torch

from stylekit.nets import adain
from stylekit.optim import color
from conftest import structured, write_png
from stylekit.nets.training import CHECKPOINT_FORMAT, load_checkpoint
from stylekit.base.errors import InputError
from stylekit.base.files import save_torch


@pytest.fixture(scope="module")
def encoder(cnn):
    return adain.Encoder(cnn)


@pytest.fixture(scope="module")
def decoder():
    torch.manual_seed(0)
    return adain.Decoder(width=0.125).eval()


def stripes(h: int, w: int, rgb=(220, 40, 40), period: int = 6, seed: int = 0) -> torch.Tensor:
    """A striped 'painting' of one dominant colour, with some noise."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.float32)
    on = (np.arange(w)[None, :] % period < period // 2)
    img[:] = np.array(rgb, np.float32) / 255 * on[..., None]
    img += rng.uniform(0, 0.2, (h, w, 3))
    return torch.from_numpy(img.clip(0, 1)).permute(2, 0, 1)[None]


def test_fresh_decoder_keeps_the_signal_and_starts_grey():
    torch.manual_seed(0)
    feat = torch.relu(torch.randn(2, 512, 8, 8) * 12 + 4)  # relu4_1-like: mean ~7
    dec = adain.Decoder(width=0.125)
    with torch.no_grad():
        hidden = dec.net[:-2](feat / adain.LAYER_SCALES[-1])  # before the output convolution
        out = dec(feat)
    # He initialisation keeps the activations' scale through eight convolutions (PyTorch's
    # default init leaves ~0.04 here), while the output starts as flat mid-grey.
    assert hidden.std().item() > 0.3
    assert out.mean().item() == pytest.approx(0.45, abs=0.01) and out.std().item() < 0.02


def test_adain_gives_the_style_statistics():
    torch.manual_seed(0)
    content = torch.randn(2, 8, 10, 12) * 3 + 1
    style = torch.randn(2, 8, 7, 9) * torch.rand(1, 8, 1, 1) * 5 + torch.randn(1, 8, 1, 1) * 4
    out = adain.adain(content, style)
    out_mean, out_std = adain.channel_stats(out)
    style_mean, style_std = adain.channel_stats(style)
    assert torch.allclose(out_mean, style_mean, atol=1e-4)
    assert torch.allclose(out_std, style_std, rtol=1e-3)
    # An all-ones mask gives the unmasked statistics.
    for a, b in zip(adain.masked_stats(content[:1], torch.ones(1, 1, 10, 12)), adain.channel_stats(content[:1])):
        assert torch.allclose(a, b, atol=1e-5)


def test_encoder_keeps_max_pooling_and_leaves_the_vgg_alone(cnn, encoder):
    layers = [m for stage in encoder.stages for m in stage]
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in layers) == 3
    assert not any(isinstance(m, torch.nn.AvgPool2d) for m in layers)
    assert not any(p.requires_grad for p in encoder.parameters())
    assert next(cnn.parameters()).is_contiguous()  # the layout change stayed in the copy
    feats = encoder(torch.rand(1, 3, 32, 40))
    assert [f.shape[1:] for f in feats] == [(64, 32, 40), (128, 16, 20), (256, 8, 10), (512, 4, 5)]


@pytest.mark.parametrize("shape", [(97, 131), (5, 7), (64, 48)])
def test_output_has_the_content_size_and_range(encoder, decoder, shape):
    content = torch.rand(1, 3, *shape)
    out = adain.stylize(encoder, decoder, content, stripes(40, 50))
    assert out.shape == content.shape
    assert 0 <= out.min() and out.max() <= 1


def test_training_lowers_the_loss_and_the_decoder_round_trips(encoder, tmp_path):
    photos = [write_png(tmp_path / f"p{i}.png", structured(40 + 8 * i, 56, seed=i)) for i in range(3)]
    styles = [write_png(tmp_path / f"s{i}.png", stripes(48, 48, rgb, period=4 + 2 * i, seed=i))
              for i, rgb in enumerate([(220, 40, 40), (30, 60, 200), (240, 200, 30)])]
    data = adain.ContentStylePairs(photos, styles, 32, length=10 ** 6)
    assert data[0].shape == (2, 3, 32, 32)
    out = tmp_path / "dec.pt"
    torch.manual_seed(0)
    _, result = adain.train_decoder(encoder, data, out=out, steps=30, batch=2, lr=2e-3, style_weight=10.0,
                                    width=0.125, precision="fp32", resume=False, device=torch.device("cpu"),
                                    settings={"size": 32}, save_every=10)
    totals = [row["total"] for row in result.history]
    assert result.status == "done" and len(totals) == 30
    assert np.mean(totals[-5:]) < 0.7 * np.mean(totals[:5])
    assert adain.checkpoint_path(out).exists()

    loaded, settings = adain.load_decoder(out)
    assert settings["steps"] == 30 and settings["width"] == 0.125 and settings["style_weight"] == 10.0
    assert set(settings["final_losses"]) == {"content", "style", "total"} and settings["seconds"] > 0
    assert all(v.dtype == torch.float16 for v in torch.load(out, weights_only=True)["state"].values())
    img = adain.stylize(encoder, loaded, torch.rand(1, 3, 33, 45), torch.rand(1, 3, 24, 24))
    assert img.shape == (1, 3, 33, 45)

    # --resume continues from the checkpoint at this run's step size; the decoder file keeps
    # the total time and each sitting.
    _, resumed = adain.train_decoder(encoder, data, out=out, steps=32, batch=2, lr=1e-3, style_weight=10.0,
                                     width=0.125, precision="fp32", resume=True, device=torch.device("cpu"),
                                     settings={"size": 32})
    assert resumed.step == 32 and resumed.first_step == 30 and resumed.history[:30] == result.history
    later = adain.load_decoder(out)[1]
    assert later["steps"] == 32 and later["seconds"] > settings["seconds"] and later["lr"] == 1e-3
    assert [(s["steps"], s["lr"]) for s in later["sittings"]] == [([0, 30], 2e-3), ([30, 32], 1e-3)]
    assert later["seconds"] == pytest.approx(sum(s["seconds"] for s in later["sittings"]))
    assert load_checkpoint(adain.checkpoint_path(out))["optimizer"]["param_groups"][0]["lr"] == 1e-3


def test_identity_loss_decodes_each_crops_own_features(encoder, decoder):
    torch.manual_seed(0)
    pairs = torch.rand(2, 2, 3, 32, 32)
    images = torch.cat([pairs[:, 0], pairs[:, 1]])
    with torch.no_grad():
        terms = adain.AdaINLoss(encoder, 10.0, identity_weight=5.0)(decoder, pairs)
        expected = 5.0 * ((decoder(encoder(images)[-1]) - images) ** 2).mean()
        assert terms["identity"].item() == pytest.approx(expected.item(), rel=1e-4)
        assert set(adain.AdaINLoss(encoder, 10.0)(decoder, pairs)) == {"content", "style"}


def test_bad_decoder_files_are_refused_in_one_line(tmp_path, decoder):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    foreign = tmp_path / "foreign.pt"
    torch.save({"format": "style-transfer-feedforward/1", "state": {}}, foreign)
    mismatched = tmp_path / "mismatched.pt"
    adain.export(decoder, mismatched, {})
    saved = torch.load(mismatched, weights_only=True)
    saved["arch"] = {"width": 0.25}
    torch.save(saved, mismatched)
    for path, words in [(tmp_path / "missing.pt", "not found"), (corrupt, "not a readable"),
                        (foreign, "not an AdaIN decoder"), (mismatched, "do not fit")]:
        with pytest.raises(InputError) as info:
            adain.load_decoder(path)
        assert words in str(info.value) and "\n" not in str(info.value)


def test_training_cli_errors_exit_2_with_one_line(tmp_path, capsys):
    broken = tmp_path / "dec.ckpt"
    broken.write_bytes(b"garbage")
    save_torch({"format": CHECKPOINT_FORMAT, "step": 5, "settings": {"width": 0.25}}, tmp_path / "wide.ckpt")
    assert adain.main(["--train", "--resume", "--out", str(tmp_path / "dec.pt")]) == 2
    assert adain.main(["--train", "--out", str(tmp_path / "dec.txt")]) == 2
    assert adain.main(["--train", "--size", "8", "--out", str(tmp_path / "x.pt")]) == 2
    assert adain.main(["--train", "--resume", "--width", "0.5", "--out", str(tmp_path / "wide.pt")]) == 2
    assert adain.main(["--train", "--identity-weight", "-1", "--out", str(tmp_path / "x.pt")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 5 and all(line.startswith("error: ") for line in errors)
    assert "checkpoint" in errors[0] and ".pt" in errors[1] and "--size" in errors[2] and "width 0.25" in errors[3]
    assert "--identity-weight" in errors[4]


def test_alpha_zero_decodes_the_content_features(encoder, decoder):
    content, style = torch.rand(1, 3, 40, 48), stripes(32, 32)
    out = adain.stylize(encoder, decoder, content, style, alpha=0.0)
    with torch.no_grad():
        plain = decoder(encoder(content)[-1]).clamp(0, 1)
    assert torch.allclose(out, plain, atol=1e-5)
    half = adain.stylize(encoder, decoder, content, style, alpha=0.5)
    full = adain.stylize(encoder, decoder, content, style)
    assert (half - out).abs().mean() < (full - out).abs().mean()
    with pytest.raises(InputError, match="alpha"):
        adain.stylize(encoder, decoder, content, style, alpha=1.5)


def test_blend_weights(encoder, decoder):
    content = torch.rand(1, 3, 40, 48)
    red, blue = stripes(32, 32, (220, 40, 40)), stripes(36, 30, (30, 60, 200), seed=1)
    single = adain.stylize(encoder, decoder, content, red)
    assert torch.equal(adain.stylize(encoder, decoder, content, [red, blue], weights=[1.0, 0.0]), single)
    # Weights are normalised: (2, 2) is the equal blend, which is the default.
    assert torch.allclose(adain.stylize(encoder, decoder, content, [red, blue], weights=[2.0, 2.0]),
                          adain.stylize(encoder, decoder, content, [red, blue]), atol=1e-6)
    for bad in ([1.0], [-1.0, 2.0], [0.0, 0.0]):
        with pytest.raises(InputError):
            adain.stylize(encoder, decoder, content, [red, blue], weights=bad)


def test_masks_route_each_style_to_its_region(encoder, decoder):
    torch.manual_seed(0)
    content = torch.randn(1, 16, 6, 8)
    styles = [torch.randn(1, 16, 5, 5) * 2 + 3, torch.randn(1, 16, 5, 5) * 0.5 - 2]
    left = torch.zeros(1, 1, 6, 8)
    left[..., :4] = 1
    target = adain.transfer_features(content, styles, masks=[left, 1 - left])
    for mask, style in zip([left, 1 - left], styles):
        got_mean, got_std = adain.masked_stats(target, mask)
        want_mean, want_std = adain.channel_stats(style)
        assert torch.allclose(got_mean, want_mean, atol=1e-4) and torch.allclose(got_std, want_std, rtol=1e-3)

    # End to end: a mask giving everything to the first style is that style alone, and a
    # one-region mask of zeros leaves the content features (alpha 0).
    image = torch.rand(1, 3, 37, 45)
    red, blue = stripes(32, 32, (220, 40, 40)), stripes(32, 32, (30, 60, 200), seed=1)
    ones, zeros = torch.ones(1, 1, 37, 45), torch.zeros(1, 1, 37, 45)
    routed = adain.stylize(encoder, decoder, image, [red, blue], masks=[ones, zeros])
    assert torch.allclose(routed, adain.stylize(encoder, decoder, image, red), atol=1e-4)
    untouched = adain.stylize(encoder, decoder, image, red, masks=[zeros])
    assert torch.allclose(untouched, adain.stylize(encoder, decoder, image, red, alpha=0.0), atol=1e-4)
    with pytest.raises(InputError, match="mask"):
        adain.stylize(encoder, decoder, image, [red, blue], masks=[ones])
    with pytest.raises(InputError, match="combined"):
        adain.stylize(encoder, decoder, image, [red, blue], masks=[ones, zeros], weights=[1, 1])


def test_colour_preservation(encoder, decoder):
    content, style = structured(40, 48), stripes(32, 32)
    kept = adain.stylize(encoder, decoder, content, style, preserve_color="luminance")
    chroma = lambda img: color.rgb_to_yiq(img)[:, 1:]  # noqa: E731
    # Only where no channel was clipped is the content's chroma exactly back.
    inside = ((kept > 0.02) & (kept < 0.98)).all(1, keepdim=True).expand(-1, 2, -1, -1)
    assert torch.allclose(chroma(kept)[inside], chroma(content)[inside], atol=0.02)
    assert adain.stylize(encoder, decoder, content, style, preserve_color="histogram").shape == content.shape
    with pytest.raises(InputError, match="preserve_color"):
        adain.stylize(encoder, decoder, content, style, preserve_color="sepia")


def cli_args(**overrides) -> argparse.Namespace:
    args = dict(adain=None, content=None, style=None, style_blend=None, alpha=1.0, preserve_color=None,
                mask=None, size=48, out=None, max_pixels=10 ** 7, precision="fp32", style_scale=None)
    args.update(overrides)
    return argparse.Namespace(**args)


def test_from_cli_writes_the_image_and_its_sidecar(tiny_images, tmp_path, decoder, capsys):
    content, style = tiny_images
    model = adain.export(decoder, tmp_path / "dec.pt", {"steps": 3, "style_files": ["a.jpg", "b.jpg"]})
    mask = write_png(tmp_path / "mask.png", np.repeat(np.repeat(np.eye(2, dtype=np.uint8) * 255, 24, 0), 32, 1))
    out = tmp_path / "out" / "result.png"
    code = adain.from_cli(cli_args(adain=model, content=[content], style=[style, style], mask=mask, out=out),
                          torch.device("cpu"))
    assert code == 0 and out.exists() and str(out) in capsys.readouterr().out
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["mode"] == "adain" and meta["size"] == [36, 48] and meta["seconds"] > 0
    assert meta["training"]["style_count"] == 2 and "style_files" not in meta["training"]
    # The style is resized from its file to --size x --style-scale (default 0.5) on its longest side.
    assert max(meta["style_size"]) == 24
    full = tmp_path / "full.png"
    adain.from_cli(cli_args(adain=model, content=[content], style=[style], style_scale=1.0, out=full),
                   torch.device("cpu"))
    assert max(json.loads(full.with_suffix(".json").read_text())["style_size"]) == 48
    with pytest.raises(InputError, match="not found"):
        adain.from_cli(cli_args(adain=tmp_path / "none.pt", content=[content], style=[style], out=out),
                       torch.device("cpu"))
    with pytest.raises(InputError, match="one --content"):
        adain.from_cli(cli_args(adain=model, content=[content, content], style=[style]), torch.device("cpu"))


def gimp_pattern(width: int, height: int, depth: int, pixels: bytes, name: bytes = b"test\0") -> bytes:
    header = struct.pack(">5I", 24 + len(name), 1, width, height, depth) + b"GPAT" + name
    return header + pixels


def test_gimp_pattern_reader():
    pixels = bytes(range(2 * 3 * 3))
    img = adain.read_gimp_pattern(gimp_pattern(2, 3, 3, pixels))
    assert img.mode == "RGB" and img.size == (2, 3)
    assert np.asarray(img).tobytes() == pixels
    assert adain.read_gimp_pattern(gimp_pattern(4, 1, 1, b"\x00\x40\x80\xff")).mode == "L"
    for bad in (gimp_pattern(2, 3, 3, pixels[:-1]), gimp_pattern(2, 3, 5, bytes(30)), b"GIMP" * 10):
        with pytest.raises(ValueError):
            adain.read_gimp_pattern(bad)


def test_run_py_adain_end_to_end(tiny_images, tmp_path, decoder):
    """`python run.py --adain DECODER --content C --style S --alpha A` in a real process: exit 0 and
    the PNG; a file that is not a decoder: exit 2 with one error line and nothing written."""
    import subprocess
    import sys
    from conftest import ROOT
    content, style = tiny_images
    model = adain.export(decoder, tmp_path / "dec.pt", {"steps": 3})
    out = tmp_path / "a.png"
    cmd = [sys.executable, "run.py", "--adain", str(model), "--content", str(content), "--style", str(style),
           "--alpha", "0.5", "--size", "40", "--out", str(out)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(out.with_suffix(".json").read_text())["alpha"] == 0.5
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a decoder")
    out.unlink()
    done = subprocess.run(cmd[:3] + [str(bad)] + cmd[4:], cwd=ROOT, capture_output=True, text=True)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: ")
    assert not out.exists()
