"""The website report: run the experiments, then render templates/index.html.j2 into a folder.

    python -m stylekit report                  the full site into report/ (`make report`, `run.py --report`)
    python -m stylekit report --quick --out DIR  tiny sizes and few steps, for tests

The site is static and self-contained: index.html, style.css and img/, relative links only,
no JavaScript, nothing fetched from elsewhere. Figures are recompressed for the web (JPEG
quality 85 for pictures, palette PNG for plots). Full-size results and their JSON sidecars
stay under results/report/ (quick builds: under the output folder's results/).
"""
from __future__ import annotations

import io
import shutil
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from PIL import Image

from stylekit.base.device import pick_device
from stylekit.base.files import atomic_write, check_writable
from stylekit.base.paths import ROOT
from stylekit.report import bells, details, experiments, runs
from stylekit.report.inputs import CREDITS
from stylekit.report.labels import fmt_num, fmt_weight
from stylekit.report.part1_2 import P1_LAYERS, P2_SETS, SEEDS
from stylekit.report.runs import Experiment, Figure, Run
from utils import load_vgg19

REPORT_DIR = ROOT / "report"
TEMPLATES = Path(__file__).resolve().parent / "templates"
JPEG_QUALITY = 85


@dataclass
class WebImage:
    src: str          # relative to the site's root
    width: int
    height: int
    caption: str
    alt: str
    kind: str


