"""`adain`: stylise photos (one, several or a folder) with any painting in one pass, through trained
decoders (`nets.adain`); run.py's --adain. `cli.train_adain` has the commands that train them.

Every method runs its ONNX copies through ONNX Runtime where it can (`nets.adain.portable`:
on the CPU, in fp32, without a mask or colour preservation; WCT's bundle, WCT lite's, AdaIN's
decoder copy on WCT's encoder) and then never import torch, whose import alone takes longer than the
picture; otherwise the decoders' .pt files run with torch.
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from stylekit.base.errors import InputError
from stylekit.base.files import sidecar_path, write_image
from stylekit.base.heap import KEEP_UP_TO_PIXELS, keep_freed_buffers
from stylekit.base.images import check_min_side, fit_size, image_size, open_image, resize_longest
from stylekit.base.limits import check_memory, scaled_style_side
from stylekit.base.paths import RESULTS, ROOT
from stylekit.base.plan import check_plan
from stylekit.cli import batch, options
from stylekit.cli.common import number, side
from stylekit.nets.adain import portable
from stylekit.nets.adain.shipped import (DEFAULT_DECODER, HISTOGRAM_LEVEL, MASK_AND_BLEND, STRIDE, check_style_size,
                                         default_decoders, wct_decoder_path)
from stylekit.settings import DEFAULT_ONEPASS, MAX_MARGIN, ONEPASS_METHODS, OnePassSettings

ADAIN_RESULTS = RESULTS / "adain"


def _rel(path: Path) -> Path:
    return path.relative_to(ROOT)


def register(commands) -> None:
    p = commands.add_parser("adain", help="any painting in one pass (WCT or AdaIN) with trained decoders",
                            description="Arbitrary style in one pass with trained decoders: the whitening and "
                                        "colouring transform at four levels on a narrow encoder distilled from "
                                        "VGG-19 (wct-lite), or on VGG-19 itself, a little closer and several "
                                        "times slower (wct), or AdaIN at relu4_1 (adain).")
    presets = {m: OnePassSettings.preset(m) for m in ONEPASS_METHODS}
    p.add_argument("--method", choices=ONEPASS_METHODS, help=f"default {DEFAULT_ONEPASS}")
    p.add_argument("--decoder", nargs="+", type=Path,
                   help=f"adain: one decoder (default {_rel(DEFAULT_DECODER)}); wct, wct-lite: one per level "
                        f"(default {_rel(wct_decoder_path(1)).parent}/wct_relu<1-4>_1.pt, "
                        f"wct_lite_relu<1-4>_1.pt, with --method wct-lite); the decoders' files name the encoder they need")
    p.add_argument("--content", nargs="+", type=Path, help="photo(s) or a folder of photos")
    options.add_styles(p, style_scale_default=", ".join(f"{presets[m].style_scale:g} with {m}" for m in presets))
    p.add_argument("--alpha", type=number, help="content-style trade-off, 0 (photo) to 1 (full style); default "
                                               + ", ".join(f"{presets[m].alpha:g} with {m}" for m in presets))
    p.add_argument("--max-move", type=number,
                   help="wct, wct-lite: a photo whose relu4_1 features the painting would move by more than this "
                        "(relative to their norm, at alpha 1) gets alpha scaled down to match, keeping its "
                        "shapes; inf: never; default " + ", ".join(f"{presets[m].max_move:g} with {m}"
                                                                  for m in presets if presets[m].max_move))
    p.add_argument("--ridge", type=number,
                   help="wct, wct-lite: whiten the photo's features as if each eigenvalue of their covariance were "
                        "larger by this fraction of the largest, so its faint directions get less of the "
                        "painting; 0 (exactly the painting's covariance) to 100; default " +
                        ", ".join(f"{presets[m].ridge:g} with {m}" for m in presets if m != "adain"))
    p.add_argument("--sharpen", type=number,
                   help="wct, wct-lite: sharpen the picture the finest of two or more levels encodes by an unsharp "
                        "mask of this amount, giving back detail the coarser decoders blurred; 0 (never) to 10; "
                        "default " +
                        ", ".join(f"{presets[m].sharpen:g} with {m}" for m in presets if m != "adain"))
    p.add_argument("--histograms", type=number,
                   help="wct, wct-lite: how much of the painting's distribution along each of its principal "
                        "directions relu3_1's features take after whitening and colouring, 0 (its covariance "
                        "alone) to 1 (histograms matched); with --mask, or decoders without relu3_1, none; default " +
                        ", ".join(f"{presets[m].histograms:g} with {m}" for m in presets if m != "adain"))
    p.add_argument("--margin", type=int,
                   help="px of the photo mirrored on every side for the pass and cut off after, so the frame a "
                        f"decoder draws at the picture's edges falls outside; 0 to {MAX_MARGIN}; default " +
                        ", ".join(f"{presets[m].margin} with {m}" for m in presets))
    p.add_argument("--mask", type=Path, help="regions, one style each (grey levels in ascending order)")
    p.add_argument("--preserve-color", choices=("luminance", "histogram"), help="keep the photo's colours")
    p.add_argument("--size", type=side, help=f"longest side of the output in px (default {OnePassSettings().size})")
    p.add_argument("--out", type=Path, help="output PNG, or a folder with several photos (default under results/adain/)")
    options.add_device(p)
    options.add_max_pixels(p)
    p.set_defaults(run=stylize)


# ---------------------------------------------------------------------------------------
# adain
# ---------------------------------------------------------------------------------------

def _style_side(run: OnePassSettings) -> int:
    return scaled_style_side(run.size, run.style_scale, least=STRIDE)


def _check_memory(run: OnePassSettings, content: Path, styles: list[Path], args, device) -> int:
    """From the images' headers, before anything is decoded: the machine holds this run. Returns
    the output's pixels."""
    method = run.method
    width, height = fit_size(*image_size(content, args.max_pixels), run.size)
    style_side = _style_side(run)
    originals = [image_size(p, args.max_pixels) for p in styles]
    worked = [fit_size(w, h, style_side) for w, h in originals]
    check_memory(method, (width + 2 * run.margin) * (height + 2 * run.margin), sum(w * h for w, h in worked),
                 extra=16 * sum(w * h for w, h in originals), device=device,
                 what=f"{'AdaIN' if method == 'adain' else 'WCT'} at {width}x{height} px (style {worked[0][0]}x{worked[0][1]} px)",
                 hint="use a smaller --size or --style-scale")
    return width * height


