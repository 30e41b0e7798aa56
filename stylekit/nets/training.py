"""The one training loop for networks: the style and texture networks, the AdaIN decoder.

`engine.optimize` optimizes the pixels of one image; this optimizes a network's weights over
batches, with the same habits: losses come as a dict of weighted terms from the caller's
`loss_fn`, progress goes to a callback (the one progress bar in the CLI), bf16 autocast where the CPU has it,
nothing lost on Ctrl-C or NaN (the last good checkpoint stays), and a run resumes exactly
where its checkpoint left it.

Distributed: started under `torchrun`, every process trains a DistributedDataParallel replica
(gloo on CPUs, NCCL on GPUs) on its own share of the batches; rank 0 alone writes files.
"""
from __future__ import annotations

import contextlib

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist
import torch.nn as nn

from stylekit.base.device import autocast_context, resolve_precision
from stylekit.base.errors import InputError, reason
from stylekit.base.files import save_torch
from stylekit.base.interrupt import sigterm_as_interrupt
from stylekit.settings import TrainSettings

CHECKPOINT_FORMAT = "style-transfer-checkpoint/1"
# Loss curves of training runs: each step's batch is random, so the plots draw a running mean
# over this many steps above the raw values (`base.figures.plot_losses`).
TRAINING_CURVE_SMOOTHING = 100
# Every training run's dataset is this long: far more items than any run takes steps.
ENDLESS = 10 ** 9


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)   # weighted loss terms per step
    step: int = 0                                        # steps done, resumed ones included
    first_step: int = 0                                  # where this sitting started
    seconds: float = 0.0                                 # this sitting's wall time
    sittings: list[dict] | None = None                   # the ones before it, as the checkpoint kept them
    status: str = "done"                                 # done | interrupted | nan
    main: bool = True                                    # the process that writes files


@dataclass
class Distributed:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


# What a resumed run must share with its checkpoint's (a model file records one value of each).
RESUME_KEEPS = ("kind", "batch", "train_size", "size", "style_size", "style_resize", "weights", "content_weight",
                "style_weight", "identity_weight", "content_layers", "style_layers", "style_layer_weights",
                "style_normalize", "seed", "vgg_weights", "encoder_sha256", "feature_loss")
# What a checkpoint made before a setting existed was trained with.
RESUME_BEFORE = {"feature_loss": "encoder"}


@contextlib.contextmanager
def seeded(seed: int):
    """Inside: torch's generator seeded by `seed`, outside: as it was. Around building a network,
    so that its first weights, like its crops, are the run's seed's (two runs alike give one model)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def distributed_setup(device: torch.device) -> Distributed:
    """Join the process group when started by torchrun (WORLD_SIZE > 1), else run alone."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Distributed(dist.get_rank(), dist.get_world_size())


def to_export(result, out: Path, also=()) -> bool:
    """Whether a run writes its finished files (the network, its settings, its loss plot, and
    `also`): it trained steps this sitting, or a sitting stopped while writing them left one
    missing, which a resumed run with no step left writes now (it wrote nothing, and `fast`
    went on without the ONNX copy). Otherwise a resumed run with no step left rewrites nothing."""
    files = [out, out.with_suffix(".json"), out.with_name(out.stem + "_losses.png"), *also]
    return result.main and (result.step > result.first_step or (result.step > 0 and not all(p.exists() for p in files)))


def checkpoint_path(out: Path) -> Path:
    """Where the training run of the network file `out` keeps its checkpoint."""
    return out.with_name(out.stem + ".ckpt")


def load_checkpoint(path: Path) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)   # tensors and plain data: a pickle runs no code
    except Exception as exc:
        raise InputError(f"cannot read checkpoint {path}: {exc.__class__.__name__}") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"{path} is not a training checkpoint of this project")
    damage = _damage(state)
    if damage:
        raise InputError(f"{path} is a damaged training checkpoint ({damage}): delete it to start afresh")
    return state


def _count(value) -> bool:
    return type(value) is int and value >= 0


def _damage(state: dict) -> str | None:
    """What of a checkpoint's progress record cannot be used (a file edited by hand, or written
    by something else), or None. Its network and optimizer are checked where they are loaded."""
    if "step" in state and not _count(state["step"]):
        return f"its step is {state['step']!r}, not a count"
    if "steps" in state and not _count(state["steps"]):
        return f"its steps is {state['steps']!r}, not a count"
    history = state.get("history", [])
    if not isinstance(history, list) or not all(isinstance(row, dict) for row in history):
        return "its history is not a list of loss rows"
    if not isinstance(state.get("settings", {}), dict):
        return "its settings are not a table"
    return None


