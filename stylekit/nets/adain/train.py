"""Training the one-pass networks with the one training loop (`nets.training.train`): AdaIN's
decoder on content/style crop pairs, the WCT decoders and WCT's narrow encoder on photo crops
alone; each file records every sitting of a run that was stopped and resumed."""
from __future__ import annotations

import copy
from pathlib import Path

import torch

from stylekit.base.device import resolve_precision
from stylekit.base.errors import InputError
from stylekit.nets.adain.infer import load_decoder
from stylekit.nets.adain.model import ENCODER_LAYERS, MODEL_FORMAT, AdaINLoss, Decoder, Encoder, ReconstructionLoss
from stylekit.nets.adain import student as students
from stylekit.nets.crops import RandomCrops
from stylekit.nets.training import TrainResult, checkpoint_path, resumed_init, save_network, seeded, sittings, to_export, train
from stylekit.settings import TrainSettings
from utils import load_vgg19


class ContentStylePairs(torch.utils.data.Dataset):
    """Item i: a (2, 3, S, S) tensor, content crop i over style crop i.

    Both are seeded by i (`RandomCrops`), so a resumed run sees the pairs it would have seen.
    """

    def __init__(self, photos: list[Path], styles: list[Path], size: int, length: int, seed: int = 0):
        self.content = RandomCrops(photos, size, length, seed)
        self.style = RandomCrops(styles, size, length, seed + 1)

    def __len__(self) -> int:
        return len(self.content)

    @property
    def skipped(self) -> dict[Path, str]:
        """The files that could not be read, and why (`RandomCrops.skipped`)."""
        return {**self.content.skipped, **self.style.skipped}

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.stack([self.content[index], self.style[index]])


def train_decoder(encoder: Encoder, dataset, config: TrainSettings, *, out: Path, resume: bool = False,
                  device=torch.device("cpu"), record: dict | None = None, init: Path | None = None,
                  callback=None) -> tuple[Decoder, TrainResult]:
    """Train a decoder as `config` says with `nets.training.train`: kind 'adain' (relu4_1, on
    `ContentStylePairs`) or 'wct' (relu{config.level}_1, on photo crops); the checkpoint goes
    beside `out`. `init`: a decoder file of the same level and width to start from.
    `record`: more settings to keep in the decoder file.

    The compact decoder is exported to `out` whenever steps were run, interrupted runs
    included, so Ctrl-C still leaves a usable model that matches the checkpoint.
    """
    if config.kind not in ("adain", "wct"):
        raise InputError(f"train_decoder trains AdaIN and WCT decoders, not {config.kind!r} networks")
    config = config.replace(precision=resolve_precision(config.precision, torch.device(device)))
    level = 4 if config.kind == "adain" else config.level
    with seeded(config.seed):
        decoder = Decoder(config.width, level, encoder.width, config.full_size_width)
    if init is not None:
        reshape_into(decoder, starting_decoder(init, decoder.arch, (record or {}).get("encoder_sha256")))
    encoder = encoder.to(device)
    if config.kind == "adain":
        loss = AdaINLoss(encoder, config.style_weight, content_weight=config.content_weight,
                         identity_weight=config.identity_weight)
    else:
        judge = Encoder(load_vgg19(config.weights, device)) if config.feature_loss == "vgg19" else None
        loss = ReconstructionLoss(encoder, level, config.content_weight, config.identity_weight, judge=judge)
    init = resumed_init(init, out, resume)
    settings = {**(record or {}), "kind": config.kind, "batch": config.batch, "lr": config.lr,
                "content_weight": config.content_weight, "style_weight": config.style_weight,
                "identity_weight": config.identity_weight, "precision": config.precision,
                "init": str(init) if init else None, **decoder.arch,
                **({"feature_loss": config.feature_loss} if config.kind == "wct" else {})}
    result = train(decoder, loss, dataset, config, checkpoint=checkpoint_path(out), resume=resume,
                   record=settings, device=device, callback=callback)
    if to_export(result, out):
        done = sittings(out, load_decoder, result, config.lr)
        export(decoder, out, {**settings, "steps": result.step,
                              "seconds": sum(s.get("seconds") or 0.0 for s in done), "sittings": done,
                              "final_losses": result.history[-1] if result.history else {}})
    return decoder, result


