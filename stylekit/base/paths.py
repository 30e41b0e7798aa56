"""Where the project's own folders are."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "images"
CONTENT_DIR = IMAGES / "content"
STYLE_DIR = IMAGES / "style"
RESULTS = ROOT / "results"
MODELS = ROOT / "models"
DATA = ROOT / "data"
