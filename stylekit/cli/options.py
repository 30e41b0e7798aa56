"""Flags shared by several commands: device and precision, the pixel limit, style images.
Torch-free, so that a command which may need no torch (`fast`) can build its parser without it;
the optimization's flags and the `Settings` they build are in `cli.transfer_options`."""
from __future__ import annotations

import argparse
from pathlib import Path

from stylekit.base.images import DEFAULT_MAX_PIXELS
from stylekit.cli.common import float_list, positive_float, positive_int
from stylekit.settings.common import DEVICES


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", choices=DEVICES, default="auto", help="auto, cpu or cuda")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="auto: bf16 autocast where the hardware supports it")


def device_and_precision(args) -> tuple:
    """The device the flags name, and the precision resolved for it (auto -> fp32 or bf16)."""
    from stylekit.base.device import pick_device, resolve_precision   # torch: only for commands that run it
    device = pick_device(args.device)
    return device, resolve_precision(args.precision, device)


def may_use_onnx(args) -> bool:
    """Whether a run may take an ONNX copy of its network instead of torch: on the CPU (--device
    cpu, or auto on a machine without an NVIDIA GPU, where torch would find none) in fp32
    (--precision auto or fp32: ONNX Runtime has no bf16 on x86 CPUs)."""
    if args.device not in ("auto", "cpu") or args.precision == "bf16":
        return False
    return args.device == "cpu" or not Path("/dev/nvidiactl").exists()


def add_max_pixels(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS,
                   help=f"refuse input images with more pixels (default {DEFAULT_MAX_PIXELS:,})")


def add_styles(p: argparse.ArgumentParser, style_scale_default: str = "1") -> None:
    p.add_argument("--style", nargs="+", type=Path, help="style image(s); several are blended")
    p.add_argument("--style-blend", type=float_list, help="blend weights of several styles, e.g. 0.7,0.3")
    p.add_argument("--style-scale", type=positive_float,
                   help=f"style image size relative to the output (default {style_scale_default})")
