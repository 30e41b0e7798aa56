"""`fast` stylises photos with a trained style network and `texture` makes a texture with a
texture network (`nets.johnson`; `cli.train_fast` trains them). run.py's --fast and
--fast-texture are these commands.

`fast` runs the network's ONNX copy through ONNX Runtime where it can (`nets.portable`: on the
CPU, in fp32), and then never imports torch, whose import alone takes longer than the image;
otherwise (a GPU, --precision bf16, no copy beside the model) the .pt file runs with torch.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PIL import Image

from stylekit.base.errors import InputError
from stylekit.base.files import sidecar_path, write_image
from stylekit.base.images import fit_size, image_size, open_image, resize_longest
from stylekit.base.limits import MEASURED_NETWORK_WIDTH, check_memory, check_side
from stylekit.base.paths import RESULTS
from stylekit.base.plan import check_plan
from stylekit.cli import batch, options
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
    outs, many = batch.outputs(args.content, args.out, FAST_RESULTS / model,
                               lambda photo: FAST_RESULTS / f"{photo.stem}_{model}.png")
    files = [photo for photo, _ in outs]
    # The whole batch's files, before any photo: none overwrites a photo, the model, its settings
    # or its ONNX copy, and no two collide.
    model_files = [args.model, sidecar_path(args.model), portable.portable_path(args.model)]
    check_plan([f for _, out in outs for f in (out, sidecar_path(out))], [*files, *model_files])
    stylize, run = _stylizer(args)
    wider = max(1.0, run["training"].get("width", MEASURED_NETWORK_WIDTH) / MEASURED_NETWORK_WIDTH) ** 2

    def one(path: Path, out: Path) -> None:
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
    return batch.run_each(outs, many, one)


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