def starting_decoder(init: Path, arch: dict, encoder_sha256: str | None = None) -> Decoder:
    """The decoder in file `init` (--init) for a run that trains `arch`: one of the same level,
    decoding the same encoder's features (VGG-19's, or the narrow encoder's whose sha256 is
    `encoder_sha256`); its widths may differ (`reshape_into`)."""
    start, made = load_decoder(init, what="--init decoder", hint="one made by train-wct or train-adain")

    def decodes(a: dict) -> str:
        return f"relu{a['level']}_1 of an encoder with feature width {a.get('feature_width', 1.0):g}"
    if decodes(start.arch) != decodes(arch):
        raise InputError(f"--init: {init} is a decoder of level {start.level}, width {start.arch['width']:g} "
                         f"({decodes(start.arch)}); this run trains level {arch['level']} ({decodes(arch)})")
    if made.get("encoder_sha256") != encoder_sha256:
        raise InputError(f"--init: {init} decodes another encoder's features than this run's "
                         f"({'VGG-19' if encoder_sha256 is None else '--encoder'}): start from a decoder of the same encoder")
    return start


@torch.no_grad()
def reshape_into(decoder: Decoder, start: Decoder) -> None:
    """`start`'s weights into `decoder`, a decoder of the same level whose layers may be wider or
    narrower. Each layer keeps `start`'s first channels. Where `decoder` is wider, the new
    channels keep their fresh incoming weights and get zero outgoing ones: it computes what
    `start` does, and training makes the new channels speak. Where it is narrower, the dropped
    channels' part is lost: a start that training must repair."""
    old, new = start.state_dict(), decoder.state_dict()
    for name, value in new.items():
        if value.dim() == 4:
            value[:, old[name].shape[1]:] = 0
        kept = tuple(slice(0, min(a, b)) for a, b in zip(value.shape, old[name].shape))
        value[kept] = old[name][kept]
    decoder.load_state_dict(new)


def export(decoder: Decoder, out: Path, settings: dict) -> Path:
    """The compact decoder: fp16 weights (half the size, no visible loss), arch, settings."""
    return save_network(decoder, out, MODEL_FORMAT, settings)


# Calibration crops of a student (`student.calibrate`): this many, from the far end of the run's
# endless crops, which no run reaches.
CALIBRATION_CROPS = 32


def train_student(teacher: Encoder, dataset, config: TrainSettings, *, out: Path, resume: bool = False,
                  device=torch.device("cpu"), record: dict | None = None,
                  callback=None) -> tuple[students.StudentEncoder, TrainResult]:
    """Distil `teacher` into a student of `config.width` of its channels (`nets.adain.student`)
    on `dataset`'s crops; the checkpoint goes beside `out`, and the student, calibrated to the
    teacher's activation scales, is exported to `out` whenever steps were run."""
    config = config.replace(precision=resolve_precision(config.precision, torch.device(device)))
    teacher = teacher.to(device)
    with seeded(config.seed):
        student = students.pruned(teacher, config.width)
    widths = [last.out_channels for last, _ in students.stage_ends(teacher)]
    net = students.Distillation(student, widths, students.kept_channels(teacher, config.width))
    settings = {**(record or {}), "kind": config.kind, "batch": config.batch, "lr": config.lr,
                "content_weight": config.content_weight, "precision": config.precision, **student.arch}
    result = train(net, students.DistillLoss(teacher, config.content_weight), dataset, config,
                   checkpoint=checkpoint_path(out), resume=resume, record=settings, device=device, callback=callback)
    if to_export(result, out):
        shipped = copy.deepcopy(student).cpu().requires_grad_(False).eval()
        crops = torch.stack([dataset[len(dataset) - 1 - i] for i in range(CALIBRATION_CROPS)])
        factors = students.calibrate(shipped, crops)
        done = sittings(out, students.load_student, result, config.lr)
        students.save_student(shipped, out, {**settings, "steps": result.step,
                                             "seconds": sum(s.get("seconds") or 0.0 for s in done), "sittings": done,
                                             "final_losses": result.history[-1] if result.history else {},
                                             "calibration": dict(zip(ENCODER_LAYERS, factors))})
    return student, result
