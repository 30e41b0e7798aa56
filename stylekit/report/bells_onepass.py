"""Bell: any painting in one pass. The whitening and colouring transform (WCT lite, the
default, and WCT on VGG-19) and AdaIN, each over the same contents x paintings none of their
decoders saw, with each method's own defaults (`settings.OnePassSettings`), beside the
optimization of one pair. Outputs are cached like the networks'
(`bells_networks.cached_output`): a rebuild with the same decoder files neither recomputes nor
re-times them."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from stylekit.base.device import resolve_precision
from stylekit.base.images import open_image
from stylekit.base.machine import short_line
from stylekit.base.timing import timed
from stylekit.optim.metrics import Distances
from stylekit.report.bells_networks import cached_output, fast_sizes, measured_on, model_stamp, opt_job
from stylekit.report.inputs import CHELSEA, CHENONCEAU, CHINA, KANDINSKY, NIGHT_CAFE, STARRY, WAVE, title
from stylekit.report.labels import fmt_range, labelled
from stylekit.report.runs import Bell, Figure, ensure, in_rows, save_sheet, scale_for
from stylekit.settings import DEFAULT_ONEPASS, ONEPASS_METHODS, OnePassSettings
from utils import load_image

CONTENTS = (CHENONCEAU, CHELSEA, CHINA)
STYLES = (STARRY, WAVE, KANDINSKY, NIGHT_CAFE)
ALPHAS = (0.0, 0.3, 0.5, 0.7, 1.0)   # the default method's alpha among them, labelled
NAMES = {"wct": "WCT", "wct-lite": "WCT lite", "adain": "AdaIN"}
# What each method's pictures look like, written after looking at them: update with the decoders.
LOOKS = {
    "wct": "the painting's palette and strokes over the photo's shapes (Starry Night's swirls in the sky, the "
           "Great Wave's blues and line work in the cat's fur); at 100% flat skies show faint rectangular patches",
    "wct-lite": "the painting's palette and strokes over the photo's shapes (Starry Night's dabs in the sky, the "
                "cat's eyes and whiskers drawn), a little softer than WCT; no lattice at 100%",
    "adain": "the photo's shapes in the painting's colours, washed out and softer, with a fine lattice in "
             "textured areas and no strokes of the painting's size",
}


def onepass_bell(cnn, device, quick, out_root, progress) -> Bell | None:
    from stylekit.nets.adain import infer, shipped
    methods = [m for m in ONEPASS_METHODS if all(p.exists() for p in infer.default_decoders(m))]
    if not methods:
        return None
    s = scale_for(quick)
    size, steps = fast_sizes(quick)
    precision = resolve_precision("auto", device)
    dist = Distances(cnn)
    # The metric's reference: the painting as it is, resized by `Distances` (as bench and the
    # feed-forward bell do; a Lanczos-resized copy moves the distance by itself).
    paintings = {p: load_image(p, device=device) for p in STYLES}
    contents = {p: load_image(p, size, device) for p in CONTENTS}
    repeats = 3 if quick else 5

    def runner(method: str):
        paths = infer.default_decoders(method)
        decoders, trained = infer.load_decoders(method, paths, device)
        run = OnePassSettings.preset(method)
        lite = method == "wct-lite"
        encoder = infer.encoder_for(trained, device, cnn)   # the decoders' own: VGG-19's or the narrow one
        # pictures from before the floor or the moments' grid are stale; timings from before the fused ReLUs too
        stamp = {"method": method, "decoders": [model_stamp(p) for p in paths], "relus": "fused",
                 **({"encoder": model_stamp(shipped.LITE_ENCODER)} if lite else {}),
                 **({"wct_floor": infer.WCT_FLOOR, "moments_grid": shipped.MAX_POSITIONS}
                    if shipped.TRANSFORM[method] == "wct" else {})}

        def one(name: str, content: Path, styles: list[Path], **options) -> tuple[Path, dict]:
            # ridge, sharpen, histograms and margin 0 are the pipeline as before it had them: such pictures
            # are not made again
            options = {"alpha": run.alpha, "max_move": run.max_move, **({"ridge": run.ridge} if run.ridge else {}),
                       **({"sharpen": run.sharpen} if run.sharpen else {}),
                       **({"histograms": run.histograms} if run.histograms else {}),
                       **({"margin": run.margin} if run.margin else {}), **options}
            c = contents[content]
            side = round(size * run.style_scale)

            def make():
                st = [infer.load_style(p, side, device) for p in styles]
                # options' names are the cached pictures' keys ("weights" from before the run carried its blend)
                made = replace(run, precision=precision, **{"style_blend" if k == "weights" else k: v
                                                             for k, v in options.items()})
                # a new painting each pass, as the first photo of a run gets it
                out, seconds = timed(lambda *a: infer.forget_styles(encoder) or infer.stylize(*a),
                                     encoder, decoders, c, st, made, repeats=repeats)
                return out, {"seconds": seconds, "style": dist.style(out, paintings[styles[0]]),
                             "content": dist.content(out, c), "machine": short_line()}

            path = out_root / "onepass" / method / f"{name}.png"
            settings = {**stamp, "content": content.name, "styles": [p.name for p in styles], "size": size,
                        "style_scale": run.style_scale, "precision": precision, "style_reference": "original",
                        **options}
            return path, cached_output(path, settings, make)

        return one, trained, run

    header = [None] + [labelled(open_image(st), title(st).split(" (")[0], s.cell) for st in STYLES]
    figures, grids, controls = [], {}, None
    for method in methods:
        one, trained, run = runner(method)
        rows, grid = [header], []
        for content in CONTENTS:
            row = [labelled(open_image(content), content.name, s.cell)]
            for st in STYLES:
                path, n = one(f"grid_{content.stem}_{st.stem}", content, [st])
                grid.append(n)
                row.append(labelled(open_image(path), f"{n['seconds']:.2f} s; style {n['style']:.2f}\n"
                                                      f"content {n['content']:.2f}", s.cell))
            rows.append(row)
        grids[method] = (grid, trained, run)
        key = f"bell_{method}_grid"
        figures.append(Figure(key, save_sheet(rows, out_root, key, s.cell),
                              f"{NAMES[method]} at its defaults (alpha {run.alpha:g}"
                              + (f", scaled down for a photo whose relu4_1 features the painting would move by more "
                                 f"than {run.max_move:g} of their norm" if run.max_move else "") +
                              (f", the photo's features whitened with a ridge of {run.ridge:g}" if run.ridge else "") +
                              (f", sharpened by {run.sharpen:g} before the finest level" if run.sharpen else "") +
                              (", relu3_1 given the painting's histograms along its principal directions"
                               if run.histograms == 1 else
                               f", relu3_1 given {run.histograms:g} of the painting's histograms" if run.histograms else "") +
                              (f", the photo mirrored {run.margin} px further for the pass" if run.margin else "") +
                              f", the painting encoded at "
                              f"{run.style_scale:g}× the output's size), contents × paintings its decoders never "
                              f"saw, at {size} px. Under each: the median time of {repeats} runs ({precision}"
                              + (f"; {grid[0]['machine']}" if grid[0].get("machine") else "") + ") and "
                              f"the neutral style and content distances (metrics.py; lower is closer).",
                              f"{NAMES[method]} grid"))
        if method == DEFAULT_ONEPASS:
            sweep = [labelled(open_image(one(f"alpha_{a:g}", CHENONCEAU, [STARRY], alpha=a)[0]),
                              f"alpha {a:g}" + (" (default)" if a == run.alpha else ""), s.cell) for a in ALPHAS]
            mix = [labelled(open_image(one(f"mix_{w:g}", CHENONCEAU, [STARRY, WAVE], weights=[w, 1 - w])[0]),
                            f"{w:g} Starry + {1 - w:g} Wave", s.cell) for w in (1.0, 0.75, 0.5, 0.25, 0.0)]
            controls = Figure(f"bell_{method}_controls",
                              save_sheet(in_rows(sweep + mix, len(ALPHAS)), out_root, f"bell_{method}_controls", s.cell),
                              f"{NAMES[method]}. Top: the content–style trade-off alpha (0: the decoders' rendering "
                              f"of the photo's own features). Bottom: The Starry Night and The Great Wave blended "
                              f"at alpha {run.alpha:g}.", f"{NAMES[method]} alpha sweep and blend")
    if controls is not None:
        figures.append(controls)
    opt = ensure([("optimization", opt_job(out_root, CHENONCEAU, STARRY, size, steps))], cnn, device, progress)[0]
    opt_img = load_image(opt.image)
    c = contents[CHENONCEAU]
    opt_n = {"style": dist.style(opt_img, paintings[STARRY]), "content": dist.content(opt_img, c)}
    text = _text(grids, opt_n, f"{opt.seconds:.0f} s, {opt.meta.get('settings', {}).get('precision', precision)}", size,
                 precision)
    numbers = {m: {"grid": g, "style": float(np.mean([n["style"] for n in g])),
                   "content": float(np.mean([n["content"] for n in g]))} for m, (g, _, _) in grids.items()}
    return Bell("Any painting in one pass: WCT and AdaIN", text, figures, "Li et al. 2017; Huang and Belongie 2017",
                {**numbers, "optimization": opt_n}, [opt])


def _training(method: str, trained: list[dict]) -> str:
    """How the shipped decoders were made, from the settings stored with them."""
    if method == "adain":
        t = trained[0]
        styles_seen = len(t.get("style_files", [])) or t.get("style_count")
        return (f"its decoder (half the paper's channels) was trained on this project's CPUs for {t.get('steps')} "
                f"steps of {t.get('batch')} pairs of {t.get('size')} px crops, photos against {styles_seen} "
                f"paintings and patterns from the offline packages")
    steps = ", ".join(f"relu{t.get('level')}_1 {t.get('steps')}" + (" (from a decoder trained before)" if t.get("init") else "")
                      for t in sorted(trained, key=lambda t: t["level"]))
    if method == "wct-lite":
        from stylekit.nets.adain.shipped import LITE_ENCODER
        from stylekit.nets.adain.student import load_student
        narrow, made = load_student(LITE_ENCODER)
        return (f"its encoder keeps {narrow.width:g} of VGG-19's channels after relu1_1 and was distilled from it "
                f"for {made.get('steps')} steps of {made.get('batch')} crops of {made.get('size')} px (its features, "
                f"through a 1x1 convolution per level, made to match VGG-19's); its decoders, at {_widths(trained)}, "
                f"learn to turn those features of photos back into the photos, for {steps} steps "
                f"of {trained[0].get('batch')}"
                + "".join(f"; relu{t['level']}_1's last sitting compared its pictures in VGG-19's features"
                          for t in trained if t.get("feature_loss") == "vgg19"))
    return (f"its decoders only learn to turn VGG-19 features of photos back into the photos (no painting in "
            f"their training), trained on this project's CPUs on 128 px crops for {steps} steps of "
            f"{trained[0].get('batch')}")


FRACTIONS = {1.0: "all", 0.5: "half", 0.25: "a quarter", 0.125: "an eighth"}


def _widths(trained: list[dict]) -> str:
    """The decoders' channels in words: "a quarter of the paper's channels (relu3_1's half, a
    quarter at full size)"."""
    def said(w: float) -> str:
        return FRACTIONS.get(w, f"{w:g}")
    common = max({t["width"] for t in trained}, key=[t["width"] for t in trained].count)
    others = [f"relu{t['level']}_1's {said(t['width'])}"
              + (f", {said(t['full_size_width'])} at full size" if "full_size_width" in t else "")
              for t in sorted(trained, key=lambda t: t["level"]) if t["width"] != common or "full_size_width" in t]
    return f"{said(common)} of the paper's channels" + (f" ({'; '.join(others)})" if others else "")


