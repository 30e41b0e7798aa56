"""A narrow VGG-19 for the whitening and colouring transform: the layers of `model.Encoder` up to
relu4_1 with a fraction of their channels, distilled from the full network (after Wang et al.
2020, "Collaborative Distillation for Ultra-Resolution Universal Style Transfer", whose students
keep about a quarter of VGG-19's filters). relu1_1 keeps its 64 channels: conv1_1 reads three
colours and costs little, and the finest level sets the picture's colours.

WCT's pass is mostly VGG-19's convolutions (the painting's encode and the photo's four), whose
multiply-adds fall with the square of the width. The student starts as the teacher pruned (at
each layer the filters of largest L1 norm, and their inputs in the next layer) and learns to give
features from which a 1x1 convolution per level (`Distillation.lift`) recovers the teacher's: a
linear map of the student's features, so matching their covariance (what WCT does in the
student's space) matches that of the lifted features too. Decoders for the student's features
are then trained as the teacher's are (`train-wct --encoder`).
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from stylekit.nets.adain.model import ENCODER_LAYERS, LAYER_SCALES, VGG_CONVS, Encoder, feature_channels
from stylekit.nets.training import load_network, save_network
from utils import CaffePreprocess

STUDENT_FORMAT = "style-transfer-wct-encoder/1"


def channels(width: float) -> list[int]:
    """The student's output channels of each of VGG-19's convolutions up to conv4_1: conv1_1
    whole (`model.feature_channels`), the others `width` of VGG-19's."""
    return [feature_channels(1, width) if i == 0 else max(1, round(cout * width))
            for i, (_, _, cout) in enumerate(VGG_CONVS)]


def narrow_vgg(width: float) -> nn.Sequential:
    """VGG-19's `features` stack up to relu4_1 with `width` of its channels, the original
    weights' preprocessing in front: what `model.Encoder` takes."""
    layers: list[nn.Module] = [CaffePreprocess()]
    cin, block = 3, 1
    for (conv_block, _, _), cout in zip(VGG_CONVS, channels(width)):
        if conv_block != block:
            layers.append(nn.MaxPool2d(2, 2))
            block = conv_block
        layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU()]
        cin = cout
    return nn.Sequential(*layers)


class StudentEncoder(Encoder):
    """`model.Encoder` over `narrow_vgg(width)`: the same stages and outputs, fewer channels.
    `scales`: each level's mean activation on photos, which `calibrate` makes the teacher's
    (`LAYER_SCALES`), so the decoders and the feature loss take them as they take VGG's."""

    def __init__(self, width: float = 0.25):
        super().__init__(narrow_vgg(width))
        self.arch = {"width": width}
        self.width = width


def convolutions(encoder: Encoder) -> list[nn.Conv2d]:
    return [m for m in encoder.modules() if isinstance(m, nn.Conv2d)]


def pruned(teacher: Encoder, width: float) -> StudentEncoder:
    """A student whose convolutions are the teacher's filters of largest L1 norm, each reading
    the channels its input layer kept: a start that already gives a rough copy of the teacher's
    features."""
    student = StudentEncoder(width)
    kept_inputs = torch.arange(3)
    with torch.no_grad():
        for big, small in zip(convolutions(teacher), convolutions(student)):
            norms = big.weight.abs().sum((1, 2, 3))
            kept = norms.topk(small.out_channels).indices.sort().values
            small.weight.copy_(big.weight[kept][:, kept_inputs])
            small.bias.copy_(big.bias[kept])
            kept_inputs = kept
    return student


def stage_ends(encoder: Encoder) -> list[tuple[nn.Conv2d, nn.Conv2d | None]]:
    """Per level: the convolution that makes it and the one that reads it next (None for the last)."""
    convs = []
    for stage in encoder.stages:
        convs.append([m for m in stage if isinstance(m, nn.Conv2d)])
    return [(convs[i][-1], convs[i + 1][0] if i + 1 < len(convs) else None) for i in range(len(convs))]


@torch.no_grad()
def calibrate(student: StudentEncoder, images: torch.Tensor) -> list[float]:
    """Rescale the student so each level's mean activation on `images` is the teacher's
    (`LAYER_SCALES`) without changing what it computes up to that scale: the convolution that
    makes a level is multiplied by c and the next one's weights divided by c (ReLU and max
    pooling commute with a positive factor). Returns the factors."""
    factors = []
    for level, (last, following) in enumerate(stage_ends(student), start=1):
        mean = student(images, level)[-1].float().mean().item()
        c = LAYER_SCALES[level - 1] / max(mean, 1e-12)
        last.weight.mul_(c)
        last.bias.mul_(c)
        if following is not None:
            following.weight.div_(c)
        factors.append(c)
    return factors


class Distillation(nn.Module):
    """What distillation trains: the student and, per level, the 1x1 convolution that lifts its
    features to the teacher's channels (started as the pruning's choice of channels)."""

    def __init__(self, student: StudentEncoder, teacher_channels: list[int], kept: list[torch.Tensor] | None = None):
        super().__init__()
        self.student = student.requires_grad_(True)
        widths = [stage_ends(student)[i][0].out_channels for i in range(len(ENCODER_LAYERS))]
        self.lift = nn.ModuleList(nn.Conv2d(c, t, 1) for c, t in zip(widths, teacher_channels))
        with torch.no_grad():
            for conv, chosen in zip(self.lift, kept or [None] * len(self.lift)):
                if chosen is not None:
                    conv.weight.zero_()
                    conv.weight[chosen, torch.arange(len(chosen))] = 1.0
                    conv.bias.zero_()

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        return [lift(f) for lift, f in zip(self.lift, self.student(images))]


class DistillLoss(nn.Module):
    """Per level, the MSE between the lifted student features and the teacher's, both divided by
    the teacher's mean activation there (the levels' losses on one scale): as `nets.training.train`'s
    loss_fn, (Distillation, crops (B, 3, S, S)) -> {relu1_1: ..., ...}."""

    def __init__(self, teacher: Encoder, weight: float = 1.0):
        super().__init__()
        self.teacher, self.weight = teacher, weight

    def forward(self, net: nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            targets = self.teacher(images)
        lifted = net(images)
        with torch.autocast(images.device.type, enabled=False):
            return {name: self.weight * F.mse_loss(out.float() / scale, target.float() / scale)
                    for name, out, target, scale in zip(ENCODER_LAYERS, lifted, targets, LAYER_SCALES)}


def kept_channels(teacher: Encoder, width: float) -> list[torch.Tensor]:
    """The teacher's channels `pruned` keeps at each level's output (the lift's start)."""
    ends = [last for last, _ in stage_ends(teacher)]
    return [last.weight.abs().sum((1, 2, 3)).topk(feature_channels(level, width)).indices.sort().values
            for level, last in enumerate(ends, start=1)]


def save_student(student: StudentEncoder, out: Path, settings: dict) -> Path:
    return save_network(student, out, STUDENT_FORMAT, settings)


def load_student(path: str | Path, device="cpu") -> tuple[StudentEncoder, dict]:
    """A saved student encoder (frozen, eval mode, on `device`) and its training settings;
    InputError (one line) for a missing, corrupt or foreign file."""
    student, settings = load_network(path, STUDENT_FORMAT, StudentEncoder, "WCT student encoder",
                                     "make one with python -m stylekit train-student", device)
    return student.requires_grad_(False), settings