def _onnx_stylizer(net: portable.PortableWCT | portable.PortableAdaIN, args, run: OnePassSettings,
                   style_paths: list[Path]):
    """(stylize, what the sidecar records) through the ONNX copies: stylize(photo) gives the
    picture as a PIL image, its seconds and the alpha it was made at (`shipped.guarded_alpha`).
    The paintings are read once; their statistics are computed for the first photo and kept for
    the others (`portable._Pipeline`)."""
    styles = []
    for path in style_paths:   # as infer.load_style: the file's own pixels, resized once
        img = open_image(path, args.max_pixels)
        width, height = fit_size(img.width, img.height, _style_side(run))
        styles.append(portable.resize(portable.to_array(img), (height, width)))

    def stylize(content_path: Path):
        content = portable.to_array(resize_longest(open_image(content_path, args.max_pixels), run.size))
        start, used = time.perf_counter(), []
        img = portable.to_image(net.stylize(content, styles, run, used.append))
        return img, time.perf_counter() - start, used[0]
    return stylize, {"runtime": "onnxruntime", "precision": "fp32", "device": "cpu",
                     "style_size": list(styles[0].shape[-2:]), "training": net.training}


def _torch_stylizer(args, device, run: OnePassSettings, decoder_paths: list[Path],
                    style_paths: list[Path]):
    """(stylize, what the sidecar records) through the decoders' .pt files with torch, loaded once."""
    from stylekit.base.tensors import load_mask, tensor_to_pil   # torch, imported only on this path
    from stylekit.nets.adain import infer
    from utils import load_image
    decoders, trained = infer.load_decoders(run.method, decoder_paths, device)
    styles = [infer.load_style(p, _style_side(run), device, args.max_pixels) for p in style_paths]
    encoder = infer.encoder_for(trained, device)   # the one the decoders were trained with

    def stylize(content_path: Path):
        content = load_image(content_path, run.size, device, args.max_pixels)
        masks = None
        if args.mask is not None:
            masks = [m.to(device) for m in load_mask(args.mask, tuple(content.shape[-2:]), len(styles),
                                                     args.max_pixels, image_size(content_path, args.max_pixels))]
        start, used = time.perf_counter(), []
        img = infer.stylize(encoder, decoders, content, styles, run, masks=masks, on_alpha=used.append)
        return tensor_to_pil(img), time.perf_counter() - start, used[0]
    return stylize, {"runtime": "torch", "precision": run.precision, "device": str(device),
                     "style_size": list(styles[0].shape[-2:]), "training": trained}


def _may_use_onnx(args) -> bool:
    """Whether this run may take the ONNX copies: on the CPU in fp32 (`options.may_use_onnx`),
    without a mask or colour preservation (torch's path alone has them)."""
    return args.mask is None and args.preserve_color is None and options.may_use_onnx(args)


