"""nets.training: the one training loop resumes exactly, stops cleanly on SIGTERM, keeps
identical replicas under two-process DistributedDataParallel; training curves draw a running
mean; the training presets are what the networks were trained with."""
import json
import math
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import ROOT
from nets_helpers import photo_folder
from stylekit.base.errors import InputError
from stylekit.base.figures import plot_losses
from stylekit.base.paths import MODELS
from stylekit.nets.training import load_checkpoint, sittings, train
from stylekit.settings import TRAIN_PRESETS, TrainSettings


def loop_settings(**changes) -> TrainSettings:
    """The loop's settings for these tests: the loop's own former defaults (lr 1e-3, fp32)."""
    return TrainSettings(**{"lr": 1e-3, "precision": "fp32", "save_every": 100, **changes})


def test_resume_continues_from_the_checkpoint(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Conv2d(3, 3, 1)
    data = [torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(i)) for i in range(200)]
    target = torch.full((3, 8, 8), 0.5)

    def loss_fn(model, batch):
        return {"mse": (model(batch) - target).pow(2).mean()}

    ckpt = tmp_path / "c.ckpt"
    first = train(net, loss_fn, data, loop_settings(steps=5, batch=2, save_every=5), checkpoint=ckpt)
    assert first.step == 5 and load_checkpoint(ckpt)["step"] == 5
    second = train(torch.nn.Conv2d(3, 3, 1), loss_fn, data, loop_settings(steps=8, batch=2), checkpoint=ckpt,
                   resume=True)
    assert second.step == 8 and len(second.history) == 8
    assert second.history[:5] == first.history
    # The uninterrupted run from the same start gives the same losses as 5 + 3 resumed steps.
    torch.manual_seed(0)
    fresh = torch.nn.Conv2d(3, 3, 1)
    straight = train(fresh, loss_fn, data, loop_settings(steps=8, batch=2), checkpoint=tmp_path / "s.ckpt")
    assert [r["total"] for r in straight.history] == pytest.approx([r["total"] for r in second.history], rel=1e-5)


class Killed(Exception):
    """What a kill -9 leaves: no model file, the last checkpoint."""


def test_a_run_cut_off_and_run_again_is_one_sitting(tmp_path):
    """Killed after the checkpoint of step 4, the same command again continues the same sitting
    (from step 0, the seconds of both parts); at another step size, the cut-off part is a sitting
    of its own; a run resumed after it ended starts a new one."""
    data = [torch.rand(3, 8, 8) for _ in range(40)]

    def loss_fn(model, batch):
        return {"mse": model(batch).pow(2).mean()}

    def kill_after(step):
        def callback(info):
            if info["step"] == step:
                raise Killed
        return callback

    def cut_off_run(ckpt):
        with pytest.raises(Killed):
            train(torch.nn.Conv2d(3, 3, 1), loss_fn, data, loop_settings(steps=10, batch=2, save_every=4),
                  checkpoint=ckpt, callback=kill_after(6))
        kept = load_checkpoint(ckpt)["sittings"]
        assert [(s["steps"], s["lr"]) for s in kept] == [([0, 4], 1e-3)] and kept[0]["seconds"] >= 0
        return kept[0]["seconds"]

    def recorded(result, lr=1e-3):
        return [(s["steps"], s["lr"]) for s in sittings(tmp_path / "none.pt", None, result, lr)]

    ckpt = tmp_path / "a.ckpt"
    before = cut_off_run(ckpt)
    again = train(torch.nn.Conv2d(3, 3, 1), loss_fn, data, loop_settings(steps=10, batch=2), checkpoint=ckpt,
                  resume=True)
    assert again.step == 10 and again.first_step == 0 and again.seconds >= before
    assert recorded(again) == [([0, 10], 1e-3)]
    later = train(torch.nn.Conv2d(3, 3, 1), loss_fn, data, loop_settings(steps=12, batch=2), checkpoint=ckpt,
                  resume=True)
    assert recorded(later) == [([0, 10], 1e-3), ([10, 12], 1e-3)]

    # Run again asking for fewer steps than were done: nothing runs, and nothing is merged.
    ckpt = tmp_path / "c.ckpt"
    cut_off_run(ckpt)
    fewer = train(torch.nn.Conv2d(3, 3, 1), loss_fn, data, loop_settings(steps=3, batch=2), checkpoint=ckpt,
                  resume=True)
    assert fewer.step == fewer.first_step == 4 and recorded(fewer) == [([0, 4], 1e-3), ([4, 4], 1e-3)]

    ckpt = tmp_path / "b.ckpt"
    cut_off_run(ckpt)
    slower = train(torch.nn.Conv2d(3, 3, 1), loss_fn, data, loop_settings(steps=10, batch=2, lr=5e-4),
                   checkpoint=ckpt, resume=True)
    assert slower.first_step == 4 and recorded(slower, 5e-4) == [([0, 4], 1e-3), ([4, 10], 5e-4)]

    # A checkpoint from before this record: the model file's sittings stay the ones to go on from.
    state = load_checkpoint(ckpt)
    del state["sittings"]
    torch.save(state, ckpt)
    older = train(torch.nn.Conv2d(3, 3, 1), loss_fn, data, loop_settings(steps=12, batch=2), checkpoint=ckpt,
                  resume=True)
    assert older.sittings is None and load_checkpoint(ckpt)["sittings"] is None
    assert recorded(older) == [([0, 10], None), ([10, 12], 1e-3)]
    junks = ("0-12", [{"steps": [0]}], [{"steps": [0, 14], "lr": "fast", "seconds": 1.0}],   # hand-edited, each
             [{"steps": [0, 15], "lr": True, "seconds": 1.0}], [{"steps": [0, 16], "lr": 1e-3, "seconds": math.nan}],
             [{"steps": [0, 5], "lr": 1e-3, "seconds": 1.0}], [])   # at the step it resumes from, but the last two
    for steps, junk in enumerate(junks, start=13):
        state = load_checkpoint(ckpt)
        state["sittings"] = junk
        torch.save(state, ckpt)
        edited = train(torch.nn.Conv2d(3, 3, 1), loss_fn, data, loop_settings(steps=steps, batch=2),
                       checkpoint=ckpt, resume=True)
        assert edited.step == steps and edited.first_step == steps - 1 and edited.sittings is None


