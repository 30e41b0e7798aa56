"""The report's bells & whistles, in the order the page lists them. Each takes (cnn, device,
quick, out_root, progress) and returns a `runs.Bell` (or None where what it needs, a trained
model, is missing): its runs are reused when their settings match, as for the experiments.

    bells_control    colour preservation, masks, the histogram loss, blended styles
    bells_video      video with temporal consistency
    bells_networks   feed-forward style and texture networks
    bells_onepass    any painting in one pass: WCT and AdaIN
"""
from __future__ import annotations

from pathlib import Path

from stylekit.report.bells_control import blend, colour, histogram, masks
from stylekit.report.bells_networks import feedforward
from stylekit.report.bells_onepass import onepass_bell
from stylekit.report.bells_video import video_bell
from stylekit.report.runs import Bell

BELLS = (colour, masks, histogram, blend, video_bell, feedforward, onepass_bell)


def run_all(cnn, device, quick: bool, out_root: Path, progress: bool = True) -> list[Bell]:
    return [b for b in (fn(cnn, device, quick, out_root, progress) for fn in BELLS) if b is not None]
