"""What a job of the web app does, method by method, and what it may choose from.

`Catalogue` lists the bundled images (images/content, images/style) and the shipped models
(models/*.pt, by the kind their file says they are): a form names them, and only these files are
ever read. `Runner` runs a job's `Spec` with networks it loads once and keeps: the VGG-19 for
optimization and AdaIN's encoder, each decoder and style or texture network. It reports progress
into the job and, during an optimization, a preview PNG every few evaluations; it stops at the
next evaluation once the job is cancelled, keeping the best image so far.
"""
from __future__ import annotations

import io
import math
import platform
import threading
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from stylekit.base import heap
from stylekit.base.heap import KEEP_UP_TO_PIXELS
from stylekit.base.device import pick_device, resolve_precision
from stylekit.base.errors import InputError
from stylekit.base.tensors import tensor_to_pil
from stylekit.base.paths import CONTENT_DIR, MODELS, STYLE_DIR
from stylekit.nets import johnson, portable
from stylekit.nets.adain import infer, portable as onepass_copies
from stylekit.nets.adain.model import LEVELS
from stylekit.cli.transfer_options import nan_advice
from stylekit.optim.engine import stylize
from stylekit.serve.jobs import Job
from stylekit.settings import DEFAULT_ONEPASS, ONEPASS_METHODS, Settings
from utils import load_vgg19

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
PREVIEW_EVERY = 5        # evaluations between two preview images
# What `serve` keeps between a job's layers (`base.heap`) is handed back at once after an
# optimization or a one-pass picture of more than KEEP_UP_TO_PIXELS, and after a smaller one
# once no job has started for this long: handed back at once, the next job's first pass faulted
# its pages in again (BENCHMARKS.md, "The web app's threads").
GIVE_BACK_WHEN_IDLE = 30.0   # seconds
COMMAND = "python -m stylekit serve (POST /api/jobs)"
# Each set of four WCT decoders (models/wct_relu<level>_1.pt; the narrow encoder's
# models/wct_lite_relu<level>_1.pt) is one choice of the "Any painting" method, named by its method.
MODEL_TITLES = {"wct": "whitening and colouring on VGG-19 (slower)", "wct-lite": "whitening and colouring, narrow encoder",
                "adain": "AdaIN"}


