"""Small inputs shared by the tests of stylekit/nets (imported by name: tests/nets is on the
path of its own test modules)."""
from pathlib import Path

import numpy as np
import torch

from conftest import structured, write_png
from stylekit.settings import OnePassSettings


def onepass(method: str, **changes) -> OnePassSettings:
    """A one-pass run as these tests mean one unless they say otherwise: fp32 (the same pixels
    on every CPU), alpha 1, and no guard, ridge or sharpening."""
    return OnePassSettings(method=method, **{"alpha": 1.0, "precision": "fp32", **changes})


def stripes(h: int, w: int, rgb=(220, 40, 40), period: int = 6, seed: int = 0) -> torch.Tensor:
    """A striped 'painting' of one dominant colour, with some noise."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.float32)
    on = (np.arange(w)[None, :] % period < period // 2)
    img[:] = np.array(rgb, np.float32) / 255 * on[..., None]
    img += rng.uniform(0, 0.2, (h, w, 3))
    return torch.from_numpy(img.clip(0, 1)).permute(2, 0, 1)[None]


def photo_folder(tmp_path: Path, count: int = 4) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(count):
        write_png(folder / f"p{i}.png", structured(48 + 8 * i, 64, seed=i))
    return folder


def tiny_decoder():
    """A narrow, freshly initialised AdaIN decoder, the same every time."""
    from stylekit.nets.adain.model import Decoder
    torch.manual_seed(0)
    return Decoder(width=0.125).eval()


# ---------------------------------------------------------------------------------------
# The one-pass pipelines without torch (nets.adain.portable) against torch's
# ---------------------------------------------------------------------------------------

def fp32_encoder(cnn) -> tuple:
    """The encoder and the graphs to its shallower levels as the bundle's are made
    (`export.encoder_graphs`), from fp32 stages (the shipped bundle's are 8-bit), as sessions,
    so that a pipeline over them can be held to torch's pixels."""
    from stylekit.nets.adain import export, model, portable
    from stylekit.nets.onnx_copy import onnx_model
    encoder, x, stages = model.Encoder(cnn), torch.rand(1, 3, 32, 32), []
    with torch.inference_mode():
        for stage in encoder.stages:
            stages.append(onnx_model(stage, x, portable.INPUT, portable.OUTPUT, fp16=False).SerializeToString())
            x = stage(x)
    whole, through = export.encoder_graphs(stages)
    return portable._session(whole), {level: portable._session(g) for level, g in enumerate(through, start=1)}


def torch_pixels(torch_pipeline, method: str, content, styles, alpha, weights=None, **changes) -> np.ndarray:
    """8-bit pixels of `infer.stylize` in fp32; torch_pipeline: (encoder, decoders)."""
    from stylekit.base.tensors import tensor_to_pil
    from stylekit.nets.adain import infer
    encoder, decoders = torch_pipeline
    out = infer.stylize(encoder, decoders, torch.from_numpy(content), [torch.from_numpy(s) for s in styles],
                        onepass(method, alpha=alpha, style_blend=weights, **changes))
    return np.asarray(tensor_to_pil(out)).astype(int)


def pixels(x: np.ndarray) -> np.ndarray:
    from stylekit.nets.adain import portable
    return np.asarray(portable.to_image(x)).astype(int)


def _agree(mine: np.ndarray, expected: np.ndarray, histograms: float) -> None:
    """One level of 255 at most; with histogram matching a few, and half a level on average: the
    principal directions of two nearly equal eigenvalues are any rotation of each other, and the
    two libraries' eigen-decompositions of covariances summed in another order pick different
    ones, along which the histograms then differ a little."""
    diff = np.abs(pixels(mine) - expected)
    assert diff.max() <= (4 if histograms else 1) and diff.mean() <= 0.5, (diff.max(), diff.mean())


def agrees_at_size(exact, torch_pipeline, method: str, alpha: float, height: int, width: int, **changes) -> None:
    """The pipeline without torch gives torch's pixels, to one level of 255, at this size;
    `changes`: the run's other settings."""
    content = structured(height, width, seed=2).numpy()
    style = structured(40, 30, seed=5).numpy()
    mine = exact.stylize(content, [style], onepass(method, alpha=alpha, **changes))
    assert mine.shape == (1, 3, height, width) and mine.dtype == np.float32
    _agree(mine, torch_pixels(torch_pipeline, method, content, [style], alpha, **changes), changes.get("histograms", 0))


def agrees_in_blends(exact, torch_pipeline, method: str, **changes) -> None:
    """... and with two styles blended, at several alphas, one style's weight 0 included."""
    content = structured(40, 48, seed=1).numpy()
    styles = [structured(32, 32, seed=7).numpy(), structured(24, 40, seed=9).numpy()]
    for alpha, weights in ((1.0, [0.7, 0.3]), (0.3, [0.5, 0.5]), (0.0, [1.0, 0.0]), (0.8, [0.0, 1.0])):
        expected = torch_pixels(torch_pipeline, method, content, styles, alpha, weights, **changes)
        mine = exact.stylize(content, styles, onepass(method, alpha=alpha, style_blend=weights, **changes))
        _agree(mine, expected, changes.get("histograms", 0))


def near(mine: np.ndarray, expected: np.ndarray) -> None:
    """The quantised encoder's picture: on photos its mean difference from torch's is a few
    levels of 255, 99% of values within 13-18 (and the bench's distances the same)."""
    diff = np.abs(mine - expected)
    assert diff.mean() <= 6 and np.percentile(diff, 99) <= 30, (diff.mean(), np.percentile(diff, 99))


def adain_sidecar(tmp_path: Path, flags: list[str], style_side: int = 32) -> dict:
    """`stylekit adain` on a small structured photo and painting at 32 px with `flags`: the
    sidecar it wrote."""
    import json
    from stylekit.cli import main as toolkit
    content = write_png(tmp_path / "photo.png", structured(24, 32))
    style = write_png(tmp_path / "style.png", structured(style_side, style_side, seed=3))
    out = tmp_path / "out.png"
    assert toolkit.main(["adain", "--content", str(content), "--style", str(style), "--size", "32",
                         "--out", str(out), *flags]) == 0
    return json.loads(out.with_suffix(".json").read_text())


def command_picture(folder: Path, flags: list[str]) -> np.ndarray:
    """The 8-bit pixels `adain_sidecar` makes with `flags`, in a folder of their own."""
    from PIL import Image
    folder.mkdir()
    adain_sidecar(folder, flags)
    return np.asarray(Image.open(folder / "out.png")).astype(int)


def one_error_line(err: str) -> str:
    """stderr's one line, which starts with 'error: '; no traceback."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def adain_refuses(tmp_path: Path, capsys, flags: list[str], words: str) -> None:
    """`stylekit adain` with `flags` on a small photo and painting exits 2 with `error: words`
    alone on stderr, and makes no output folder."""
    from stylekit.cli import main as toolkit
    content = write_png(tmp_path / "photo.png", structured(24, 32))
    style = write_png(tmp_path / "style.png", structured(32, 32, seed=3))
    out = tmp_path / "out" / "out.png"
    assert toolkit.main(["adain", "--content", str(content), "--style", str(style), "--out", str(out), *flags]) == 2
    assert capsys.readouterr().err.strip() == f"error: {words}"
    assert not out.parent.exists()


def fp32_wct(cnn):
    """The numpy pipeline over an fp32 encoder (the bundle's is quantised) and fp32 ONNX copies
    of the shipped WCT decoders, so that it can be held to torch's pixels."""
    from stylekit.nets.adain import infer, portable
    from stylekit.nets.onnx_copy import onnx_model
    decoders = {}
    for path in infer.default_decoders("wct"):
        decoder = infer.load_decoder(path)[0]
        example = torch.rand(1, 64 * 2 ** (decoder.level - 1), 8, 8)
        decoders[decoder.level] = portable._session(onnx_model(decoder, example, portable.INPUT,
                                                               portable.OUTPUT).SerializeToString())
    return portable.PortableWCT(*fp32_encoder(cnn), decoders, [])