def save_network(net: nn.Module, out: Path, fmt: str, settings: dict) -> Path:
    """A trained network as shipped: fp16 weights, its constructor arguments (`net.arch`) and
    its training settings, written atomically."""
    state = {k: v.detach().to("cpu", torch.float16) for k, v in net.state_dict().items()}
    return save_torch({"format": fmt, "arch": net.arch, "state": state, "settings": settings}, out)


def load_network(path: str | Path, fmt: str, build: Callable[..., nn.Module], what: str, hint: str,
                 device="cpu") -> tuple[nn.Module, dict]:
    """The network saved by `save_network` (eval mode, fp32, on `device`) and its settings.

    Anything else (missing, corrupt, another format, weights that do not fit) raises one
    InputError line naming `what` the file should have been and `hint` how to make one.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a {what} file ({hint})")
    if not path.is_file():
        raise InputError(f"{what} not found: {path} ({hint})")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        raise InputError(f"{path} is not a readable {what} file (corrupt or not made by torch.save)") from None
    if not isinstance(saved, dict) or saved.get("format") != fmt:
        article = "an" if what[0].lower() in "aeiou" else "a"
        raise InputError(f"{path} is not {article} {what} of this project ({hint})")
    try:
        net = build(**saved["arch"])
        net.load_state_dict({k: v.float() for k, v in saved["state"].items()})
    except (RuntimeError, KeyError, TypeError, AttributeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: the weights do not fit the {what} ({reason})") from None
    return net.to(device).eval(), dict(saved.get("settings") or {})


def resumed_init(init, out: Path, resume: bool):
    """The network file a run started from: `init`, or, for a resumed run, the --init its
    checkpoint recorded, so that the file a run ends with still names it."""
    if init is None and resume and checkpoint_path(out).exists():
        return load_checkpoint(checkpoint_path(out)).get("settings", {}).get("init")
    return init


def sittings(out: Path, load: Callable[[Path], tuple[nn.Module, dict]], result: TrainResult,
             lr: float) -> list[dict]:
    """Every sitting of the run that writes `out` (steps from-to, step size, seconds): for a
    resumed run, those its checkpoint kept or, from a checkpoint that kept none, those the file
    at `out` recorded (read by `load`; one sitting for a file that recorded none, unknown values
    None), then this one."""
    done = []
    if result.sittings is not None:
        done = result.sittings
    elif result.first_step:
        try:
            earlier = load(out)[1] if out.is_file() else {}
        except InputError:
            earlier = {}
        known = result.first_step in (earlier.get("steps"), earlier.get("trained_steps"))
        done = earlier.get("sittings") or [{"steps": [0, result.first_step], "lr": earlier.get("lr") if known else None,
                                            "seconds": earlier.get("seconds") if known else None}]
    return done + [{"steps": [result.first_step, result.step], "lr": lr, "seconds": round(result.seconds, 1)}]


def kept_sittings(state: dict) -> list[dict] | None:
    """The sittings a checkpoint kept: steps from-to, one after another from 0 to its step, with
    lr and seconds (None where a model file recorded none). None from a checkpoint older than
    this record, or one whose record is not that (the model file's record is then used)."""
    def number(value) -> bool:
        return value is None or (type(value) in (int, float) and math.isfinite(value) and value >= 0)

    kept, ends = state.get("sittings"), 0
    if not isinstance(kept, list):
        return None
    for s in kept:
        steps = s.get("steps") if isinstance(s, dict) else None
        if not (isinstance(steps, list) and len(steps) == 2 and all(_count(x) for x in steps) and steps[0] == ends
                and steps[1] >= ends and "lr" in s and "seconds" in s and number(s["lr"]) and number(s["seconds"])):
            return None
        ends = steps[1]
    return list(kept) if ends == state.get("step") else None


def batch_indices(step: int, batch: int, ddp: Distributed) -> list[int]:
    """Dataset indices of one process's batch at `step`: disjoint across processes and steps,
    and a function of the step alone, so a resumed run sees the batches it would have seen."""
    start = (step * ddp.world + ddp.rank) * batch
    return list(range(start, start + batch))


def train(net: nn.Module, loss_fn: Callable[[nn.Module, torch.Tensor], dict[str, torch.Tensor]],
          dataset, config: TrainSettings, *, checkpoint: Path, resume: bool = False, record: dict | None = None,
          device: torch.device = torch.device("cpu"),
          callback: Callable[[dict], None] | None = None) -> TrainResult:
    """Train `net` with Adam for `config.steps` steps on batches of `config.batch` items
    `dataset[i]` (each a tensor), at `config.lr` and `config.precision`.

    loss_fn(net, batch) returns weighted loss terms; their sum is minimised. The checkpoint
    (network, optimizer, step, history, and `record`: the settings to keep with it) is written
    every `config.save_every` steps and at the end; with `resume`, training continues from it.
    callback(info) after each step with info = {'step', 'steps', 'terms', 'total'}.
    """
    ddp = distributed_setup(device)
    net.to(device).train()
    model = nn.parallel.DistributedDataParallel(net) if ddp.world > 1 else net
    steps, batch, lr = config.steps, config.batch, config.lr
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    result = TrainResult(main=ddp.main, sittings=[])
    seconds_before = 0.0
    if resume and checkpoint.exists():
        state = load_checkpoint(checkpoint)
        try:
            net.load_state_dict(state["net"])
            opt.load_state_dict(state["optimizer"])
            int(state["step"]), list(state["history"])
        except (RuntimeError, KeyError, ValueError, TypeError) as exc:
            made = ", ".join(f"{k} {state.get('settings', {}).get(k)}" for k in ("kind", "width", "res_blocks")
                             if isinstance(state.get("settings"), dict) and k in state["settings"])
            why = "" if isinstance(exc, RuntimeError) else f": {reason(exc)}"   # a state dict's is many lines
            raise InputError(f"--resume: {checkpoint} is the checkpoint of another network"
                             f"{f' ({made})' if made else ''}, not of this run's{why}") from None
        before = {**RESUME_BEFORE, **(state.get("settings") or {})}
        changed = [k for k in RESUME_KEEPS if k in before and k in (record or {}) and before[k] != record[k]]
        if changed:   # the model file would name the new value alone, for steps trained with the old
            k = changed[0]
            raise InputError(f"--resume: {checkpoint} was trained with {k} {before[k]!r}, not {record[k]!r}: resume "
                             f"with its settings (--steps, --lr and the device may change), or start afresh")
        for group in opt.param_groups:  # the saved state carries the old step size; `lr` is this run's
            group["lr"] = lr
        result.step, result.history = state["step"], state["history"]
        result.first_step = result.step
        result.sittings = kept_sittings(state)
        cut = result.sittings[-1] if result.sittings else None
        unfinished = result.step < state.get("steps", 0) and result.step < steps
        if cut and unfinished and cut["lr"] == lr and cut["seconds"] is not None:
            # The same command again after a run was cut off (a kill leaves no model file):
            # one sitting, as the recipe has one command for it.
            result.first_step, seconds_before = cut["steps"][0], cut["seconds"]
            result.sittings = result.sittings[:-1]
    amp = autocast_context(device, resolve_precision(config.precision, device))

    def this_sitting() -> dict:
        return {"steps": [result.first_step, result.step], "lr": lr,
                "seconds": round(seconds_before + time.perf_counter() - start, 1)}

    def save():
        if ddp.main:
            save_torch({"format": CHECKPOINT_FORMAT, "net": net.state_dict(), "optimizer": opt.state_dict(),
                        "step": result.step, "steps": steps, "history": result.history, "settings": record or {},
                        "sittings": None if result.sittings is None else result.sittings + [this_sitting()]},
                       checkpoint)

    start = time.perf_counter()
    try:
        with sigterm_as_interrupt():
            while result.step < steps:
                images = torch.stack([dataset[i] for i in batch_indices(result.step, batch, ddp)]).to(device)
                with amp:
                    terms = loss_fn(model, images)
                total = sum(terms.values())
                if not math.isfinite(total.item()):
                    result.status = "nan"
                    break
                opt.zero_grad(set_to_none=True)
                total.backward()
                opt.step()
                result.step += 1
                row = {k: v.item() for k, v in terms.items()}
                row["total"] = total.item()
                result.history.append(row)
                if callback is not None and ddp.main:
                    callback({"step": result.step, "steps": steps, "terms": row, "total": row["total"]})
                if result.step % config.save_every == 0 or result.step == steps:
                    save()
    except KeyboardInterrupt:
        result.status = "interrupted"
        save()
    result.seconds = seconds_before + time.perf_counter() - start
    if ddp.world > 1:
        # Leave the group here: a rank that exits while another still works (rank 0 goes on to
        # export the network) tore gloo down under it at exit, and aborted now and then.
        dist.destroy_process_group()
    return result
