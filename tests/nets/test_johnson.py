"""nets.johnson: the style and texture networks keep odd sizes, training lowers the perceptual
loss, saved models load and run, and the shipped models load and paint their styles."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nets_helpers import photo_folder
from style_and_content import named_vgg_layers
from stylekit.base.errors import InputError
from stylekit.base.paths import MODELS, ROOT
from stylekit.nets import johnson as ff
from stylekit.nets.crops import RandomCrops
from stylekit.nets.training import load_network
from stylekit.optim.metrics import Distances
from stylekit.settings import TrainSettings
from utils import load_image


def test_network_keeps_odd_sizes_and_range():
    net = ff.TransformerNet(width=4, res_blocks=1).eval()
    x = torch.rand(1, 3, 97, 131)
    y = ff.stylize(net, x)
    assert y.shape == x.shape
    assert 0 <= y.min() and y.max() <= 1
    tex = ff.texture(ff.TransformerNet(width=4, res_blocks=1, in_channels=ff.NOISE_CHANNELS).eval(), 33, 45, seed=3)
    assert tex.shape == (1, 3, 33, 45)


@pytest.mark.parametrize("in_channels", [3, ff.NOISE_CHANNELS])
def test_a_widened_network_computes_the_same_and_its_new_channels_learn(in_channels):
    torch.manual_seed(0)
    narrow = ff.TransformerNet(width=4, res_blocks=2, in_channels=in_channels).eval()
    wide = ff.widened(narrow, 6)
    assert wide.arch == {"width": 6, "res_blocks": 2, "in_channels": in_channels}
    x = torch.rand(1, in_channels, 37, 50)
    with torch.no_grad():
        assert torch.allclose(narrow(x), wide(x), atol=1e-6)
    # One gradient step: the new channels' outgoing weights (zero at first) move.
    wide.train()
    wide(x).square().mean().backward()
    last = wide.net[-1][1].weight   # the output convolution: 3 outputs from 6 channels
    assert last.grad[:, 4:].abs().sum() > 0
    assert torch.count_nonzero(last[:, 4:]) == 0


@pytest.mark.slow
def test_training_lowers_the_perceptual_loss(cnn, tiny_images, tmp_path):
    _, style_path = tiny_images
    style = torch.from_numpy(np.asarray(Image.open(style_path), np.float32) / 255).permute(2, 0, 1)[None]
    data = RandomCrops(sorted(photo_folder(tmp_path).glob("*.png")), 32, length=10 ** 6)
    config = TrainSettings.preset("fast", steps=30, batch=2, lr=1e-2, content_weight=1.0, style_weight=1e5,
                                  tv_weight=0.0, width=4, res_blocks=1, precision="fp32")
    torch.manual_seed(0)
    _, result = ff.train_network(cnn, style, data, config, out=tmp_path / "m.pt", resume=False,
                                 device=torch.device("cpu"), record={})
    totals = [row["total"] for row in result.history]
    assert len(totals) == 30 and result.status == "done"
    assert np.mean(totals[-5:]) < 0.6 * np.mean(totals[:5])
    net, settings = ff.load_model(tmp_path / "m.pt", kind="style")
    assert settings["trained_steps"] == 30 and settings["width"] == 4
    assert ff.stylize(net, torch.rand(1, 3, 40, 52)).shape == (1, 3, 40, 52)


def test_the_perceptual_loss_takes_its_style_layers_and_normalisation_from_the_settings(cnn):
    """The texture preset: plain Gram MSE at relu1_1..relu4_1. The style networks' preset: each
    layer relative to its target (the plain loss over the target Gram's mean square), relu5_1
    too, at half weight."""
    torch.manual_seed(0)
    style, out = torch.rand(1, 3, 64, 64), torch.rand(2, 3, 64, 64)

    def style_modules(config):
        loss = ff.PerceptualLoss(cnn, style, {"style": 1.0}, config)
        loss(out)
        return loss.losses["style"]

    plain = style_modules(TrainSettings.preset("texture"))
    relative = style_modules(TrainSettings.preset("fast"))
    full = style_modules(TrainSettings.preset("fast", style_layers="relu1_1,relu2_1,relu3_1,relu4_1,relu5_1"))
    assert len(plain) == 4 and len(relative) == 5
    for p, r in zip(plain, relative):
        assert (r.loss * r.target.pow(2).mean()).item() == pytest.approx(p.loss.item(), rel=1e-4)
    assert [m.loss.item() for m in full[:4]] == [m.loss.item() for m in relative[:4]]
    assert full[4].loss.item() == pytest.approx(2 * relative[4].loss.item())


def test_the_content_loss_sits_at_the_settings_layer(cnn):
    """relu2_2 by default (Johnson et al.'s); another layer by its name or its flat alias: the
    content term is then the MSE between the loss network's features at that layer."""
    torch.manual_seed(0)
    style, inputs, out = torch.rand(1, 3, 64, 64), torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)

    def features(img, layer):
        x = img
        for name, module in named_vgg_layers(cnn):
            x = module(x)
            if name == layer:
                return x

    for given, layer in ((None, "relu2_2"), ("conv4_2", "conv4_2"), ("relu_5", "relu3_1")):
        config = TrainSettings.preset("fast", content_layer=given)
        assert config.content_layer == layer
        loss = ff.PerceptualLoss(cnn, style, {"content": 1.0}, config)
        term = loss(out, inputs)["content"]
        expected = torch.nn.functional.mse_loss(features(out, layer), features(inputs, layer))
        assert term.item() == pytest.approx(expected.item(), rel=1e-4)
    with pytest.raises(InputError):
        TrainSettings.preset("fast", content_layer="relu9_9")


def test_train_network_wants_style_or_texture_settings(cnn, tmp_path):
    with pytest.raises(InputError, match="adain"):
        ff.train_network(cnn, torch.rand(1, 3, 8, 8), [], TrainSettings.preset("adain"), out=tmp_path / "m.pt")


PAINTINGS = ("starry_night", "great_wave", "composition_viii")
SERVED = 512


@pytest.mark.parametrize("name, kind", [("starry_night", "style"), ("great_wave", "style"),
                                        ("composition_viii", "style"), ("starry_night_texture", "texture")])
def test_the_shipped_models_load_and_paint_their_style(name, kind, cnn):
    """Each file under models/ loads with its own weights (not a fresh network's) and paints its
    painting: at 512 px, the size they are trained to serve (strokes have a size in pixels: at
    128 px Composition VIII's colour fields fill the picture), its output is nearer in style
    (Gram distance) to that painting than to the other two, and much nearer than the photo or
    an untrained network of the same shape. A style network's output is still its photo: nearer
    in content to it than to three other photos, by a margin that a picture ignoring the photo
    (the painting itself, the texture network's) falls well short of (it is nearer to another)."""
    net, settings = ff.load_model(MODELS / f"{name}.pt", kind=kind)
    assert settings["kind"] == kind and settings["trained_steps"] > 0
    assert net.arch["width"] == settings["width"]
    saved = torch.load(MODELS / f"{name}.pt", map_location="cpu", weights_only=True)["state"]
    trained, _ = load_network(MODELS / f"{name}.pt", ff.MODEL_FORMAT, ff.TransformerNet, "network", "")
    assert all(torch.equal(v, saved[k].float()) for k, v in trained.state_dict().items())
    torch.manual_seed(0)
    fresh = ff.TransformerNet(**net.arch).eval()
    photo = load_image(ROOT / "images" / "content" / "chenonceau.jpg", SERVED)
    if kind == "style":
        out, untrained = ff.stylize(net, photo), ff.stylize(fresh, photo)
    else:
        out, untrained = ff.texture(net, SERVED, SERVED, seed=0), ff.texture(fresh, SERVED, SERVED, seed=0)
    d = Distances(cnn)
    to = {p: d.style(out, load_image(ROOT / "images" / "style" / f"{p}.jpg", SERVED)) for p in PAINTINGS}
    own = Path(settings["style_image"]).stem
    assert min(to, key=to.get) == own, to
    style = load_image(ROOT / settings["style_image"], SERVED)
    assert to[own] < 0.7 * d.style(untrained, style), (to[own], d.style(untrained, style))
    if kind == "style":
        assert to[own] < 0.7 * d.style(photo, style)
        others = [load_image(ROOT / "images" / "content" / f"{p}.jpg") for p in ("machu_picchu", "astronaut", "china")]
        assert d.content(out, photo) < 0.9 * min(d.content(out, other) for other in others)
    other = "texture" if kind == "style" else "style"
    command = "fast" if kind == "style" else "texture"
    with pytest.raises(InputError, match=f"is a {kind} network: use it with `python -m stylekit {command}`"):
        ff.load_model(MODELS / f"{name}.pt", kind=other)


def _frame(img: torch.Tensor) -> float:
    """How far the outermost rows and columns are, in levels of 255, from the colour of the six
    just inside them (worst side and channel): a frame painted along the edge."""
    x = img[0].permute(1, 2, 0).numpy() * 255
    sides = [x[0].mean(0) - x[3:9].mean((0, 1)), x[:, 0].mean(0) - x[:, 3:9].mean((0, 1)),
             x[-1].mean(0) - x[-9:-3].mean((0, 1)), x[:, -1].mean(0) - x[:, -9:-3].mean((0, 1))]
    return float(np.abs(np.array(sides)).max())


@pytest.mark.parametrize("name", ["starry_night", "great_wave", "composition_viii"])
def test_the_shipped_networks_paint_no_frame_along_the_edges(name):
    """Run on the photo as it is, each network draws a frame one pixel wide (20-43 levels off at
    512 px); `stylize` runs it on the photo mirrored MARGIN px further, so the frame is cut off."""
    net, _ = ff.load_model(MODELS / f"{name}.pt", kind="style")
    photo = load_image(ROOT / "images" / "content" / "astronaut.jpg", 512)
    with torch.inference_mode():
        bare = net(photo).clamp(0, 1)
    kept = ff.stylize(net, photo)
    assert kept.shape == photo.shape
    assert _frame(bare) > 18 and _frame(kept) < 16, (_frame(bare), _frame(kept))
