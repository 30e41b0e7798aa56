"""Training is its seed's: the crops were, the network's first weights were not, so two runs
with the same settings gave two different models."""
import torch

from nets_helpers import photo_folder
from stylekit.cli import train_adain as train_adain_cli, train_fast as train_fast_cli
from stylekit.cli.main import main as toolkit
from stylekit.nets.training import checkpoint_path, load_checkpoint

TINY = ["--steps", "3", "--batch", "1", "--precision", "fp32"]


def _weights(out):
    return load_checkpoint(checkpoint_path(out))["net"]


def test_the_same_seed_trains_the_same_network(tiny_images, tmp_path, monkeypatch, cnn):
    monkeypatch.setattr(train_fast_cli, "load_vgg19", lambda *a: cnn)
    monkeypatch.setattr(train_adain_cli, "load_vgg19", lambda *a: cnn)
    _, style = tiny_images
    photos = photo_folder(tmp_path)
    commands = {"texture": ["train-texture", "--style", str(style), "--train-size", "32", "--width", "4", "--res-blocks", "1"],
                "wct": ["train-wct", "--level", "1", "--data", str(photos), "--size", "32"]}
    for name, argv in commands.items():
        runs = [tmp_path / f"{name}_{i}.pt" for i in range(3)]
        for out, seed in zip(runs, (0, 0, 1)):
            assert toolkit([*argv, *TINY, "--seed", str(seed), "--out", str(out)]) == 0
        same, other = _weights(runs[0]), _weights(runs[1])
        assert all(torch.equal(same[k], other[k]) for k in same), name
        assert not all(torch.equal(same[k], v) for k, v in _weights(runs[2]).items()), name