def test_sigterm_stops_training_as_ctrl_c_does(tmp_path):
    net = torch.nn.Conv2d(3, 3, 1)
    data = [torch.rand(3, 8, 8) for _ in range(40)]
    before = signal.getsignal(signal.SIGTERM)

    calls = []

    def loss_fn(model, batch):
        if len(calls) == 3:  # during the 4th step: steps 1-3 are done
            os.kill(os.getpid(), signal.SIGTERM)
        calls.append(1)
        return {"mse": model(batch).pow(2).mean()}

    ckpt = tmp_path / "t.ckpt"
    result = train(net, loss_fn, data, loop_settings(steps=10, batch=2), checkpoint=ckpt)
    assert result.status == "interrupted" and result.step == 3
    assert load_checkpoint(ckpt)["step"] == 3
    assert signal.getsignal(signal.SIGTERM) == before


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without distributed")
def test_two_process_ddp_keeps_replicas_identical(tiny_images, tmp_path):
    """torchrun, 2 CPU processes, gloo: each trains on its own batches, yet after a few steps
    both replicas hold the same weights, and they moved from where they started."""
    _, style = tiny_images
    photos = photo_folder(tmp_path)
    script = tmp_path / "ddp_check.py"
    script.write_text(f"""
import os, sys
from pathlib import Path
import torch
sys.path.insert(0, {str(ROOT)!r})
from stylekit.nets import johnson as ff
from stylekit.base.images import image_files
from stylekit.nets.crops import RandomCrops
from stylekit.settings import TrainSettings
from utils import load_vgg19, load_image

rank = int(os.environ["RANK"])
starts = []  # each network's weights as built, before DDP or any step touches them


class Recorded(ff.TransformerNet):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        with torch.no_grad():   # the seed's weights, made to differ by rank: DDP must broadcast rank 0's
            for p in self.parameters():
                p.add_(0.01 * rank)
        starts.append([p.detach().clone() for p in self.parameters()])


ff.TransformerNet = Recorded
config = TrainSettings.preset("fast", steps=3, batch=1, lr=1e-2, content_weight=1.0, style_weight=1e5,
                              tv_weight=0.0, width=4, res_blocks=1, precision="fp32")
net, result = ff.train_network(
    load_vgg19(), load_image({str(style)!r}, 48), RandomCrops(image_files({str(photos)!r}), 32, 10 ** 6),
    config, out=Path({str(tmp_path / "d.pt")!r}), resume=False, device=torch.device("cpu"), record={{}})
torch.save({{"start": starts[0], "params": [p.detach() for p in net.parameters()],
            "losses": [r["total"] for r in result.history]}}, {str(tmp_path)!r} + f"/rank{{rank}}.pt")
""")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1",
                           "--nproc_per_node=2", str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert any(not torch.equal(a, b) for a, b in zip(r0["start"], r1["start"]))  # built differently
    assert all(torch.equal(a, b) for a, b in zip(r0["params"], r1["params"]))
    assert r0["losses"] != r1["losses"]  # the two processes saw different batches
    # They moved from where training really started: rank 0's weights, which DDP hands to rank 1.
    assert len(r0["start"]) == len(r0["params"])
    assert any(not torch.allclose(a, b) for a, b in zip(r0["start"], r0["params"]))
    assert (tmp_path / "d.pt").exists() and load_checkpoint(tmp_path / "d.ckpt")["step"] == 3


