"""The bench's convs section: one fp32 loss evaluation with oneDNN's convolutions against the
same with Winograd's F(4x4, 3x3) in the wide layers, timed on whatever CPU this is, so that
`engine.WINOGRAD_ON_AVX2`'s choice can be checked on machines it was not measured on."""
from __future__ import annotations

import copy
import statistics
import time

import torch

from stylekit.cli.bench_common import CONTENT, STYLE
from stylekit.optim import winograd
from stylekit.settings import Settings
from style_and_content import build_model
from utils import load_image


def convolutions(cnn, sizes_px, repeats: int) -> None:
    part3 = Settings.preset("part3")
    laid_out = copy.deepcopy(cnn).to(memory_format=torch.channels_last)
    variants = {"oneDNN": laid_out, "Winograd": winograd.winograd_copy(laid_out)}
    replaced = [n for n, m in variants["Winograd"].named_children() if isinstance(m, winograd.WinogradConv2d)]
    print(f"\n## One loss evaluation in fp32: oneDNN's convolutions vs Winograd F(4x4, 3x3) from {replaced[0]} on")
    print(f"part 3's losses, forward and backward to the image, channels-last; layers with at least "
          f"{winograd.MIN_IN_CHANNELS} input channels on maps of at least {winograd.MIN_PIXELS} px by Winograd; "
          f"medians of {repeats}, the two interleaved. The engine uses Winograd in fp32 when torch's kernels are "
          f"AVX2 (here: {torch.backends.cpu.get_cpu_capability()}).\n")
    print("| size | oneDNN (s) | Winograd (s) | ratio | gradient difference |")
    print("|---|---|---|---|---|")
    for size in sizes_px:
        content, style = load_image(CONTENT, size), load_image(STYLE, size)
        steps = {}
        for name, net in variants.items():
            model, losses = build_model(net, content, style, content_layers=part3.content_layers,
                                        style_layers=part3.style_layers, style_normalize=True,
                                        style_layer_weights=part3.style_layer_weights)
            terms = [m for group in losses.values() for m in group]

            def step(model=model, terms=terms):
                x = content.clone().requires_grad_(True)
                model(x)
                return torch.autograd.grad(sum(m.loss for m in terms), x)[0]
            steps[name] = step
        grads = {name: step() for name, step in steps.items()}   # also the warm-up
        diff = ((grads["Winograd"] - grads["oneDNN"]).norm() / grads["oneDNN"].norm()).item()
        times = {name: [] for name in steps}
        for _ in range(repeats):
            for name, step in steps.items():
                start = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - start)
        a, b = statistics.median(times["oneDNN"]), statistics.median(times["Winograd"])
        w, h = content.shape[-1], content.shape[-2]
        print(f"| {w}x{h} | {a:.3f} | {b:.3f} | {b / a:.2f} | {diff:.1e} |", flush=True)
