"""The web app's routes (FastAPI): the page, its static files, and the HTTP API.

| call | does |
|---|---|
| POST /api/jobs (multipart: method, content, style..., options) | 202 {"id"} |
| GET /api/jobs/{id} | status, progress, step, losses, queue_position, error |
| GET /api/jobs/{id}/image | the latest preview PNG while running, the result when done |
| GET /api/jobs/{id}/sidecar | the result's JSON sidecar |
| DELETE /api/jobs/{id} | cancels |
| GET /api/models | the shipped networks and decoders |
| GET /api/images, /api/images/{kind}/{name} | the bundled images, by name |
| GET /api/options | the form's defaults (from the presets) and the server's limits |

Every error is JSON {"error": "..."}: 400 bad input (the CLI's words), 403 a cross-site post,
404 unknown, 408 an upload that stalled, 409 not possible now, 413 an upload over the limit,
415 a post that is not a form, 429 the queue full, 503 a post that came as the server was
stopping. A request that is not HTTP is answered in JSON as well (`serve.protocol`). No route
takes a path: images and models are looked up by name in the lists made at start.
"""
from __future__ import annotations

import asyncio
import io
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from PIL import Image
from python_multipart.multipart import DEFAULT_MAX_HEADER_SIZE as MAX_PART_HEADER_BYTES
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match, Mount

from stylekit.base.errors import InputError, clipped
from stylekit.serve import forms
from stylekit.serve.jobs import JobQueue, QueueFull
from stylekit.serve.runners import Catalogue, Runner

