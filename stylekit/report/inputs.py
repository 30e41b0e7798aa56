"""The bundled images the report shows (credits in images/SOURCES.md), and how its captions
name them. Nothing here loads anything: `run.py` can take its --grid lists from here too."""
from __future__ import annotations

from pathlib import Path

from stylekit.base.paths import CONTENT_DIR, STYLE_DIR

CHENONCEAU = CONTENT_DIR / "chenonceau.jpg"
CHELSEA = CONTENT_DIR / "chelsea.jpg"
CHINA = CONTENT_DIR / "china.jpg"
STARRY = STYLE_DIR / "starry_night.jpg"
WAVE = STYLE_DIR / "great_wave.jpg"
KANDINSKY = STYLE_DIR / "composition_viii.jpg"
NIGHT_CAFE = STYLE_DIR / "night_cafe.jpg"

# The 2 x 2 grid of Part 3 (`run.py --grid` shows the same four pairs).
GRID_CONTENTS = [CHENONCEAU, CHELSEA]
GRID_STYLES = [STARRY, WAVE]

TITLES = {
    "chenonceau": "Château de Chenonceau", "chelsea": "Chelsea the cat", "astronaut": "Eileen Collins",
    "coffee": "Coffee", "china": "Summer Palace", "machu_picchu": "Machu Picchu",
    "starry_night": "The Starry Night (Van Gogh)", "great_wave": "The Great Wave off Kanagawa (Hokusai)",
    "composition_viii": "Composition VIII (Kandinsky)", "night_cafe": "The Night Café (Van Gogh)",
    "cafe_terrace": "Café Terrace at Night (Van Gogh)", "gravel": "Gravel",
}

# Attribution the licence asks for wherever the picture or a derivative is shown.
CREDITS = {"china.jpg": "photo by Daniel Buechele, CC BY 2.0"}


def title(path: Path) -> str:
    return TITLES.get(path.stem, path.stem.replace("_", " "))


def credit(*paths: Path | None) -> str:
    notes = [CREDITS[p.name] for p in paths if p is not None and p.name in CREDITS]
    return (" (" + "; ".join(notes) + ")") if notes else ""
