"""`fast` stylises photos with a trained style network and `texture` makes a texture with a
texture network (`nets.johnson`; `cli.train_fast` trains them). run.py's --fast and
--fast-texture are these commands.

`fast` runs the network's ONNX copy through ONNX Runtime where it can (`nets.portable`: on the
CPU, in fp32), and then never imports torch, whose import alone takes longer than the image;
otherwise (a GPU, --precision bf16, no copy beside the model) the .pt file runs with torch.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from stylekit.base.errors import InputError
from stylekit.base.files import sidecar_path, write_image
from stylekit.base.images import fit_size, image_files, image_size, open_image, resize_longest
from stylekit.base.limits import MEASURED_NETWORK_WIDTH, check_memory, check_side
from stylekit.base.paths import RESULTS
from stylekit.base.plan import check_plan
from stylekit.cli import options
from stylekit.cli.common import side, seed
from stylekit.nets import portable

FAST_RESULTS = RESULTS / "fast"
TEXTURE_SIZE = 512


def register(commands) -> None:
    p = commands.add_parser("fast", help="stylise photos in one pass with a trained style network",
                            description="Stylise --content (images or a folder) in one pass with a trained network.")
    p.add_argument("model", type=Path, metavar="MODEL", help="a style network (.pt), e.g. models/starry_night.pt")
    p.add_argument("--content", nargs="+", type=Path, help="photo(s) or a folder of photos")
    p.add_argument("--size", type=side, help="longest side of the output in px (default: the photo's)")
    p.add_argument("--out", type=Path, help="output PNG, or a folder with several photos (default under results/fast/)")
    options.add_device(p)
    options.add_max_pixels(p)
    p.set_defaults(run=fast)

    p = commands.add_parser("texture", help="a new texture from a trained texture network, one per seed",
                            description="A --size px texture from a texture network, one per --seed.")
    p.add_argument("model", type=Path, metavar="MODEL", help="a texture network (.pt)")
    p.add_argument("--size", type=side, help=f"side of the square texture in px (default {TEXTURE_SIZE})")
    p.add_argument("--seed", type=seed, default=0, help="seed of the input noise, 0 to 2**64-1 (default 0)")
    p.add_argument("--out", type=Path, help="output PNG (default under results/fast/)")
    options.add_device(p)
    p.set_defaults(run=texture)


def _inputs(paths: list[Path], out: Path) -> tuple[list[Path], bool]:
    """The content files, and whether the user gave a folder or several files. A folder's
    images under `out`, a folder inside it (the results of an earlier run), are not inputs; `out`
    the folder itself is refused later, as every output that would overwrite an input."""
    files, results = [], out.resolve()
    for p in paths:
        if not p.is_dir():
            files.append(p)
            continue
        below = p.resolve() in results.parents   # `out` is a folder inside this one
        files += [f for f in image_files(p) if not (below and results in f.resolve().parents)]
    return files, len(paths) > 1 or any(p.is_dir() for p in paths)


def _portable(args) -> portable.PortableNet | None:
    """The model's ONNX copy, where this run may use it (`options.may_use_onnx`)."""
    return portable.load(args.model) if options.may_use_onnx(args) else None


def _stylizer(args):
    """(stylize, what the sidecar records of the run): `stylize` takes the photo as an RGB PIL
    image and gives the stylised one."""
    net = _portable(args)
    if net is not None:
        def stylize(img: Image.Image) -> Image.Image:
            return Image.fromarray(net.stylize(np.asarray(img)), "RGB")
        return stylize, {"runtime": "onnxruntime", "precision": "fp32", "device": "cpu", "training": net.settings}
    from stylekit.base.tensors import pil_to_tensor, tensor_to_pil   # torch, imported only on this path
    from stylekit.nets import johnson
    device, precision = options.device_and_precision(args)
    torch_net, settings = johnson.load_model(args.model, device, kind="style")

    def stylize(img: Image.Image) -> Image.Image:
        return tensor_to_pil(johnson.stylize(torch_net, pil_to_tensor(img, device), precision))
    return stylize, {"runtime": "torch", "precision": precision, "device": str(device),
                     "training": {**settings, **torch_net.arch}}