class Catalogue:
    """The bundled images and the shipped models, by name."""

    def __init__(self, content_dir: Path = CONTENT_DIR, style_dir: Path = STYLE_DIR, models_dir: Path = MODELS):
        self.images = {kind: {p.name: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
                       for kind, folder in (("content", content_dir), ("style", style_dir))}
        self.models: dict[str, dict[str, Path]] = {"fast": {}, "texture": {}, "adain": {}}
        self.about: dict[str, dict[str, dict]] = {"fast": {}, "texture": {}, "adain": {}}
        levels: dict[str, dict[int, tuple[Path, dict]]] = {"wct": {}, "wct-lite": {}}
        for path in sorted(models_dir.glob("*.pt")):
            kind, settings = _model_kind(path)
            if kind in levels:
                levels[kind][settings["level"]] = (path, settings)
            elif kind:
                self.models[kind][path.stem] = path
                self.about[kind][path.stem] = settings
        for method, found in levels.items():
            if sorted(found) == list(LEVELS):   # a method's WCT decoders serve as one model
                self.models["adain"][method] = tuple(found[n][0] for n in LEVELS)
                self.about["adain"][method] = {"kind": method, "steps": sum(found[n][1].get("steps") or 0 for n in LEVELS)}
        # The default method's decoders first (the form's default choice), then the others in the
        # order the command lists them.
        first = sorted(self.models["adain"], key=lambda name: (self.method(name) != DEFAULT_ONEPASS,
                                                               ONEPASS_METHODS.index(self.method(name))))
        self.models["adain"] = {name: self.models["adain"][name] for name in first}
        self.about["adain"] = {name: self.about["adain"][name] for name in first}

    def public_models(self) -> dict:
        """GET /api/models: every shipped network and decoder, with what it was trained for."""
        def entry(kind, name, s):
            style = s.get("style_image")
            files = self.models[kind][name]
            files = files if isinstance(files, tuple) else (files,)
            return {"name": name, "kind": kind, "style": Path(style).name if style else None,
                    "title": MODEL_TITLES.get(s.get("kind") or kind),
                    **({"method": self.method(name)} if kind == "adain" else {}),
                    "steps": s.get("trained_steps") or s.get("steps"), "size_bytes": sum(f.stat().st_size for f in files)}
        return {kind: [entry(kind, name, s) for name, s in found.items()] for kind, found in self.about.items()}


    def method(self, model: str) -> str:
        return onepass_method(model, self.models["adain"][model])


def onepass_method(model: str, files: Path | tuple[Path, ...]) -> str:
    """The method the "Any painting" model `model` runs: a set of WCT decoders (a tuple of
    files) is named by its method ('wct', 'wct-lite'), AdaIN's decoder is one file."""
    return model if isinstance(files, tuple) else "adain"


def _model_kind(path: Path) -> tuple[str | None, dict]:
    """'fast', 'texture', 'adain' or 'wct' (one level's decoder) for a shipped model file, with its
    settings (a WCT decoder's with its level); None for others."""
    try:
        _, settings = johnson.load_model(path)
        return ("fast" if settings.get("kind") == "style" else "texture"), settings
    except InputError:
        pass
    try:
        decoder, settings = infer.load_decoder(path)
        if settings.get("kind") == "wct":
            return ("wct-lite" if settings.get("encoder_sha256") else "wct"), {**settings, "level": decoder.level}
        return "adain", {k: v for k, v in settings.items() if k != "style_files"}
    except InputError:
        return None, {}


def png_bytes(img: torch.Tensor) -> bytes:
    buf = io.BytesIO()
    tensor_to_pil(img).save(buf, format="PNG")
    return buf.getvalue()


class Runner:
    """runner(job): compute the job's picture, as its `Spec` says, into `job.image` and `job.sidecar`."""

    def __init__(self, catalogue: Catalogue, device: str = "auto", preview_every: int = PREVIEW_EVERY):
        self.catalogue, self.device, self.preview_every = catalogue, pick_device(device), preview_every
        self._lock = threading.RLock()  # the encoder is made from the VGG, inside
        self._loaded: dict[tuple, object] = {}
        self._give_back: threading.Timer | None = None
        self._give_back_lock = threading.Lock()   # not the loading lock: a job's start never waits for a load

    def __call__(self, job: Job) -> None:
        self._give_back_later(None)   # a job starts: nothing to hand back meanwhile
        try:
            getattr(self, f"_{job.method}")(job, job.spec)
        except BaseException:
            heap.give_back()
            raise
        if job.method == "optimize" or math.prod(job.sidecar["size"]) > KEEP_UP_TO_PIXELS:
            heap.give_back()
        else:
            self._give_back_later(GIVE_BACK_WHEN_IDLE)

    def _give_back_later(self, seconds: float | None) -> None:
        """Hand the heap back after `seconds` (see GIVE_BACK_WHEN_IDLE); None: not at all."""
        with self._give_back_lock:
            if self._give_back is not None:
                self._give_back.cancel()
            self._give_back = None
            if seconds is not None:
                self._give_back = threading.Timer(seconds, heap.give_back)
                self._give_back.daemon = True
                self._give_back.start()

    def _get(self, key: tuple, load):
        with self._lock:
            if key not in self._loaded:
                self._loaded[key] = load()
            return self._loaded[key]

    def vgg(self):
        return self._get(("vgg",), lambda: load_vgg19("original", self.device))

    def warm(self) -> None:
        """Load the VGG-19 and AdaIN's encoder, and run one tiny optimization (the engine's first
        run prepares its copy of the network), so that the first job waits for none of it. The
        server starts this in the background."""
        self._get(("encoder", None), lambda: infer.inference_encoder(self.vgg()))
        tiny = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)).to(self.device)
        stylize(self.vgg(), tiny, [tiny], Settings.preset("part3", size=32, steps=2))

    def _fp32_cpu(self, precision: str) -> bool:
        """Whether a one-pass job runs in fp32 on the CPU, where the networks' ONNX copies (which
        the CLI runs there too) take less time than torch; with bf16 torch is the faster one. On
        an AVX2 CPU without VNNI torch's WCT pass beats the bundle's for a new photo and painting,
        but the bundle keeps both, and with either seen is the faster (BENCHMARKS.md, "A
        painting's statistics kept, and a photo's first encode")."""
        return self.device.type == "cpu" and precision == "fp32"

    def _machine(self) -> dict:
        return {"device": str(self.device), "torch": torch.__version__, "machine": platform.machine(),
                "threads": torch.get_num_threads(), "command": COMMAND}

    # -- optimization ---------------------------------------------------------------------

    def _optimize(self, job: Job, spec) -> None:
        settings = spec.settings.replace(precision=resolve_precision(spec.settings.precision, self.device))
        content = spec.content.tensor(self.device) if spec.content else None
        styles = [s.tensor(self.device) for s in spec.styles]
        reference = content if content is not None else styles[0]
        plan = settings.plan(max(reference.shape[-2:]))
        before = [sum(n for _, n in plan[:i]) for i in range(len(plan))]
        job.steps = sum(n for _, n in plan)
        cnn = self.vgg()

        def watch(info):
            if job.cancel.is_set():
                raise KeyboardInterrupt  # the engine stops and keeps the best image so far
            done = before[info["scale"]] + info["step"]
            job.step, job.progress = done, min(1.0, done / job.steps)
            job.losses = {k: v for k, v in info["terms"].items()}
            if info["step"] == 1 or done % self.preview_every == 0:
                job.set_image(png_bytes(info["image"].clamp(0, 1)))

        result = stylize(cnn, content, styles, settings, callback=watch)
        recorded = {"content": spec.content.name if spec.content else None, "styles": [s.name for s in spec.styles],
                    "mask": None, **asdict(settings), "precision": result.precision}
        job.sidecar = {"mode": "optimize", "settings": recorded, "status": result.status, "message": result.message,
                       "output_size": list(result.image.shape[-2:][::-1]), "plan": result.plan,
                       "evals": result.evals, "wall_seconds": round(result.seconds, 2),
                       "final_losses": result.final, **self._machine()}
        if result.status == "nan":   # failed, as the command line's exit 1: the job says what to lower
            raise InputError(f"{result.message} after {result.evals} evaluations. {nan_advice(settings)}")
        job.set_image(png_bytes(result.image))  # the best image seen

    # -- one pass -------------------------------------------------------------------------

    def _adain(self, job: Job, spec) -> None:
        model = spec.options["model"]
        run = replace(spec.onepass, precision=resolve_precision(spec.onepass.precision, self.device))
        files = self.catalogue.models["adain"][model]
        method = self.catalogue.method(model)
        paths = list(files) if isinstance(files, tuple) else [files]
        copy = None
        # WCT lite's small layers run faster in torch, which the app has loaded anyway, even against
        # the bundle's kept statistics (BENCHMARKS.md, "WCT lite"); the CLI keeps the bundle for
        # its first image, which importing torch would double.
        if self._fp32_cpu(run.precision) and run.preserve_color is None and method != "wct-lite":
            copy = self._get(("onnx", "adain", model), lambda: onepass_copies.load_for(method, paths))
        if copy is not None:
            trained = copy.training
        else:
            decoders, trained = self._get(("adain", model), lambda: infer.load_decoders(method, paths, self.device))
            # one per encoder the decoders name: VGG-19's (None) is AdaIN's and WCT's
            encoder = self._get(("encoder", infer.encoder_sha(trained)),
                                lambda: infer.encoder_for(trained, self.device, self.vgg()))
        start, used = time.perf_counter(), []
        if copy is not None:
            out = copy.stylize(spec.content.tensor().numpy(), [s.tensor().numpy() for s in spec.styles], run,
                               used.append)
            img = torch.from_numpy(out)
        else:
            img = infer.stylize(encoder, decoders, spec.content.tensor(self.device),
                                [s.tensor(self.device) for s in spec.styles], run, on_alpha=used.append)
        seconds = time.perf_counter() - start
        job.sidecar = {"mode": "adain", "method": method, "decoder": model, "content": spec.content.name,
                       "styles": [s.name for s in spec.styles], "style_blend": run.style_blend,
                       "style_size": list(spec.styles[0].pixels.shape[-2:]), "alpha": run.alpha,
                       "max_move": run.max_move, "ridge": run.ridge, "sharpen": run.sharpen,
                       "histograms": run.histograms, "margin": run.margin,
                       "alpha_used": used[0], "style_scale": run.style_scale,
                       "preserve_color": run.preserve_color, "mask": None, "size": list(img.shape[-2:]),
                       "precision": run.precision, "seconds": seconds, "runtime": _runtime(copy),
                       "training": [{k: v for k, v in t.items() if k != "style_files"} for t in trained],
                       **self._machine()}
        job.set_image(png_bytes(img))

    def _network(self, kind: str, name: str):
        want = "style" if kind == "fast" else "texture"
        return self._get((kind, name), lambda: johnson.load_model(self.catalogue.models[kind][name], self.device, want))

    def _fast(self, job: Job, spec) -> None:
        o = spec.options
        precision = resolve_precision(o["precision"], self.device)
        copy = None
        if self._fp32_cpu(precision):
            model = self.catalogue.models["fast"][o["model"]]
            copy = self._get(("onnx", "fast", o["model"]), lambda: portable.load(model))
        net, trained = (None, copy.settings) if copy is not None else self._network("fast", o["model"])
        start = time.perf_counter()
        if copy is not None:
            rgb = copy.stylize(spec.content.pixels[0].permute(1, 2, 0).numpy())
            img = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
        else:
            img = johnson.stylize(net, spec.content.tensor(self.device), precision)
        seconds = time.perf_counter() - start
        job.sidecar = {"mode": "feedforward", "model": o["model"], "content": spec.content.name,
                       "size": list(img.shape[-2:]), "precision": precision, "seconds": seconds,
                       "runtime": _runtime(copy),
                       "training": trained, **self._machine()}
        job.set_image(png_bytes(img))

    def _texture(self, job: Job, spec) -> None:
        o = spec.options
        precision = resolve_precision(o["precision"], self.device)
        net, trained = self._network("texture", o["model"])
        start = time.perf_counter()
        img = johnson.texture(net, o["size"], o["size"], o["seed"], precision)
        seconds = time.perf_counter() - start
        job.sidecar = {"mode": "texture-network", "model": o["model"], "seed": o["seed"], "size": [o["size"]] * 2,
                       "precision": precision, "seconds": seconds, "training": trained, **self._machine()}
        job.set_image(png_bytes(img))


def _runtime(copy) -> str:
    return "torch" if copy is None else "onnxruntime"