STATIC = Path(__file__).resolve().parent / "static"
UPLOAD_LIMIT = 20 * 1024 * 1024
UPLOAD_IDLE = 30.0   # seconds an upload may pause before it is dropped
# A message quotes what a client sent; no answer repeats more than this many characters of it.
MESSAGE_LIMIT = 1000
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
THUMB_SIDE = 240
SECURITY_HEADERS = {
    # Everything from this server, nothing from elsewhere: no CDN, no fonts, no analytics.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; "
                               "base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class _Refused(Exception):
    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": clipped(message, MESSAGE_LIMIT)}, status_code=status, headers=headers)


def create_app(*, catalogue: Catalogue | None = None, runner=None, queue: JobQueue | None = None,
               limits: forms.Limits | None = None, upload_limit: int = UPLOAD_LIMIT, upload_idle: float = UPLOAD_IDLE,
               allowed_hosts=LOCAL_HOSTS, device: str = "auto", warm: bool = False,
               max_queued: int = 8, keep: int = 50, ttl: float = 3600.0) -> FastAPI:
    """The app. `runner` (default: a `Runner` over `catalogue`) does the jobs; `queue` (default:
    a `JobQueue` of `max_queued`, `keep`, `ttl`) holds them and is closed, cancelling what runs,
    when the app shuts down. `allowed_hosts`: the Host headers served (None: any). `warm`: load
    the VGG-19 in the background at start, so the first job does not wait for it."""
    catalogue = catalogue or Catalogue()
    limits = limits or forms.Limits()
    runner = runner or Runner(catalogue, device)
    queue = queue or JobQueue(runner, max_queued=max_queued, keep=keep, ttl=ttl)
    temp = tempfile.TemporaryDirectory(prefix="stylekit-serve-")
    reader = forms.FormReader(catalogue.images, catalogue.models, limits, temp.name)
    # Uploads are decoded one at a time, on one thread: requests waiting for it hold no thread of
    # the pool the other routes run in, and its buffers come back to that one thread's heap
    # (decoded on the pool's threads, each kept its last image's: BENCHMARKS.md, "The web app
    # under a burst of large uploads").
    decoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stylekit-decode")
    # Set when a stop is asked (`serve` sets it on the signal): posts still waiting for their
    # turn to decode are answered at once, before the server's grace period runs out (they got
    # a plain-text 500 when it cancelled them).
    closing = threading.Event()
    thumbs: dict[tuple[str, str], bytes] = {}

    @asynccontextmanager
    async def lifespan(app):
        warming = threading.Thread(target=runner.warm, daemon=True) if warm and isinstance(runner, Runner) else None
        if warming:
            warming.start()
        try:
            yield
        finally:
            await run_in_threadpool(queue.close)
            await run_in_threadpool(decoder.shutdown, True, cancel_futures=True)
            if warming:  # a thread still inside torch when the interpreter ends aborts the process
                await run_in_threadpool(warming.join)
            temp.cleanup()

    app = FastAPI(title="stylekit", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.queue, app.state.catalogue, app.state.limits = queue, catalogue, limits
    app.state.closing = closing
    app.state.upload_dir = temp.name
    served = None if allowed_hosts is None else {h.strip("[]").lower() for h in allowed_hosts}

    @app.middleware("http")
    async def served_hosts(request: Request, call_next):
        """Another Host than this machine's names: a page of another site reaching this server
        through a name that resolves here (DNS rebinding)."""
        host = request.headers.get("host", "")
        try:
            name = urlsplit(f"//{host}").hostname if host else None
        except ValueError:   # '[::1' and the like
            name = None
        if served is not None and name not in served:
            return _error(400, f"host {host!r} is not served: use http://127.0.0.1 or localhost, or start the "
                               f"server with --host")
        return await call_next(request)

    @app.middleware("http")
    async def head_as_get(request: Request, call_next):
        """HEAD wherever GET answers (HTTP requires it; the routes are declared for GET): the
        GET's status and headers, no body."""
        if request.method != "HEAD":
            return await call_next(request)
        request.scope["method"] = "GET"
        try:
            response = await call_next(request)
        finally:
            request.scope["method"] = "HEAD"
        return Response(status_code=response.status_code, headers=dict(response.headers))

    @app.middleware("http")
    async def whole_files(request: Request, call_next):
        """Files are served whole: a Range header is dropped (the images are small, and the
        file responses would answer a bad range in plain text)."""
        request.scope["headers"] = [(k, v) for k, v in request.scope["headers"] if k != b"range"]
        return await call_next(request)

    @app.middleware("http")   # added last, so outermost: every response gets the headers, refusals too
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.exception_handler(InputError)
    async def bad_input(request, exc):
        return _error(400, str(exc))

    @app.exception_handler(_Refused)
    async def refused(request, exc):
        return _error(exc.status, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(request, exc):   # a query parameter of the wrong type (?thumb=abc)
        where = [f"{'.'.join(str(p) for p in e.get('loc', ())[1:])}: {e.get('msg', '')}" for e in exc.errors()]
        return _error(400, "; ".join(where) or "bad request")

    @app.exception_handler(HTTPException)
    async def http_error(request, exc):
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:   # every method of the path: the router names the first route's alone
            headers["Allow"] = ", ".join(allowed_methods(request.scope))
        return _error(exc.status_code, str(exc.detail), headers)

    def allowed_methods(scope) -> list[str]:
        methods = set()
        scope = {**scope, "root_path": scope.get("app_root_path", "")}   # as it was before a mount set its own
        for route in app.router.routes:
            if route.matches(scope)[0] != Match.NONE:
                methods |= {"GET"} if isinstance(route, Mount) else set(getattr(route, "methods", None) or ())
        return sorted(methods | ({"HEAD"} if "GET" in methods else set()))

    @app.exception_handler(Exception)
    async def internal(request, exc):
        return _error(500, f"internal error: {type(exc).__name__}")

    def same_origin(request: Request) -> None:
        """Refuse a post or delete sent by another site's page (a browser says where from)."""
        origin = request.headers.get("origin")
        if origin is None:
            return
        try:
            netloc = urlsplit(origin).netloc
        except ValueError:   # '[::1' and the like: no origin this server serves
            netloc = None
        if netloc != request.headers.get("host"):
            raise _Refused(403, f"requests from {clipped(origin)} are refused: use the page this server serves")

    def open_for_jobs() -> None:
        if closing.is_set():
            raise _Refused(503, "the server is shutting down: the job was not queued")

    def decode(items):
        open_for_jobs()   # its turn came after the stop was asked
        return reader.read(items)

    def find(job_id: str):
        job = queue.get(job_id)
        if job is None:
            raise _Refused(404, f"no job {_shown_id(job_id)} (finished jobs are kept for {queue.ttl / 60:g} min, "
                                f"the last {queue.keep})")
        return job

    # -- the page -------------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/images")
    def images():
        return {kind: list(found) for kind, found in catalogue.images.items()}

    @app.get("/api/images/{kind}/{name}")
    def bundled_image(kind: str, name: str, thumb: bool = False):
        path = catalogue.images.get(kind, {}).get(name)
        if path is None:
            raise _Refused(404, f"no bundled {kind} image {clipped(name)!r}")
        if not thumb:
            return FileResponse(path)
        if (kind, name) not in thumbs:
            with Image.open(path) as img:
                small = img.convert("RGB")
                small.thumbnail((THUMB_SIDE, THUMB_SIDE))
                buf = io.BytesIO()
                small.save(buf, "JPEG", quality=85)
            thumbs[(kind, name)] = buf.getvalue()
        return Response(thumbs[(kind, name)], media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})

    @app.get("/api/models")
    def models():
        return catalogue.public_models()

    @app.get("/api/options")
    def options():
        return {**forms.describe(), "limits": {"max_size": limits.max_size, "max_steps": limits.max_steps,
                                               "max_styles": limits.max_styles, "max_pixels": limits.max_pixels,
                                               "upload_bytes": upload_limit, "max_queued": queue.max_queued}}

    # -- jobs -----------------------------------------------------------------------------

    @app.post("/api/jobs", status_code=202)
    async def post_job(request: Request):
        same_origin(request)
        open_for_jobs()
        full = queue.full()
        if full:
            raise _Refused(429, full, {"Retry-After": "5"})
        items = await _read_form(request, upload_limit, limits.max_styles, upload_idle)
        full = queue.full(next((v for k, v in items if k == "method" and isinstance(v, str)), None))
        if full:   # before the images are decoded
            raise _Refused(429, full, {"Retry-After": "5"})
        if any(k in ("content", "style") for k, _ in items):
            spec = await asyncio.wrap_future(decoder.submit(decode, items))
        else:
            spec = await run_in_threadpool(reader.read, items)
        open_for_jobs()
        try:
            job = queue.submit(spec.method, spec)
        except QueueFull as exc:
            raise _Refused(429, str(exc), {"Retry-After": "5"}) from None
        return JSONResponse({"id": job.id}, status_code=202, headers={"Location": f"/api/jobs/{job.id}"})

    @app.get("/api/jobs/{job_id}")
    def job_status(job_id: str):
        job = find(job_id)
        return JSONResponse(job.public(queue.position(job)), headers={"Cache-Control": "no-store"})

    @app.get("/api/jobs/{job_id}/image")
    def job_image(job_id: str):
        job = find(job_id)
        png, version = job.image, job.image_version
        if png is None:
            why = f"job {job_id} failed: {job.error}" if job.status == "failed" else \
                f"job {job_id} has no image yet ({job.status})"
            raise _Refused(404, why)
        return Response(png, media_type="image/png", headers={
            "Cache-Control": "no-store", "X-Image-Version": str(version),
            "Content-Disposition": f'inline; filename="stylekit-{job.id}.png"'})

    @app.get("/api/jobs/{job_id}/sidecar")
    def job_sidecar(job_id: str):
        job = find(job_id)
        if job.sidecar is None or job.status not in ("done", "cancelled"):
            raise _Refused(404, f"job {job_id} has no sidecar yet ({job.status})")
        return JSONResponse(job.sidecar, headers={
            "Content-Disposition": f'inline; filename="stylekit-{job.id}.json"'})

    @app.delete("/api/jobs/{job_id}")
    def cancel_job(job_id: str, request: Request):
        same_origin(request)
        find(job_id)
        job = queue.cancel(job_id)
        if job is None:
            raise _Refused(404, f"no job {_shown_id(job_id)}")
        if job.status in ("done", "failed"):
            raise _Refused(409, f"job {job_id} has already finished ({job.status})")
        return job.public(queue.position(job))

    return app


async def _read_form(request: Request, limit: int, max_styles: int,
                     idle: float) -> list[tuple[str, str | forms.Upload]]:
    """The form's fields in order, files read into memory: at most `limit` bytes in all (413),
    with no pause of more than `idle` seconds (408)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in FORM_TYPES:
        raise _Refused(415, f"a job is posted as a form (multipart/form-data), not as "
                            f"{clipped(kind) or 'a body without a Content-Type'}")
    too_large = _Refused(413, f"the upload is larger than the limit of {limit / 2 ** 20:g} MB")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise too_large
    received = 0

    async def receive():
        nonlocal received
        try:
            message = await asyncio.wait_for(request.receive(), idle)
        except asyncio.TimeoutError:   # a client that stops sending would hold its connection for good
            raise _Refused(408, f"the upload stalled: nothing came for {idle:g} s") from None
        received += len(message.get("body", b""))
        if received > limit:
            raise too_large
        return message

    try:
        form = await Request(request.scope, receive).form(max_files=max_styles + 2, max_fields=64,
                                                          max_part_size=64 * 1024)
    except ClientDisconnect:   # the browser cancelled, or curl was stopped: nobody reads the answer
        raise _Refused(400, "the client went away before the end of its upload") from None
    except HTTPException as exc:
        if exc.status_code == 400 and exc.detail == "Invalid multipart data.":   # the parser says no more
            raise _Refused(400, f"the form is not valid multipart data: a damaged body, or a header line over "
                                f"{MAX_PART_HEADER_BYTES} bytes (a file name that long)") from None
        raise
    try:
        items = []
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                items.append((key, forms.Upload(value.filename or "", await value.read())))
            else:
                items.append((key, value))
        return items
    finally:
        await form.close()


def _shown_id(job_id: str) -> str:
    """A job id as a message quotes it: not the whole of a 10 KB one."""
    return repr(clipped(job_id, 40))