class Site:
    """Writes the figures of one build into out_dir/img/ and remembers what it wrote."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self.img_dir = out_dir / "img"
        self.img_dir.mkdir(parents=True, exist_ok=True)
        self.written: set[str] = set()

    def add(self, path: Path, name: str, caption: str = "", alt: str = "", kind: str = "photo") -> WebImage:
        img = Image.open(path)
        img.load()
        if kind == "animation":   # a GIF, copied as it is
            dest = self.img_dir / f"{name}{path.suffix.lower()}"
            if not dest.exists() or dest.read_bytes() != path.read_bytes():
                shutil.copyfile(path, dest)
        elif kind == "plot":
            dest = self.img_dir / f"{name}.png"
            pal = img.convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
            _save_if_changed(pal, dest, format="PNG", optimize=True)
        else:
            dest = self.img_dir / f"{name}.jpg"
            _save_if_changed(img.convert("RGB"), dest, format="JPEG", quality=JPEG_QUALITY, optimize=True,
                             progressive=True)
        self.written.add(dest.name)
        return WebImage(f"img/{dest.name}", img.width, img.height, caption, alt or caption, kind)

    def figure(self, fig: Figure) -> WebImage:
        return self.add(fig.path, fig.key, fig.caption, fig.alt, fig.kind)

    def prune(self) -> None:
        """Remove images of earlier builds that this build no longer shows."""
        for path in self.img_dir.iterdir():
            if path.is_file() and path.name not in self.written:
                path.unlink()


def _save_if_changed(img: Image.Image, dest: Path, **kwargs) -> None:
    """Encode; rewrite the file only if the bytes differ (a rebuild leaves git quiet)."""
    buf = io.BytesIO()
    img.save(buf, **kwargs)
    data = buf.getvalue()
    if not (dest.exists() and dest.read_bytes() == data):
        atomic_write(dest, data)


def _short_layers(layers: list[str]) -> str:
    if not layers:
        return "–"
    return layers[0] if len(layers) == 1 else f"{layers[0]}–{layers[-1]} ({len(layers)})"


def _run_row(exp_title: str, run: Run) -> dict:
    m = run.meta
    s = m.get("settings", {})
    f = m.get("final_losses") or {}
    w, h = m.get("output_size", ["?", "?"])
    inputs = [Path(s["content"]).stem] if s.get("content") else []
    inputs += [Path(p).stem for p in s.get("styles", [])]
    plan = m.get("plan", [])
    return {
        "experiment": exp_title, "label": run.label, "image": run.job.out.name,
        "inputs": " + ".join(inputs),
        "size": f"{w}×{h}" + (f" (from {plan[0][0]})" if len(plan) > 1 else ""),
        "evals": m.get("evals"), "init": s.get("init") + (f" {s.get('seed')}" if s.get("init") == "noise" else ""),
        "content_layers": _short_layers(s.get("content_layers", [])),
        "style_layers": _short_layers(s.get("style_layers", [])),
        "weights": " / ".join(fmt_weight(s.get(k)) for k in ("content_weight", "style_weight", "tv_weight")),
        "precision": s.get("precision"), "seconds": m.get("wall_seconds"),
        "content_loss": fmt_num(f.get("content")) if "content" in f else "–",
        "style_loss": fmt_num(f.get("style")) if "style" in f else "–",
        "status": m.get("status"),
    }


def results_root(out_dir: Path, quick: bool) -> Path:
    """Where a build keeps its runs: a quick one under its own folder, a full one in
    results/report/, where the part commands (--ablate, --compare-init) put theirs too."""
    return Path(out_dir) / "results" if quick else runs.REPORT_RESULTS


def check_out_dir(out_dir: Path, results: Path) -> None:
    """InputError now, before any run, if the site or its results could not be written: the
    page, its style sheet, its images, and every folder the runs write into (each existing
    folder under `results`, or the nearest existing one above it)."""
    out_dir = Path(out_dir)
    for path in (out_dir / "index.html", out_dir / "style.css", out_dir / "img" / "x.jpg"):
        check_writable(path)
    check_results(results)


def check_results(results: Path) -> None:
    """InputError now if the runs could not write into `results`: its figures/ and every
    folder already in it (a missing one: the nearest existing folder above)."""
    results = Path(results)
    folders = sorted(p for p in results.iterdir() if p.is_dir()) if results.is_dir() else []
    for path in (results / "figures" / "x.png", *(f / "x.png" for f in folders)):
        check_writable(path)


def collect(cnn, device, quick: bool, results: Path, progress: bool = True) -> dict:
    """Run (or reuse) every experiment; the data the template needs, images not yet copied."""
    exps = experiments.run_all(cnn, device, quick, results, progress)
    return {"experiments": exps, "gram": details.gram_scales(cnn, device, quick), "defaults": details.job_defaults(),
            "scale": runs.scale_for(quick), "bells": bells.run_all(cnn, device, quick, results, progress)}


def build(out_dir: Path = REPORT_DIR, quick: bool = False, *, cnn=None, device=None, progress: bool = True,
          results: Path | None = None) -> Path:
    """Build the site into out_dir (index.html, style.css, img/). Returns index.html's path."""
    out_dir = Path(out_dir)
    results = results_root(out_dir, quick) if results is None else Path(results)
    check_out_dir(out_dir, results)
    if device is None:
        device = pick_device("auto")
    if cnn is None:
        cnn = load_vgg19("original", device)
    data = collect(cnn, device, quick, results, progress)
    exps: dict[str, Experiment] = data["experiments"]

    site = Site(out_dir)
    figs = {name: [site.figure(f) for f in e.figures] for name, e in exps.items()}
    loss_plots, rows, seen = {}, [], set()
    for name, e in exps.items():
        plots = []
        for run in e.runs:
            key = run.job.out.resolve()
            if run.loss_plot.exists():
                plots.append(site.add(run.loss_plot, f"loss_{run.job.out.parent.name}_{run.job.out.stem}",
                                      f"{run.label}: weighted loss terms per evaluation.", f"loss curves, {run.label}",
                                      kind="plot"))
            if key not in seen:
                seen.add(key)
                rows.append(_run_row(e.title, run))
        loss_plots[name] = plots
    for b in data["bells"]:
        for run in b.runs:
            if run.job.out.resolve() not in seen:
                seen.add(run.job.out.resolve())
                rows.append(_run_row(b.title, run))
    sections = [{"title": b.title, "text": b.text, "points": b.points, "images": [site.figure(f) for f in b.figures]}
                for b in data["bells"]]
    metas = [r.meta for e in exps.values() for r in e.runs if r.meta]
    machine = metas[0] if metas else {}
    context = {
        "quick": quick, "scale": data["scale"], "ex": exps, "figs": figs, "loss_plots": loss_plots,
        "rows": rows, "total_seconds": sum(r["seconds"] or 0 for r in rows),
        "precisions": sorted({r["precision"] for r in rows if r["precision"]}),
        "statuses": sorted({r["status"] for r in rows if r["status"]}),
        "machine": {"device": machine.get("device"), "threads": machine.get("threads"),
                    "torch": machine.get("torch"), "arch": machine.get("machine")},
        "gram": data["gram"], "defaults": data["defaults"], "bells": sections,
        "fmt": fmt_num, "fw": fmt_weight, "credits": CREDITS,
        "p1_layers": P1_LAYERS, "p2_sets": P2_SETS, "seeds": SEEDS,
    }
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html", "j2"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    html = env.get_template("index.html.j2").render(**context)
    atomic_write(out_dir / "index.html", html.encode("utf-8"))
    shutil.copyfile(TEMPLATES / "style.css", out_dir / "style.css")
    site.prune()
    return out_dir / "index.html"


def site_size(out_dir: Path) -> int:
    return sum(p.stat().st_size for p in Path(out_dir).rglob("*") if p.is_file()
               and "results" not in p.relative_to(out_dir).parts)
