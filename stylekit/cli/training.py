"""What the training commands share (`train-fast`, `train-texture`, `train-adain`): their common
flags, the checks before a run, the progress bar over its steps, and the one way a run ends.

Every training command builds a `TrainSettings` from its preset and the flags it was given
(flags default to None: the preset fills in the rest), hands it to its network's training
function, and ends through `finish`: the model file is exported by then, the loss plot and a
JSON copy of the settings go beside it, a NaN or a non-main rank of a distributed run ends
early, and an interrupted run says how to continue and exits 130.
"""
from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Callable

from stylekit.base.errors import InputError
from stylekit.base.figures import plot_losses
from stylekit.base.files import write_json
from stylekit.base.progress import Progress
from stylekit.cli import options
from stylekit.cli.common import positive_int, positive_float
from stylekit.nets.training import TRAINING_CURVE_SMOOTHING, TrainResult, checkpoint_path
from stylekit.optim.jobs import check_out
from stylekit.settings import TrainSettings


def add_flags(p, preset: str, items: str = "crops") -> None:
    """The flags every training command has, their help quoting the preset's values."""
    d = TrainSettings.preset(preset)
    p.add_argument("--steps", type=positive_int, help=f"training steps in all (default {d.steps})")
    p.add_argument("--batch", type=positive_int, help=f"{items} per step (default {d.batch})")
    p.add_argument("--lr", type=positive_float, help=f"Adam's step size (default {d.lr:g})")
    p.add_argument("--save-every", type=positive_int, help=f"checkpoint every N steps (default {d.save_every})")
    p.add_argument("--seed", type=int, help=f"seed of the crops (default {d.seed})")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint beside --out")
    options.add_device(p)


def settings_from(args, preset: str) -> TrainSettings:
    """The preset with every flag that was given on top (a flag left at None keeps the preset's)."""
    given = {name: getattr(args, name, None) for name in TrainSettings.__dataclass_fields__ if name != "kind"}
    return TrainSettings.preset(preset, **given)


def check_start(out: Path | None, resume: bool, inputs: list, what: str) -> None:
    """Before any work: --out names a .pt file that may be written, and --resume has a checkpoint."""
    if out is None or out.suffix != ".pt":
        shown = f", not {out.name!r}" if out is not None else ""
        raise InputError(f"--out must name the {what} file to write, ending in .pt{shown}")
    if resume and not checkpoint_path(out).exists():
        raise InputError(f"--resume: no checkpoint {checkpoint_path(out)} to resume from")
    check_out(out, inputs)


@contextlib.contextmanager
def step_progress(label: str):
    """A callback for `nets.training.train` that shows the steps on the one progress bar, the
    resumed ones counted as done, with the latest losses."""
    bar = None

    def show(info: dict) -> None:
        nonlocal bar
        if bar is None:  # the first step tells where a resumed run starts
            bar = Progress(info["steps"], label, unit="step", initial=info["step"] - 1)
        shown = info["step"] % 5 == 0 or info["step"] == info["steps"]
        bar.update(1, {k: f"{v:.3g}" for k, v in info["terms"].items()} if shown else None)

    try:
        yield show
    finally:
        if bar is not None:
            bar.close()


def finish(result: TrainResult, out: Path, config: TrainSettings, what: str,
           saved_settings: Callable[[], dict]) -> int:
    """How every training command ends; its exit code. `saved_settings()` reads the settings
    of the network file the run exported to `out`."""
    if not result.main:
        return 0  # rank 0 reports for a distributed run
    if result.status == "nan":
        print(f"error: the loss became NaN at step {result.step + 1}; the last checkpoint is kept. "
              f"Lower --lr (now {config.lr:g}) or --style-weight", file=sys.stderr)
        return 1
    if result.step > result.first_step:
        write_json(out.with_suffix(".json"), {**saved_settings(), "seconds_this_sitting": result.seconds,
                                              "status": result.status})
        plot_losses(result.history, out.with_name(out.stem + "_losses.png"), title=out.stem,
                    xlabel="training step", smooth=TRAINING_CURVE_SMOOTHING)
        rate = (result.step - result.first_step) / max(result.seconds, 1e-9)
        losses = ", ".join(f"{k} {v:.4g}" for k, v in result.history[-1].items())
        print(f"{out}  ({result.step} steps, {result.seconds:.0f} s this sitting, {rate:.3f} steps/s at "
              f"{config.train_size} px x {config.batch}; {losses})")
    else:
        print(f"{out}: no steps run ({result.step} already done)")
    if result.status == "interrupted":
        where = f"the {what} so far is in {out}" if result.step else "no steps were done"
        print(f"interrupted: {where}; continue with --resume", file=sys.stderr)
        return 130
    return 0