def _text(grids: dict, opt_n: dict, opt_time: str, size: int, precision: str) -> str:
    parts = ["python -m stylekit adain stylises a photo with any painting in one pass, with no training per "
             "painting (run.py --adain runs its --method adain). The whitening and colouring transform (Li et al. 2017) "
             "gives the photo's features the painting's full covariance at relu4_1, relu3_1, relu2_1 and "
             "relu1_1 in turn, decoding between levels, so the deep levels lay out large structures and the "
             "shallow ones fine texture and colour; the coloured features are clipped at 0 before each decoder, "
             "which only ever learned to invert ReLU outputs. The default (--method wct-lite) takes the features "
             "from WCT lite's narrow encoder, below; --method wct from VGG-19 itself, a little closer to photo "
             "and painting for a pass 2-3 times as long. AdaIN (Huang and Belongie 2017, --method adain) moves "
             "only each channel's mean and spread at relu4_1. --alpha, --style-blend, --mask and --preserve-color "
             "work with both. With WCT a photo whose relu4_1 features the painting would move by more than "
             f"{OnePassSettings.preset('wct').max_move:g} of their norm at full style (a smooth, weakly textured "
             "photo under a strongly textured painting) gets a proportionally smaller alpha (--max-move), so "
             "that it keeps its large shapes."]
    ridges = {m: OnePassSettings.preset(m).ridge for m in grids if m != "adain"}
    if any(ridges.values()):
        defaults = ", ".join(f"{r:g} with {NAMES[m]}" for m, r in ridges.items())
        parts.append("Whitening divides each direction of the photo's features by its spread, so directions where "
                     "the photo hardly varies (haze, a flat sky) would be raised to the painting's strongest "
                     f"variations; with --ridge R (default {defaults}) the photo's covariance is whitened as if "
                     "each of its eigenvalues were larger by R times the largest, so those directions get less of "
                     "the painting, and its strong directions keep it.")
    sharpen = {m: OnePassSettings.preset(m).sharpen for m in grids if m != "adain"}
    if any(sharpen.values()):
        defaults = ", ".join(f"{a:g} with {NAMES[m]}" for m, a in sharpen.items())
        parts.append("The shallow decoders rebuild a picture a little softly, so the picture the finest level encodes "
                     f"is first sharpened by an unsharp mask (--sharpen, default {defaults}), and that level gives it "
                     "the painting's colours again.")
    if any(OnePassSettings.preset(m).histograms for m in grids if m != "adain"):
        parts.append("Colouring gives the photo's features the painting's covariance, but a painting's features are "
                     "sparser and heavier-tailed than a coloured photo's. At relu3_1 they are also given the "
                     "painting's histogram along each of its principal directions, rank for rank (--histograms).")
    if "wct-lite" in grids:
        margin = OnePassSettings.preset("wct-lite").margin
        parts.append("WCT lite runs the transform on an encoder distilled from VGG-19 "
                     "with a tenth of its multiply-adds, and decoders of that encoder's features."
                     + (f" Its narrow decoders draw a light frame at the picture's edges, so it runs on the photo "
                        f"mirrored {margin} px further on every side and cuts that off (--margin)." if margin else ""))
    for method, (grid, trained, run) in grids.items():
        seconds = [n["seconds"] for n in grid]
        parts.append(f"{NAMES[method]}: {_training(method, trained)}. Over the {len(grid)} pairs at {size} px a "
                     f"transfer takes {fmt_range(seconds)} s ({precision}, warm{measured_on(grid)}); mean style "
                     f"distance {np.mean([n['style'] for n in grid]):.3f}, content distance "
                     f"{np.mean([n['content'] for n in grid]):.3f}. What it looks like: {LOOKS[method]}.")
    parts.append(f"The optimization of Chenonceau × The Starry Night at the same size ({opt_time}) "
                 f"reaches style {opt_n['style']:.3f} and content {opt_n['content']:.3f}: one pass trades the "
                 f"closeness of its statistics for speed.")
    return " ".join(parts)
