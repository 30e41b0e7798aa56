"""The assignment's Parts 1 and 2 in the report: content reconstruction and texture synthesis
from noise, each with the loss at different layers and from two noise seeds.

Each experiment takes (cnn, device, quick, out_root, progress), makes sure its runs exist
(`runs.ensure`), draws its sheet under `out_root/figures/` and returns an `Experiment` whose
caption numbers are read from the runs' sidecars. `*_jobs(scale, out_root)` plans its runs.
"""
from __future__ import annotations

from pathlib import Path

from style_and_content import content_layers_default
from stylekit.base.images import open_image
from stylekit.optim.jobs import Job
from stylekit.report.inputs import CHENONCEAU, STARRY
from stylekit.report.labels import fmt_num, labelled, layer_span, settings_text
from stylekit.report.measures import mean_abs_diff, mean_colour
from stylekit.report.runs import Experiment, Figure, Scale, ensure, save_sheet, scale_for
from stylekit.settings import Settings

P1_CONTENT = CHENONCEAU
P1_LAYERS = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
# The layer of Part 1's two-noise experiment: Part 3's content layer, so that Part 1 shows
# exactly what the content loss of a transfer asks the picture to keep.
P1_CHOSEN_LAYER = content_layers_default[0]
P2_STYLE = STARRY
P2_SETS = [P1_LAYERS[:n] for n in range(1, len(P1_LAYERS) + 1)]
SEEDS = (0, 1)


# ---------------------------------------------------------------------------------------
# Part 1: content reconstruction
# ---------------------------------------------------------------------------------------

def p1_job(s: Scale, root: Path, content: Path, layer: str, seed: int) -> Job:
    return Job(out=root / "part1" / f"{content.stem}_{layer}_noise_seed{seed}.png", content=content,
               settings=Settings(part=1, size=s.size, steps=s.steps_p1, init="noise", seed=seed, style_weight=0.0,
                                 content_layers=[layer]))


def p1_ablation_jobs(s: Scale, root: Path, content: Path = P1_CONTENT):
    return [(f"reconstruct {layer}", p1_job(s, root, content, layer, SEEDS[0])) for layer in P1_LAYERS]


def part1_ablation(cnn, device, quick: bool, out_root: Path, progress: bool = True,
                   content: Path = P1_CONTENT) -> Experiment:
    """Reconstruct the content image from noise with the content loss at one layer each."""
    s = scale_for(quick)
    runs = ensure(p1_ablation_jobs(s, out_root, content), cnn, device, progress)
    cells = [labelled(open_image(content), f"content\n{content.name}", s.cell)]
    for layer, run in zip(P1_LAYERS, runs):
        cells.append(labelled(open_image(run.image), f"{layer}\nloss {fmt_num(run.loss('content'))}, "
                                                     f"{run.seconds:.0f} s", s.cell))
    path = save_sheet([cells[:3], cells[3:]], out_root, "part1_ablation", s.cell)
    caption = (f"Content reconstruction of {content.name} from white noise (seed {SEEDS[0]}) with the "
               f"content loss at a single layer. Under each: the layer, the final (weighted) content loss "
               f"and the optimization time. Settings: {settings_text(runs[0].meta)} for conv1_1; the same size, "
               f"budget and weights for the other layers.")
    numbers = {"loss": {l: r.loss("content") for l, r in zip(P1_LAYERS, runs)},
               "seconds": {l: r.meta.get("wall_seconds") for l, r in zip(P1_LAYERS, runs)},
               "diff_to_content": {l: mean_abs_diff(r.image, content) for l, r in zip(P1_LAYERS, runs)}}
    return Experiment("part1_ablation", "Content loss at different layers",
                      [Figure("part1_ablation", path, caption, f"{content.stem} reconstructed from noise at five layers")],
                      runs, numbers)


def p1_noise_jobs(s: Scale, root: Path, content: Path = P1_CONTENT, layer: str = P1_CHOSEN_LAYER):
    return [(f"reconstruct {layer} seed {seed}", p1_job(s, root, content, layer, seed)) for seed in SEEDS]


def part1_two_noises(cnn, device, quick: bool, out_root: Path, progress: bool = True,
                     content: Path = P1_CONTENT, layer: str = P1_CHOSEN_LAYER) -> Experiment:
    """Two reconstructions at the chosen layer from two noise seeds, beside the content image."""
    s = scale_for(quick)
    runs = ensure(p1_noise_jobs(s, out_root, content, layer), cnn, device, progress)
    cells = [labelled(open_image(content), f"content\n{content.name}", s.cell)]
    for seed, run in zip(SEEDS, runs):
        cells.append(labelled(open_image(run.image), f"{layer}, noise seed {seed}\n"
                                                     f"loss {fmt_num(run.loss('content'))}", s.cell))
    path = save_sheet([cells], out_root, "part1_two_noises", s.cell)
    a, b = runs[0].image, runs[1].image
    numbers = {"layer": layer, "diff_between": mean_abs_diff(a, b),
               "diff_to_content": [mean_abs_diff(r.image, content) for r in runs],
               "loss": [r.loss("content") for r in runs]}
    caption = (f"Two reconstructions at {layer} from noise seeds {SEEDS[0]} and {SEEDS[1]}, beside the content "
               f"image. Mean absolute pixel difference between the two: {numbers['diff_between']:.1f}/255; "
               f"each to the content: {numbers['diff_to_content'][0]:.1f} and {numbers['diff_to_content'][1]:.1f}. "
               f"Settings: {settings_text(runs[0].meta)}.")
    return Experiment("part1_two_noises", f"Two noises at {layer}",
                      [Figure("part1_two_noises", path, caption, f"two reconstructions at {layer} from different noise")],
                      runs, numbers)