def fast(args) -> int:
    if not args.content:
        raise InputError("--fast needs --content (an image, several, or a folder)")
    model = Path(args.model).stem
    folder_out = args.out or FAST_RESULTS / model
    files, many = _inputs(args.content, folder_out)
    if many and args.out is not None and args.out.suffix:
        raise InputError("with a folder or several images, --out is a folder")
    if not many and args.out is not None and args.out.suffix.lower() != ".png":
        raise InputError(f"--out must end in .png, not {args.out.name!r}")
    if not files:
        raise InputError(f"no photos in {', '.join(map(str, args.content))} but the results in {folder_out}")
    if many:
        outs = [(path, folder_out / f"{path.stem}.png") for path in files]
    else:
        outs = [(files[0], args.out or FAST_RESULTS / f"{files[0].stem}_{model}.png")]
    first: dict[Path, Path] = {}
    for photo, out in outs:   # a.png and a.webp: the photos named, not the one output twice
        other = first.get(out.resolve())
        if other is not None and other.resolve() == photo.resolve():
            raise InputError(f"{photo} is given twice")
        if other is not None:
            raise InputError(f"{other} and {photo} would both be written to {out}: rename one, "
                             f"or stylise them in two runs")
        first[out.resolve()] = photo
    # The whole batch's files, before any photo: none overwrites a photo, the model, its settings
    # or its ONNX copy, and no two collide.
    model_files = [args.model, sidecar_path(args.model), portable.portable_path(args.model)]
    check_plan([f for _, out in outs for f in (out, sidecar_path(out))], [*files, *model_files])
    stylize, run = _stylizer(args)
    wider = max(1.0, run["training"].get("width", MEASURED_NETWORK_WIDTH) / MEASURED_NETWORK_WIDTH) ** 2
    failed = 0
    for path, out in outs:
        try:
            width, height = fit_size(*image_size(path, args.max_pixels), args.size)
            shown = f"{path} at --size {args.size}" if args.size else str(path)
            check_side(width, height, "fast", shown)
            check_memory("fast", int(width * height * wider), what=f"the style network at {width}x{height} px ({path})",
                         hint="use a smaller --size", device=run["device"])
            photo = resize_longest(open_image(path, args.max_pixels), args.size)
            start = time.perf_counter()
            img = stylize(photo)
            seconds = time.perf_counter() - start
            write_image(img, out, {"mode": "feedforward", "model": str(args.model), "content": str(path),
                                   "size": [img.height, img.width], "seconds": seconds, **run})
            print(f"{out}  ({img.width}x{img.height}, {seconds:.2f} s)")
        except InputError as exc:
            if not many:
                raise
            # the batch goes on: each output written is whole; the photo is named once
            print(f"error: {exc}" if str(path) in str(exc) else f"error: {path}: {exc}", file=sys.stderr)
            failed += 1
    return 2 if failed else 0


def texture(args) -> int:
    from stylekit.nets import johnson   # torch: the texture networks have no ONNX copy
    from utils import save_image
    device, precision = options.device_and_precision(args)
    size = args.size or TEXTURE_SIZE
    check_side(size, size, "texture", f"a texture of --size {size}")
    check_memory("texture", size * size, what=f"a {size}x{size} px texture", hint="use a smaller --size",
                 device=device)
    out = args.out or FAST_RESULTS / f"{Path(args.model).stem}_seed{args.seed}.png"
    if out.suffix.lower() != ".png":
        raise InputError(f"--out must end in .png, not {out.name!r}")
    check_plan([out, sidecar_path(out)], [args.model, sidecar_path(args.model)])   # nor its settings
    net, settings = johnson.load_model(args.model, device, kind="texture")
    start = time.perf_counter()
    img = johnson.texture(net, size, size, args.seed, precision)
    seconds = time.perf_counter() - start
    save_image(img, out, {"mode": "texture-network", "model": str(args.model), "seed": args.seed,
                          "size": [size, size], "precision": precision, "seconds": seconds,
                          "device": str(device), "training": settings})
    print(f"{out}  ({size}x{size}, seed {args.seed}, {seconds:.2f} s)")
    return 0
