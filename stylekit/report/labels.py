"""How the report writes things down: labelled sheet cells, numbers and loss weights, and a
run's settings in one line (read from its sidecar). Every figure and caption goes through here."""
from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import matplotlib
from PIL import Image, ImageDraw, ImageFont

# Pillow's bundled font has no accented letters ("The Night Café" showed a box); matplotlib,
# already a dependency, ships DejaVu Sans, which covers Latin-1 and more.
LABEL_FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


@lru_cache(maxsize=None)
def font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(LABEL_FONT), size)


def labelled(img: Image.Image, text: str, cell: int) -> Image.Image:
    """`img` fitted into cell x (cell - strip), with `text` (one or two lines) under it."""
    font_size = max(9, cell // 17)
    lines = text.split("\n") if text else []
    strip = (font_size + 4) * len(lines) + (6 if lines else 0)
    fitted = img.copy()
    fitted.thumbnail((cell, cell - strip), Image.Resampling.LANCZOS)
    out = Image.new("RGB", (cell, fitted.height + strip), "white")
    out.paste(fitted, ((cell - fitted.width) // 2, 0))
    draw = ImageDraw.Draw(out)
    face = font(font_size)
    y = fitted.height + 4
    for line in lines:
        w = draw.textlength(line, font=face)
        draw.text(((cell - w) / 2, y), line, fill=(20, 20, 20), font=face)
        y += font_size + 4
    return out


def _power_of_ten(x: float) -> str:
    m, e = f"{x:.2e}".split("e")
    m = m.rstrip("0").rstrip(".")
    return f"{m}e{int(e)}"


def fmt_num(x) -> str:
    """3 significant figures, scientific notation only when it reads better."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    x = float(x)
    if x == 0:
        return "0"
    if 1000 <= abs(x) < 1e5:
        return f"{x:,.0f}"
    if 1e-3 <= abs(x) < 1000:
        return f"{x:.3g}"
    return _power_of_ten(x)


def fmt_range(values, digits: int = 2) -> str:
    """'0.51–0.54', or one number where the range rounds to one."""
    low, high = f"{min(values):.{digits}f}", f"{max(values):.{digits}f}"
    return low if low == high else f"{low}–{high}"


def fmt_weight(x) -> str:
    """A loss weight: 1, 0.5, 1e4, 1e6 (powers of ten the way papers write them)."""
    if x is None:
        return "–"
    x = float(x)
    if x == 0 or 1e-3 <= abs(x) < 1000:
        return f"{x:g}"
    return _power_of_ten(x)


def layer_span(layers: list[str]) -> str:
    if not layers:
        return "none"
    if len(layers) <= 2:
        return ", ".join(layers)
    return f"{layers[0]} … {layers[-1]} ({len(layers)} layers)"


def settings_text(meta: dict) -> str:
    """The settings of one run in a line, read from its sidecar."""
    s = meta.get("settings", {})
    w, h = meta.get("output_size", [None, None])
    plan = meta.get("plan") or []
    parts = [f"{w}×{h} px"]
    if len(plan) > 1:
        parts.append("coarse to fine " + " → ".join(f"{side}px×{n}" for side, n in plan))
    parts.append(f"{meta.get('evals', '?')} {s.get('optimizer', '').upper()} evaluations")
    parts.append(f"init {s.get('init')}" + (f" (seed {s.get('seed')})" if s.get("init") == "noise" or not s.get("content") else ""))
    if s.get("content_layers"):
        parts.append(f"content {', '.join(s['content_layers'])} × {fmt_weight(s.get('content_weight'))}")
    if s.get("style_layers"):
        parts.append(f"style {layer_span(s['style_layers'])} × {fmt_weight(s.get('style_weight'))}")
    if s.get("tv_weight"):
        parts.append(f"TV × {fmt_weight(s['tv_weight'])}")
    parts.append(s.get("precision", ""))
    parts.append(f"{meta.get('wall_seconds', float('nan')):.1f} s")
    if meta.get("status") not in ("done", "converged"):
        parts.append(f"status: {meta.get('status')}")
    return "; ".join(p for p in parts if p)
