"""nets.adain.train: training through the shared loop lowers the loss, the decoder file
round-trips, and a resumed run records each sitting."""
import numpy as np
import pytest
import torch

from conftest import structured, write_png
from nets_helpers import stripes, onepass
from stylekit.nets.adain import infer, model, train
from stylekit.nets.training import checkpoint_path, load_checkpoint
from stylekit.settings import TrainSettings


@pytest.fixture(scope="module")
def encoder(cnn):
    return model.Encoder(cnn)


@pytest.mark.slow
def test_training_lowers_the_loss_and_the_decoder_round_trips(encoder, tmp_path):
    photos = [write_png(tmp_path / f"p{i}.png", structured(40 + 8 * i, 56, seed=i)) for i in range(3)]
    styles = [write_png(tmp_path / f"s{i}.png", stripes(48, 48, rgb, period=4 + 2 * i, seed=i))
              for i, rgb in enumerate([(220, 40, 40), (30, 60, 200), (240, 200, 30)])]
    data = train.ContentStylePairs(photos, styles, 32, length=10 ** 6)
    assert data[0].shape == (2, 3, 32, 32)
    out = tmp_path / "dec.pt"
    config = TrainSettings.preset("adain", steps=30, batch=2, lr=2e-3, style_weight=10.0, identity_weight=0.0,
                                  width=0.125, precision="fp32", save_every=10)
    torch.manual_seed(0)
    _, result = train.train_decoder(encoder, data, config, out=out, resume=False, device=torch.device("cpu"),
                                    record={"size": 32})
    totals = [row["total"] for row in result.history]
    assert result.status == "done" and len(totals) == 30
    assert np.mean(totals[-5:]) < 0.7 * np.mean(totals[:5])
    assert checkpoint_path(out).exists()

    loaded, settings = infer.load_decoder(out)
    assert settings["steps"] == 30 and settings["width"] == 0.125 and settings["style_weight"] == 10.0
    assert set(settings["final_losses"]) == {"content", "style", "total"} and settings["seconds"] > 0
    assert all(v.dtype == torch.float16 for v in torch.load(out, weights_only=True)["state"].values())
    img = infer.stylize(encoder, loaded, torch.rand(1, 3, 33, 45), torch.rand(1, 3, 24, 24), onepass("adain"))
    assert img.shape == (1, 3, 33, 45)

    # --resume continues from the checkpoint at this run's step size; the decoder file keeps
    # the total time and each sitting.
    _, resumed = train.train_decoder(encoder, data, config.replace(steps=32, lr=1e-3, save_every=100), out=out,
                                     resume=True, device=torch.device("cpu"), record={"size": 32})
    assert resumed.step == 32 and resumed.first_step == 30 and resumed.history[:30] == result.history
    later = infer.load_decoder(out)[1]
    assert later["steps"] == 32 and later["seconds"] >= settings["seconds"] and later["lr"] == 1e-3
    assert [(s["steps"], s["lr"]) for s in later["sittings"]] == [([0, 30], 2e-3), ([30, 32], 1e-3)]
    assert later["seconds"] == pytest.approx(sum(s["seconds"] for s in later["sittings"]))
    assert load_checkpoint(checkpoint_path(out))["optimizer"]["param_groups"][0]["lr"] == 1e-3


def test_train_decoder_wants_adain_settings(encoder, tmp_path):
    from stylekit.base.errors import InputError
    with pytest.raises(InputError, match="AdaIN"):
        train.train_decoder(encoder, [], TrainSettings.preset("fast"), out=tmp_path / "d.pt")