# ---------------------------------------------------------------------------------------
# Part 2: texture synthesis
# ---------------------------------------------------------------------------------------

def p2_job(s: Scale, root: Path, style: Path, layers: list[str], seed: int) -> Job:
    tag = layers[-1] if len(layers) > 1 else layers[0]
    name = f"{style.stem}_upto_{tag}_seed{seed}" if len(layers) > 1 else f"{style.stem}_{tag}_seed{seed}"
    return Job(out=root / "part2" / f"{name}.png", styles=[style],
               settings=Settings(part=2, size=s.size, steps=s.steps_p2, init="noise", seed=seed, content_weight=0.0,
                                 style_layers=list(layers)))


def _set_label(layers: list[str]) -> str:
    return layers[0] if len(layers) == 1 else f"{layers[0]} to {layers[-1]}"


def p2_ablation_jobs(s: Scale, root: Path, style: Path = P2_STYLE):
    return [(f"texture {_set_label(layers)}", p2_job(s, root, style, layers, SEEDS[0])) for layers in P2_SETS]


def part2_ablation(cnn, device, quick: bool, out_root: Path, progress: bool = True,
                   style: Path = P2_STYLE) -> Experiment:
    """Textures from noise with the style loss on growing sets of layers."""
    s = scale_for(quick)
    runs = ensure(p2_ablation_jobs(s, out_root, style), cnn, device, progress)
    cells = [labelled(open_image(style), f"style\n{style.name}", s.cell)]
    for layers, run in zip(P2_SETS, runs):
        cells.append(labelled(open_image(run.image), f"{_set_label(layers)}\nloss {fmt_num(run.loss('style'))}, "
                                                     f"{run.seconds:.0f} s", s.cell))
    path = save_sheet([cells[:3], cells[3:]], out_root, "part2_ablation", s.cell)
    caption = (f"Textures synthesised from white noise (seed {SEEDS[0]}) matching the Gram matrices of "
               f"{style.name} at conv1_1, then conv1_1 and conv2_1, and so on up to all five conv*_1 layers. "
               f"Under each: the layers, the final weighted style loss (summed over the layers used, so "
               f"not comparable across sets) and the time. Settings: {settings_text(runs[-1].meta)} "
               f"for the full set; the same size, budget and weight for the others.")
    numbers = {"loss": [r.loss("style") for r in runs],
               "seconds": [r.meta.get("wall_seconds") for r in runs]}
    return Experiment("part2_ablation", "Style loss at different layers",
                      [Figure("part2_ablation", path, caption, f"textures of {style.stem} with growing sets of style layers")],
                      runs, numbers)


def p2_noise_jobs(s: Scale, root: Path, style: Path = P2_STYLE):
    return [(f"texture seed {seed}", p2_job(s, root, style, P2_SETS[-1], seed)) for seed in SEEDS]


def part2_two_noises(cnn, device, quick: bool, out_root: Path, progress: bool = True,
                     style: Path = P2_STYLE) -> Experiment:
    """Two textures with all five style layers from two noise seeds."""
    s = scale_for(quick)
    runs = ensure(p2_noise_jobs(s, out_root, style), cnn, device, progress)
    cells = [labelled(open_image(style), f"style\n{style.name}", s.cell)]
    for seed, run in zip(SEEDS, runs):
        cells.append(labelled(open_image(run.image), f"noise seed {seed}\nloss {fmt_num(run.loss('style'))}", s.cell))
    path = save_sheet([cells], out_root, "part2_two_noises", s.cell)
    a, b = runs[0].image, runs[1].image
    numbers = {"diff_between": mean_abs_diff(a, b), "loss": [r.loss("style") for r in runs],
               "mean_colour": [mean_colour(r.image) for r in runs], "style_colour": mean_colour(style)}
    caption = (f"Two textures from noise seeds {SEEDS[0]} and {SEEDS[1]} with the style loss at "
               f"{layer_span(P2_SETS[-1])}, beside the style image. Mean absolute pixel difference between "
               f"them: {numbers['diff_between']:.1f}/255; final style losses {fmt_num(numbers['loss'][0])} "
               f"and {fmt_num(numbers['loss'][1])}. Settings: {settings_text(runs[0].meta)}.")
    return Experiment("part2_two_noises", "Two noises, one style",
                      [Figure("part2_two_noises", path, caption, f"two textures of {style.stem} from different noise")],
                      runs, numbers)
