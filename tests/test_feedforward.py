"""Feed-forward style and texture networks: training lowers the loss, saved models load and run,
odd sizes keep their shape, bad model files are refused, the CLI end to end, and two-process
DistributedDataParallel training keeps identical replicas."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT, structured, write_png
from stylekit.nets import feedforward as ff
import run
from stylekit.nets.training import load_checkpoint, train
from stylekit.nets.data import RandomCrops, read_rcc
from stylekit.base.figures import plot_losses


def photo_folder(tmp_path: Path, count: int = 4) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(count):
        write_png(folder / f"p{i}.png", structured(48 + 8 * i, 64, seed=i))
    return folder


def test_network_keeps_odd_sizes_and_range():
    net = ff.TransformerNet(width=4, res_blocks=1).eval()
    x = torch.rand(1, 3, 97, 131)
    y = ff.stylize(net, x)
    assert y.shape == x.shape
    assert 0 <= y.min() and y.max() <= 1
    tex = ff.texture(ff.TransformerNet(width=4, res_blocks=1, in_channels=ff.NOISE_CHANNELS).eval(), 33, 45, seed=3)
    assert tex.shape == (1, 3, 33, 45)


def test_training_lowers_the_perceptual_loss(cnn, tiny_images, tmp_path):
    _, style_path = tiny_images
    style = torch.from_numpy(np.asarray(Image.open(style_path), np.float32) / 255).permute(2, 0, 1)[None]
    data = RandomCrops(sorted(photo_folder(tmp_path).glob("*.png")), 32, length=10 ** 6)
    weights = {"content": 1.0, "style": 1e5, "tv": 0.0}
    torch.manual_seed(0)
    _, result = ff.train_network(cnn, style, data, kind="style", out=tmp_path / "m.pt", steps=30, batch=2,
                              lr=1e-2, weights=weights, width=4, res_blocks=1, precision="fp32",
                              resume=False, device=torch.device("cpu"), settings={})
    totals = [row["total"] for row in result.history]
    assert len(totals) == 30 and result.status == "done"
    assert np.mean(totals[-5:]) < 0.6 * np.mean(totals[:5])
    net, settings = ff.load_model(tmp_path / "m.pt", kind="style")
    assert settings["trained_steps"] == 30 and settings["width"] == 4
    assert ff.stylize(net, torch.rand(1, 3, 40, 52)).shape == (1, 3, 40, 52)


def test_resume_continues_from_the_checkpoint(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Conv2d(3, 3, 1)
    data = [torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(i)) for i in range(200)]
    target = torch.full((3, 8, 8), 0.5)

    def loss_fn(model, batch):
        return {"mse": (model(batch) - target).pow(2).mean()}

    ckpt = tmp_path / "c.ckpt"
    first = train(net, loss_fn, data, steps=5, batch=2, checkpoint=ckpt, save_every=5)
    assert first.step == 5 and load_checkpoint(ckpt)["step"] == 5
    second = train(torch.nn.Conv2d(3, 3, 1), loss_fn, data, steps=8, batch=2, checkpoint=ckpt, resume=True)
    assert second.step == 8 and len(second.history) == 8
    assert second.history[:5] == first.history
    # The uninterrupted run from the same start gives the same losses as 5 + 3 resumed steps.
    torch.manual_seed(0)
    fresh = torch.nn.Conv2d(3, 3, 1)
    straight = train(fresh, loss_fn, data, steps=8, batch=2, checkpoint=tmp_path / "s.ckpt")
    assert [r["total"] for r in straight.history] == pytest.approx([r["total"] for r in second.history], rel=1e-5)


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
    result = train(net, loss_fn, data, steps=10, batch=2, checkpoint=ckpt, save_every=100)
    assert result.status == "interrupted" and result.step == 3
    assert load_checkpoint(ckpt)["step"] == 3
    assert signal.getsignal(signal.SIGTERM) == before


def test_texture_network_seeds_differ(cnn, tiny_images, tmp_path):
    _, style_path = tiny_images
    out = tmp_path / "tex.pt"
    code = run.main(["--train-texture", "--style", str(style_path), "--out", str(out), "--steps", "4",
                     "--batch", "1", "--train-size", "32", "--width", "4", "--res-blocks", "1"])
    assert code == 0 and out.exists() and json.loads(out.with_suffix(".json").read_text())["kind"] == "texture"
    imgs = []
    for seed in (1, 2):
        png = tmp_path / f"t{seed}.png"
        assert run.main(["--fast-texture", str(out), "--size", "40", "--seed", str(seed), "--out", str(png)]) == 0
        imgs.append(np.asarray(Image.open(png), np.float32))
        assert imgs[-1].shape == (40, 40, 3)
    assert np.abs(imgs[0] - imgs[1]).mean() > 1


def test_cli_train_then_stylise_a_file_and_a_folder(tiny_images, tmp_path, capsys):
    content, style = tiny_images
    model = tmp_path / "models" / "tiny.pt"
    photos = photo_folder(tmp_path)
    code = run.main(["--train-fast", "--style", str(style), "--data", str(photos), "--out", str(model),
                     "--steps", "3", "--batch", "2", "--train-size", "32", "--width", "4", "--res-blocks", "1"])
    assert code == 0
    meta = json.loads(model.with_suffix(".json").read_text())
    assert meta["trained_steps"] == 3 and meta["train_size"] == 32 and meta["data"] == str(photos)
    assert (tmp_path / "models" / "tiny_losses.png").exists()
    out = tmp_path / "one.png"
    assert run.main(["--fast", str(model), "--content", str(content), "--out", str(out)]) == 0
    assert Image.open(out).size == Image.open(content).size
    assert json.loads(out.with_suffix(".json").read_text())["mode"] == "feedforward"
    folder_out = tmp_path / "many"
    assert run.main(["--fast", str(model), "--content", str(photos), "--out", str(folder_out), "--size", "50"]) == 0
    written = sorted(p.name for p in folder_out.glob("*.png"))
    assert written == ["p0.png", "p1.png", "p2.png", "p3.png"]
    assert max(Image.open(folder_out / "p0.png").size) == 50


@pytest.mark.parametrize("content", [b"", b"not a model at all", "state_dict", "texture"])
def test_bad_model_files_exit_2(content, tiny_images, tmp_path):
    photo, style = tiny_images
    path = tmp_path / "bad.pt"
    if content == "state_dict":
        torch.save(ff.TransformerNet(4, 1).state_dict(), path)  # weights without the project's wrapper
    elif content == "texture":
        ff.export(ff.TransformerNet(4, 1, in_channels=ff.NOISE_CHANNELS), path, {"kind": "texture"})
    else:
        path.write_bytes(content)
    done = subprocess.run([sys.executable, "run.py", "--fast", str(path), "--content", str(photo),
                           "--out", str(tmp_path / "o.png")], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in done.stderr
    assert not (tmp_path / "o.png").exists()


def test_missing_training_data_exits_2(tiny_images, tmp_path, capsys):
    _, style = tiny_images
    code = run.main(["--train-fast", "--style", str(style), "--data", str(tmp_path / "nowhere"),
                     "--out", str(tmp_path / "m.pt"), "--steps", "2"])
    assert code == 2 and "training photos not found" in capsys.readouterr().err


def test_qt_resource_reader_round_trip():
    """A bundle written by hand in the documented layout: one folder, a plain and a zlib file."""
    import struct
    import zlib

    def name(text):
        raw = text.encode("utf-16-be")
        return struct.pack(">HI", len(text), 0) + raw

    names = name("pics") + name("a.txt") + name("b.bin")
    off_pics, off_a = 0, len(name("pics"))
    off_b = off_a + len(name("a.txt"))
    plain, packed = b"hello", struct.pack(">I", 6) + zlib.compress(b"world!")
    data = struct.pack(">I", len(plain)) + plain + struct.pack(">I", len(packed)) + packed
    node = lambda name_off, flags, a, b: struct.pack(">IHII", name_off, flags, a, b) + b"\0" * 8
    tree = (node(0, 2, 1, 1) + node(off_pics, 2, 2, 2)
            + struct.pack(">IHHHI", off_a, 0, 0, 0, 0) + b"\0" * 8
            + struct.pack(">IHHHI", off_b, 1, 0, 0, 4 + len(plain)) + b"\0" * 8)
    header_len = 20
    tree_off = header_len
    data_off = tree_off + len(tree)
    names_off = data_off + len(data)
    blob = b"qres" + struct.pack(">IIII", 3, tree_off, data_off, names_off) + tree + data + names
    assert read_rcc(blob) == {"pics/a.txt": b"hello", "pics/b.bin": b"world!"}


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
from stylekit.nets import feedforward as ff
from stylekit.nets.data import RandomCrops, image_files
from utils import load_vgg19, load_image

rank = int(os.environ["RANK"])
torch.manual_seed(rank)  # different initial weights: DDP must broadcast rank 0's
net, result = ff.train_network(
    load_vgg19(), load_image({str(style)!r}, 48), RandomCrops(image_files({str(photos)!r}), 32, 10 ** 6),
    kind="style", out=Path({str(tmp_path / "d.pt")!r}), steps=3, batch=1, lr=1e-2,
    weights={{"content": 1.0, "style": 1e5, "tv": 0.0}}, width=4, res_blocks=1, precision="fp32",
    resume=False, device=torch.device("cpu"), settings={{}})
torch.save({{"params": [p.detach() for p in net.parameters()], "losses": [r["total"] for r in result.history]}},
           {str(tmp_path)!r} + f"/rank{{rank}}.pt")
""")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1",
                           "--nproc_per_node=2", str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert all(torch.equal(a, b) for a, b in zip(r0["params"], r1["params"]))
    assert r0["losses"] != r1["losses"]  # the two processes saw different batches
    torch.manual_seed(0)
    start = list(ff.TransformerNet(4, 1).parameters())
    assert any(not torch.allclose(a, b) for a, b in zip(start, r0["params"]))
    assert (tmp_path / "d.pt").exists() and load_checkpoint(tmp_path / "d.ckpt")["step"] == 3


def test_training_curves_draw_a_running_mean(tmp_path):
    rng = np.random.default_rng(0)
    history = [{"content": float(v), "style": float(2 * v)} for v in np.exp(rng.normal(size=300))]
    raw = plot_losses(history, tmp_path / "raw.png").read_bytes()
    assert plot_losses(history, tmp_path / "short.png", smooth=300).read_bytes() == raw  # window > run: raw only
    assert plot_losses(history, tmp_path / "smooth.png", smooth=50).read_bytes() != raw