def test_training_curves_draw_a_running_mean(tmp_path):
    rng = np.random.default_rng(0)
    history = [{"content": float(v), "style": float(2 * v)} for v in np.exp(rng.normal(size=300))]
    raw = plot_losses(history, tmp_path / "raw.png").read_bytes()
    assert plot_losses(history, tmp_path / "short.png", smooth=300).read_bytes() == raw  # window > run: raw only
    assert plot_losses(history, tmp_path / "smooth.png", smooth=50).read_bytes() != raw


def test_a_distillations_per_layer_terms_are_drawn(tmp_path):
    history = [{"relu1_1": 0.01 * (i + 1), "relu2_1": 1.0 / (i + 1), "total": 1.0} for i in range(20)]
    moved = [{**row, "relu2_1": 2 * row["relu2_1"]} for row in history]
    assert plot_losses(history, tmp_path / "a.png").read_bytes() != plot_losses(moved, tmp_path / "b.png").read_bytes()


def test_training_presets():
    """The presets are the settings the shipped networks were trained with (their .json files)."""
    fast, texture, adain = (TrainSettings.preset(n) for n in ("fast", "texture", "adain"))
    assert (fast.kind, fast.steps, fast.batch, fast.train_size, fast.lr, fast.content_weight, fast.style_weight,
            fast.tv_weight, fast.width, fast.res_blocks, fast.save_every) == \
        ("style", 1200, 4, 256, 2e-3, 1.0, 40.0, 0.0, 16, 5, 50)
    # The shipped networks' last sitting kept the preset's style layers and their normalisation,
    # with part 3's balance of the losses (`make models`, PART3_LOSS; the recipe test checks each file).
    shipped = json.loads((MODELS / "starry_night.json").read_text())
    assert (shipped["style_layers"], shipped["style_normalize"]) == (fast.style_layers, fast.style_normalize)
    assert (texture.style_layers, texture.style_normalize, texture.style_weight) == \
        (["relu1_1", "relu2_1", "relu3_1", "relu4_1"], False, 2e4)   # as the shipped texture network
    assert texture.kind == "texture" and texture.content_weight == 0.0 and texture.steps == fast.steps
    assert texture.train_size == 128 and fast.style_size is None   # the style at 2x the crop: 512 px
    assert (adain.kind, adain.steps, adain.batch, adain.train_size, adain.lr, adain.style_weight,
            adain.identity_weight, adain.width, adain.save_every) == ("adain", 12000, 4, 128, 5e-4, 3.0, 50.0, 0.5, 100)
    assert TrainSettings.preset("fast", steps=None, lr=0.5).steps == 1200  # None keeps the preset's value
    wct = TrainSettings.preset("wct")
    assert (wct.kind, wct.style_weight, wct.content_weight, wct.identity_weight, wct.width, wct.level) == \
        ("wct", 0.0, 1.0, 50.0, adain.width, 4)   # the level-4 decoder starts from AdaIN's weights
    assert set(TRAIN_PRESETS) == {"fast", "texture", "adain", "wct", "student"}
    student = TrainSettings.preset("student")
    assert (student.kind, student.width, student.batch, student.content_weight) == ("student", 0.25, 8, 1.0)
    for bad in ({"steps": 0}, {"lr": 0.0}, {"style_weight": -1.0}, {"kind": "gan"}, {"precision": "fp16"},
                {"lr": float("nan")}, {"level": 5}, {"level": 0}, {"kind": "wct", "content_weight": 0.0}):
        with pytest.raises(InputError):
            TrainSettings(**bad)
    with pytest.raises(InputError, match="no training preset"):
        TrainSettings.preset("part3")
