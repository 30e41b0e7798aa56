"""The assignment's experiments, all together: the registry the site runs, and one part's
experiments on their own (`python -m stylekit report --ablate --part 1|2`,
`--compare-init --part 3`, at the report's sizes and into its results folder, so that a
later whole build reuses them). Nothing here imports `run.py` or the command line.
"""
from __future__ import annotations

from pathlib import Path

from stylekit.optim.jobs import Job
from stylekit.report import part1_2, part3
from stylekit.report.runs import Experiment, ensure, scale_for

# name: (the experiment, the plan of its runs)
EXPERIMENTS = {
    "part1_ablation": (part1_2.part1_ablation, part1_2.p1_ablation_jobs),
    "part1_two_noises": (part1_2.part1_two_noises, part1_2.p1_noise_jobs),
    "part2_ablation": (part1_2.part2_ablation, part1_2.p2_ablation_jobs),
    "part2_two_noises": (part1_2.part2_two_noises, part1_2.p2_noise_jobs),
    "part3_grid": (part3.part3_grid, part3.grid_jobs),
    "part3_compare_init": (part3.part3_compare_init, part3.compare_jobs),
    "part3_sweep": (part3.part3_style_weight_sweep, part3.sweep_jobs),
    "part3_favourites": (part3.part3_favourites, part3.fav_jobs),
}


def all_jobs(quick: bool, out_root: Path) -> list[tuple[str, Job]]:
    s = scale_for(quick)
    return [pair for _, plan in EXPERIMENTS.values() for pair in plan(s, out_root)]


def run_all(cnn, device, quick: bool, out_root: Path, progress: bool = True,
            only: list[str] | None = None) -> dict[str, Experiment]:
    """Every experiment (or those named in `only`): the missing runs first, under one bar."""
    names = list(EXPERIMENTS) if only is None else only
    s = scale_for(quick)
    todo = [pair for name in names for pair in EXPERIMENTS[name][1](s, out_root)]
    ensure(todo, cnn, device, progress, need_trace=False)
    # The comparison also needs the per-evaluation trace; runs reused from elsewhere lack it.
    if "part3_compare_init" in names:
        ensure(part3.compare_jobs(s, out_root), cnn, device, progress, need_trace=True)
    return {name: EXPERIMENTS[name][0](cnn, device, quick, out_root, progress) for name in names}


def for_part(part: int, cnn, device, quick: bool, out_root: Path, content: Path | None = None,
             style: Path | None = None, progress: bool = True) -> list[Experiment]:
    """Part 1 or 2: the layer ablation and the two noises; part 3: content vs noise init.
    `content` / `style` replace the report's images."""
    if part == 1:
        content = content or part1_2.P1_CONTENT
        return [part1_2.part1_ablation(cnn, device, quick, out_root, progress, content=content),
                part1_2.part1_two_noises(cnn, device, quick, out_root, progress, content=content)]
    if part == 2:
        style = style or part1_2.P2_STYLE
        return [part1_2.part2_ablation(cnn, device, quick, out_root, progress, style=style),
                part1_2.part2_two_noises(cnn, device, quick, out_root, progress, style=style)]
    return [part3.part3_compare_init(cnn, device, quick, out_root, progress, content=content or part3.COMPARE_PAIR[0],
                                     style=style or part3.COMPARE_PAIR[1])]
