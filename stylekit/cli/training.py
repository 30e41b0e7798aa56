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

import torch

from stylekit.base.errors import InputError
from stylekit.base.figures import plot_losses
from stylekit.base.files import write_json
from stylekit.base.progress import Progress
from stylekit.cli import options
from stylekit.cli.common import positive_int, positive_float, seed
from stylekit.nets.portable import portable_path
from stylekit.nets.training import TRAINING_CURVE_SMOOTHING, TrainResult, checkpoint_path, load_checkpoint, to_export
from stylekit.base.limits import check_memory as check_memory_for
from stylekit.base.plan import check_plan
from stylekit.settings import TrainSettings


def add_flags(p, preset: str, items: str = "crops") -> None:
    """The flags every training command has, their help quoting the preset's values."""
    d = TrainSettings.preset(preset)
    p.add_argument("--steps", type=positive_int, help=f"training steps in all (default {d.steps})")
    p.add_argument("--batch", type=positive_int, help=f"{items} per step (default {d.batch})")
    p.add_argument("--lr", type=positive_float, help=f"Adam's step size (default {d.lr:g})")
    p.add_argument("--save-every", type=positive_int, help=f"checkpoint every N steps (default {d.save_every})")
    p.add_argument("--seed", type=seed, help=f"seed of the crops, 0 to 2**64-1 (default {d.seed})")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint beside --out")
    options.add_device(p)


def settings_from(args, preset: str) -> TrainSettings:
    """The preset with every flag that was given on top (a flag left at None keeps the preset's)."""
    given = {name: getattr(args, name, None) for name in TrainSettings.__dataclass_fields__ if name != "kind"}
    return TrainSettings.preset(preset, **given)


def outputs(out: Path) -> list[Path]:
    """Every file a training run writes: the network, its checkpoint, settings and loss plot, and
    a style network's ONNX copy (`nets.portable`)."""
    return [out, checkpoint_path(out), out.with_suffix(".json"), out.with_name(out.stem + "_losses.png"),
            portable_path(out)]


def check_start(out: Path | None, resume: bool, inputs: list, what: str) -> None:
    """Before any work: --out names a .pt file that may be written, --resume has a checkpoint,
    and none of the run's files is one of its `inputs` (style images, training photos)."""
    if out is None or out.suffix != ".pt":
        shown = f", not {out.name!r}" if out is not None else ""
        raise InputError(f"--out must name the {what} file to write, ending in .pt{shown}")
    if resume and not checkpoint_path(out).exists():
        raise InputError(f"--resume: no checkpoint {checkpoint_path(out)} to resume from")
    check_plan(outputs(out), inputs)
    if not resume and checkpoint_path(out).exists():   # a forgotten --resume would start it over
        state = load_checkpoint(checkpoint_path(out))
        planned = state.get("steps")   # the sitting's --steps (checkpoints before it was kept: unknown)
        done = state.get("step", 0)
        if isinstance(planned, int) and done < planned:
            raise InputError(f"{checkpoint_path(out)} holds an unfinished run ({done} of {planned} steps): "
                             f"continue it with --resume, or delete it to start afresh")
        if done:   # a finished one: starting over would replace its model, hours of training
            raise InputError(f"{checkpoint_path(out)} holds a run of {done} steps, whose model this run "
                             f"would replace: train it on with --resume and more --steps, or delete the checkpoint "
                             f"(or give another --out) to start afresh")


def check_out_outside(out: Path, data: str | Path | None) -> None:
    """The run's files may not land among its training photos (any depth: they are read
    recursively): the loss plot would become one, and a resumed run would then be refused for
    overwriting an input."""
    if data is not None and Path(data).is_dir() and out.resolve().parent.is_relative_to(Path(data).resolve()):
        raise InputError(f"--out {out} is inside --data {data}: the run's loss plot would become a training "
                         f"photo; write the model elsewhere")


def count_parameters(build: Callable[[], torch.nn.Module]) -> int:
    """The parameters of the network `build()` makes, without allocating them."""
    with torch.device("meta"):
        return sum(p.numel() for p in build().parameters())


def check_memory(method: str, config: TrainSettings, params: int, shipped: TrainSettings,
                 style_pixels: int = 0, device="cpu") -> int:
    """Refuse, before any work, a training run the machine cannot hold: the crops of a batch
    and their activations (`base.limits`, measured on the `shipped` network and scaled by
    its width and depth), and the network's `params` parameters with their gradients, Adam's
    two moments and the checkpoint's copy."""
    pixels = min(config.batch * config.train_size ** 2, 10 ** 30)  # a float, for any --batch
    scale = max(1.0, config.width / shipped.width) * max(1.0, config.res_blocks / shipped.res_blocks)
    return check_memory_for(method, int(pixels * scale), style_pixels, extra=24 * params, device=device,
                            what=f"training with {config.batch:,} crops of {config.train_size} px "
                                 f"({params:,} parameters)",
                            hint="use a smaller --batch, --train-size or network")


def note_skipped(dataset) -> None:
    """One warning line for the training images that could not be read and were skipped."""
    skipped = getattr(dataset, "skipped", None) or {}
    if skipped:
        path, why = next(iter(skipped.items()))
        more = f" and {len(skipped) - 1} more" if len(skipped) > 1 else ""
        print(f"warning: skipped {len(skipped)} unreadable image{'s' if len(skipped) > 1 else ''}: "
              f"{path} ({why}){more}", file=sys.stderr)


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
    if to_export(result, out):
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
