"""What the hostile-user tests share besides tests/conftest.py's `work` folder and `no_network`
guard: `refused` (exit 2, one `error:` line, nothing written), the shipped networks, and a
texture network's checkpoint to resume the wrong network from."""
import hashlib
import re

import torch

from conftest import ROOT
from stylekit.base.files import save_torch
from stylekit.cli.main import main as toolkit
from stylekit.nets.johnson import NOISE_CHANNELS, TransformerNet
from stylekit.nets.training import CHECKPOINT_FORMAT

MODEL = ROOT / "models" / "starry_night.pt"
TEXTURE = ROOT / "models" / "starry_night_texture.pt"
LONG = "x" * 300
TINY_TRAIN = ["--steps", "1", "--batch", "1", "--train-size", "32", "--width", "4", "--res-blocks", "1"]


def snapshot(folder):
    return {str(p.relative_to(folder)): hashlib.md5(p.read_bytes()).hexdigest() if p.is_file() else "folder"
            for p in sorted(folder.rglob("*"))}


def refused(argv, folder, capsys, words):
    before = snapshot(folder)
    code = toolkit([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    assert re.search(words, lines[0]), lines[0]
    assert snapshot(folder) == before, "a refused run wrote something"


def texture_checkpoint(path):
    """A training checkpoint of a texture network: another architecture than a style network's."""
    net = TransformerNet(width=4, res_blocks=1, in_channels=NOISE_CHANNELS)
    opt = torch.optim.Adam(net.parameters())
    save_torch({"format": CHECKPOINT_FORMAT, "net": net.state_dict(), "optimizer": opt.state_dict(), "step": 1,
                "history": [{"style": 1.0, "total": 1.0}], "settings": {"kind": "texture", "width": 4}}, path)
