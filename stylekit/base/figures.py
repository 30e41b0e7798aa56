"""Figures: loss curves and contact sheets."""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from .files import atomic_write


def plot_losses(history: list[dict], path: str | os.PathLike, title: str = "", xlabel: str = "loss evaluation",
                smooth: int = 1) -> Path:
    """Weighted loss terms per evaluation on a log scale; scale changes marked. Atomic PNG.

    smooth > 1 (training, where each step sees a different random batch): the raw terms are
    drawn faint and their running geometric mean over `smooth` steps on top, so a trend
    shows through the batch-to-batch spread.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    keys = [k for k in ("content", "style", "identity", "tv", "hist", "temporal", "features", "pixels")
            if any(k in r for r in history)]
    keys += [k for k in dict.fromkeys(k for r in history for k in r) if k.startswith("relu")]   # a layer's term
    steps = np.arange(1, len(history) + 1)
    smoothed = 1 < smooth < len(history)
    for key in keys:
        values = np.array([max(r.get(key, float("nan")), 1e-12) for r in history])
        if not smoothed:
            ax.plot(steps, values, label=key, linewidth=1.4)
            continue
        line, = ax.plot(steps, values, linewidth=0.6, alpha=0.25)
        mean_log = np.convolve(np.log(values), np.ones(smooth) / smooth, mode="valid")
        ax.plot(steps[smooth // 2: smooth // 2 + len(mean_log)], np.exp(mean_log), color=line.get_color(),
                linewidth=1.6, label=f"{key} (mean of {smooth})")
    for i in range(1, len(history)):
        if history[i].get("size") != history[i - 1].get("size"):
            ax.axvline(i + 0.5, color="grey", linestyle=":", linewidth=1)
            ax.text(i + 1, ax.get_ylim()[1], f" {history[i]['size']}px", va="top", fontsize=7, color="grey")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("weighted loss")
    if title:   # a file name's undecodable bytes (surrogates) would stop the font's layout
        ax.set_title(title.encode("utf-8", "surrogateescape").decode("utf-8", "replace"), fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    buf = io.BytesIO()
    with warnings.catch_warnings():   # a title in a script the font lacks: boxes, not lines on stderr
        warnings.filterwarnings("ignore", message="Glyph .* missing from")
        fig.tight_layout()
        fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write(Path(path), buf.getvalue())
    return Path(path)


def make_sheet(rows: list[list[Image.Image | None]], cell: int = 256, gap: int = 6) -> Image.Image:
    """Grid of images, each fitted into a `cell`-sized square; None leaves a white cell."""
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    sheet = Image.new("RGB", (n_cols * cell + (n_cols + 1) * gap, n_rows * cell + (n_rows + 1) * gap), "white")
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            if img is None:
                continue
            fitted = img.copy()
            fitted.thumbnail((cell, cell), Image.Resampling.LANCZOS)
            x0 = gap + c * (cell + gap) + (cell - fitted.width) // 2
            y0 = gap + r * (cell + gap) + (cell - fitted.height) // 2
            sheet.paste(fitted, (x0, y0))
    return sheet