def stylize(args) -> int:
    """Stylise each --content photo with --style through the --method's decoders; PNG + JSON
    sidecar each. The decoders and the paintings are loaded once for all the photos."""
    run = OnePassSettings.preset(args.method, size=args.size, style_scale=args.style_scale, alpha=args.alpha,
                                 max_move=args.max_move, ridge=args.ridge, sharpen=args.sharpen,
                                 histograms=args.histograms, margin=args.margin,
                                 style_blend=args.style_blend, preserve_color=args.preserve_color,
                                 precision=args.precision)
    method = run.method
    decoder_paths = [Path(p) for p in args.decoder or default_decoders(method)]
    if not args.content:
        raise InputError("AdaIN needs --content (a photo, several, or a folder)")
    style_paths = [Path(p) for p in args.style or []]
    if not style_paths:
        raise InputError("AdaIN needs at least one --style image")
    run.blend(len(style_paths))   # the weights' count, before anything is read
    if args.mask is not None and run.style_blend is not None:
        raise InputError(MASK_AND_BLEND)
    for path in style_paths:   # from their headers: each painting reaches relu4_1, as it is and as it is worked
        own = image_size(path, args.max_pixels)
        check_min_side(own, path, STRIDE, "relu4_1")
        check_style_size(*fit_size(*own, _style_side(run)), str(path))
    styles_name = "+".join(p.stem for p in style_paths)
    outs, many = batch.outputs(args.content, args.out, ADAIN_RESULTS / styles_name,
                               lambda photo: ADAIN_RESULTS / f"{photo.stem}_{styles_name}.png")
    # None of the run's files overwrites an input, nor a decoder's settings or ONNX copy.
    decoder_files = [f for p in decoder_paths for f in (p, sidecar_path(p), portable.adain_copy_path(p))]
    check_plan([f for _, out in outs for f in (out, sidecar_path(out))],
               [*(photo for photo, _ in outs), *style_paths, args.mask, *decoder_files])
    onnx = _may_use_onnx(args)
    device, precision = ("cpu", "fp32") if onnx else options.device_and_precision(args)

    pixels = []

    def check(content_path: Path) -> None:
        # as it is (a tiny file brought up to --size carries nothing) and as it is worked, as the paintings are
        check_min_side(image_size(content_path, args.max_pixels), content_path, STRIDE, "relu4_1", run.size)
        pixels.append(_check_memory(run, content_path, style_paths, args, device))   # before the paintings are read
    ready = batch.checked(outs, many, check)
    if not ready:
        return 2
    # Freed buffers are kept only if every picture is small enough: once kept, they stay kept.
    if max(pixels) <= KEEP_UP_TO_PIXELS:
        keep_freed_buffers()
    net = portable.load_for(method, decoder_paths) if onnx else None
    if onnx and net is None:   # no copy of these decoders (or no onnxruntime): torch on the same CPU
        device, precision = options.device_and_precision(args)
    run = replace(run, precision=precision)
    if net is not None:
        stylize_one, record = _onnx_stylizer(net, args, run, style_paths)
    else:
        stylize_one, record = _torch_stylizer(args, device, run, decoder_paths, style_paths)
    # AdaIN's decoder lists its thousands of training styles: the sidecar keeps their count.
    summary = [{**{k: v for k, v in t.items() if k != "style_files"},
                **({"style_count": len(t["style_files"])} if "style_files" in t else {})} for t in record.pop("training")]

    # what the pass applies: masks, and decoders without relu3_1, take whitening and colouring alone;
    # a single level is never sharpened (there is no finer level to sharpen for)
    matched = args.mask is None and any(t.get("level") == HISTOGRAM_LEVEL for t in summary)
    histograms = run.histograms if matched else 0.0
    sharpen = run.sharpen if len(summary) > 1 else 0.0

    def one(content_path: Path, out: Path) -> None:
        img, seconds, alpha = stylize_one(content_path)
        write_image(img, out, {"mode": "adain", "method": method, "decoders": [str(p) for p in decoder_paths],
                               "content": str(content_path), "styles": [str(p) for p in style_paths],
                               "style_blend": run.style_blend, "alpha": run.alpha, "max_move": run.max_move,
                               "ridge": run.ridge, "sharpen": sharpen, "histograms": histograms,
                               "margin": run.margin, "alpha_used": alpha,
                               "style_scale": run.style_scale,
                               "preserve_color": run.preserve_color, "mask": str(args.mask) if args.mask else None,
                               "size": [img.height, img.width], "seconds": seconds, **record, "training": summary})
        print(f"{out}  ({img.width}x{img.height}, {method}, {seconds:.2f} s)")
    return batch.run_each(ready, many, one, refused=len(outs) - len(ready))
