"""nets.portable: a style network's ONNX copy gives the torch network's pixels at any size, is
used only while it matches its .pt file, and lets `fast` run without importing torch."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT, structured, write_png
from stylekit.base.errors import InputError
from stylekit.base.tensors import pil_to_tensor, tensor_to_pil
from stylekit.cli import main as toolkit
from stylekit.nets import johnson as ff, portable

SHIPPED = ("starry_night", "great_wave", "composition_viii")


def photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    return (structured(height, width, seed)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A small style network saved as training saves one, with its ONNX copy beside it."""
    torch.manual_seed(0)
    net = ff.TransformerNet(width=4, res_blocks=1)
    for module in net.modules():   # instance norms away from identity, so that they matter
        if isinstance(module, torch.nn.InstanceNorm2d):
            torch.nn.init.uniform_(module.weight, 0.5, 1.5)
            torch.nn.init.uniform_(module.bias, -0.5, 0.5)
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    ff.export(net, path, {"kind": "style", "style_image": "x.png"})
    assert ff.export_portable(path) == path.with_suffix(".onnx")
    return path


def torch_pixels(model, rgb: np.ndarray) -> np.ndarray:
    net, _ = ff.load_model(model, kind="style")
    return np.asarray(tensor_to_pil(ff.stylize(net, pil_to_tensor(Image.fromarray(rgb)))))


@pytest.mark.parametrize("height, width", [(64, 64), (37, 53), (5, 7), (6, 5), (5, 5)])
def test_the_copy_gives_the_torch_networks_pixels_at_odd_sizes(tiny_model, height, width):
    rgb = photo(height, width, seed=3)
    mine = portable.load(tiny_model).stylize(rgb)
    assert mine.shape == (height, width, 3) and mine.dtype == np.uint8
    assert np.abs(mine.astype(int) - torch_pixels(tiny_model, rgb)).max() <= 1


@pytest.mark.parametrize("name", SHIPPED)
def test_each_shipped_network_has_a_current_copy_that_agrees(name):
    model = ROOT / "models" / f"{name}.pt"
    net = portable.load(model)
    assert net is not None, f"models/{name}.onnx is missing or was made from another {name}.pt"
    assert net.settings == ff.load_model(model)[1]
    rgb = photo(96, 120, seed=1)
    assert np.abs(net.stylize(rgb).astype(int) - torch_pixels(model, rgb)).max() <= 1


def test_a_copy_of_another_file_or_without_its_model_is_not_used(tiny_model, tmp_path):
    model = tmp_path / "m.pt"
    model.write_bytes(tiny_model.read_bytes())
    copy = model.with_suffix(".onnx")
    copy.write_bytes(tiny_model.with_suffix(".onnx").read_bytes())
    assert portable.load(model) is not None
    torch.manual_seed(1)
    ff.export(ff.TransformerNet(width=4, res_blocks=1), model, {"kind": "style"})   # retrained, copy left
    assert portable.load(model) is None
    model.unlink()
    assert portable.load(model) is None
    copy.write_bytes(b"not an onnx file")
    model.write_bytes(tiny_model.read_bytes())
    assert portable.load(model) is None


def test_without_onnxruntime_there_is_no_copy_to_run(tiny_model, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)   # import onnxruntime raises ImportError
    assert portable.load(tiny_model) is None


def test_texture_networks_get_no_copy(tmp_path):
    path = tmp_path / "tex.pt"
    ff.export(ff.TransformerNet(width=4, res_blocks=1, in_channels=ff.NOISE_CHANNELS), path, {"kind": "texture"})
    with pytest.raises(InputError, match="texture network"):
        ff.export_portable(path)
    assert not path.with_suffix(".onnx").exists()


def test_fast_runs_the_copy_without_importing_torch(tiny_model, tmp_path):
    content = write_png(tmp_path / "photo.png", structured(30, 41))
    out = tmp_path / "out.png"
    code = ("import sys; from stylekit.cli.main import main; "
            f"code = main(['fast', {str(tiny_model)!r}, '--content', {str(content)!r}, '--out', {str(out)!r}]); "
            "print('torch' in sys.modules); sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["runtime"] == "onnxruntime" and meta["precision"] == "fp32"
    assert np.abs(np.asarray(Image.open(out)).astype(int) - torch_pixels(tiny_model, np.asarray(Image.open(content)))).max() <= 1


@pytest.mark.parametrize("flags, runtime", [([], "onnxruntime"), (["--precision", "bf16"], "torch"),
                                            (["--device", "cpu", "--precision", "fp32"], "onnxruntime")])
def test_fast_takes_torch_where_the_copy_cannot_serve(tiny_model, tmp_path, flags, runtime):
    content = write_png(tmp_path / "photo.png", structured(24, 32))
    out = tmp_path / "out.png"
    assert toolkit.main(["fast", str(tiny_model), "--content", str(content), "--out", str(out), *flags]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["runtime"] == runtime


def test_fast_never_writes_over_the_models_settings(tiny_model, tmp_path, capsys):
    settings = tiny_model.with_suffix(".json")
    settings.write_text("{}")
    content = write_png(tmp_path / "photo.png", structured(24, 32))
    out = tiny_model.with_suffix(".png")   # its sidecar would be the model's settings file
    assert toolkit.main(["fast", str(tiny_model), "--content", str(content), "--out", str(out)]) == 2
    assert "error:" in capsys.readouterr().err and settings.read_text() == "{}" and not out.exists()


def test_training_never_writes_its_onnx_copy_over_the_style_image(tmp_path, capsys):
    """Pillow reads a PNG whatever its name: a painting called x.onnx beside --out x.pt would
    be the network's ONNX copy."""
    painting = write_png(tmp_path / "x.png", structured(40, 40))
    style = painting.rename(tmp_path / "x.onnx")
    before = style.read_bytes()
    code = toolkit.main(["train-fast", "--style", str(style), "--out", str(tmp_path / "x.pt"), "--steps", "1",
                         "--batch", "1", "--train-size", "32", "--width", "4", "--res-blocks", "1"])
    assert code == 2 and "error:" in capsys.readouterr().err
    assert style.read_bytes() == before and not (tmp_path / "x.pt").exists()
