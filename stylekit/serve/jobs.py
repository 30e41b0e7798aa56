"""The job queue of the web app.

Two lanes, one worker thread each: `optimize` (an optimization uses every core, so one at a
time) and `quick` (the one-pass methods, which take about a second and must not wait behind a
long optimization). A cap on the jobs waiting in each lane keeps ten clients posting at once
from queueing unbounded work (`QueueFull`, HTTP 429); a lane full of optimizations does not
turn one-pass jobs away. Finished jobs (done, failed or
cancelled) are kept for `ttl` seconds and at most `keep` of them, oldest dropped first, so the
server can run for days; a job drops its inputs as soon as it finishes.

Cancelling a queued job takes it out of its lane; a running job sees its `cancel` event at its
next loss evaluation (the runner raises KeyboardInterrupt there, and the engine keeps the best
image so far).
"""
from __future__ import annotations

import itertools
import secrets
import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from stylekit.base.errors import InputError, reason

LANES = {"optimize": "optimize", "fast": "quick", "adain": "quick", "texture": "quick"}
FINISHED = ("done", "failed", "cancelled")


class QueueFull(Exception):
    """No room for another waiting job."""


@dataclass
class Job:
    id: str
    method: str
    spec: Any                                # what the runner needs; None once finished
    status: str = "queued"                   # queued | running | done | failed | cancelled
    progress: float = 0.0                    # 0..1
    step: int = 0                            # loss evaluations so far (optimization)
    steps: int = 0                           # planned in all
    losses: dict = field(default_factory=dict)
    error: str | None = None
    image: bytes | None = None               # PNG: the latest preview, then the result
    image_version: int = 0                   # counts the images, so a page refetches only new ones
    sidecar: dict | None = None
    created: float = 0.0
    finished: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def lane(self) -> str:
        return LANES[self.method]

    def set_image(self, png: bytes) -> None:
        self.image = png
        self.image_version += 1

    def public(self, queue_position: int | None) -> dict:
        """The job as GET /api/jobs/{id} shows it."""
        return {"id": self.id, "method": self.method, "status": self.status, "progress": round(self.progress, 4),
                "step": self.step, "steps": self.steps, "losses": self.losses, "queue_position": queue_position,
                "error": self.error, "image_version": self.image_version, "has_image": self.image is not None,
                "has_sidecar": self.sidecar is not None}


class JobQueue:
    """Jobs by id, two lanes of waiting jobs, a worker thread per lane.

    `run(job)` does the work: it updates the job's progress fields and image as it goes and
    sets `job.sidecar`; it raises InputError for bad input found late (the job fails with that
    line), and returns normally when cancelled (it checks `job.cancel`).
    """

    def __init__(self, run: Callable[[Job], None], *, max_queued: int = 8, keep: int = 50,
                 ttl: float = 3600.0, clock: Callable[[], float] = time.monotonic):
        if max_queued < 1 or keep < 1 or ttl <= 0:
            raise ValueError("max_queued and keep must be at least 1, ttl positive")
        self.run, self.max_queued, self.keep, self.ttl, self.clock = run, max_queued, keep, ttl, clock
        self._lock = threading.Condition()
        self._jobs: dict[str, Job] = {}
        self._waiting: dict[str, deque[Job]] = {lane: deque() for lane in sorted(set(LANES.values()))}
        self._closed = False
        self._count = itertools.count(1)
        self._threads = [threading.Thread(target=self._work, args=(lane,), name=f"stylekit-{lane}", daemon=True)
                         for lane in self._waiting]
        for thread in self._threads:
            thread.start()

    # -- the API's calls ------------------------------------------------------------------

    def submit(self, method: str, spec: Any) -> Job:
        if method not in LANES:
            raise InputError(f"method must be one of {', '.join(LANES)}, not {method!r}")
        with self._lock:
            self._purge()
            why = self._refusal([LANES[method]])
            if why:
                raise QueueFull(why)
            job = Job(id=f"{next(self._count)}-{secrets.token_hex(4)}", method=method, spec=spec,
                      created=self.clock())
            self._jobs[job.id] = job
            self._waiting[job.lane].append(job)
            self._lock.notify_all()
        return job

    def full(self, method: str | None = None) -> str | None:
        """Why a submission of `method` (None: of any method) would be refused now, or None;
        checked before an upload is decoded."""
        with self._lock:
            return self._refusal([LANES[method]] if method in LANES else list(self._waiting))

    def _refusal(self, lanes: list[str]) -> str | None:
        """Why a job for any of `lanes` would be refused (the lock held), or None."""
        if self._closed:
            return "the server is shutting down"
        if all(len(self._waiting[lane]) >= self.max_queued for lane in lanes):
            jobs = "optimizations" if lanes[0] == "optimize" else "one-pass jobs"
            return (f"the queue is full ({len(self._waiting[lanes[0]])} {jobs} waiting); try again when one "
                    f"has finished")
        return None

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            self._purge()
            return self._jobs.get(job_id)

    def position(self, job: Job) -> int | None:
        """How many jobs wait before this one in its lane (0: next); None unless it waits."""
        with self._lock:
            try:
                return self._waiting[job.lane].index(job)
            except ValueError:
                return None

    def status(self, job_id: str) -> dict | None:
        job = self.get(job_id)
        return None if job is None else job.public(self.position(job))

    def cancel(self, job_id: str) -> Job | None:
        """Cancel a waiting or running job (a finished one stays as it is); None if unknown."""
        with self._lock:
            self._purge()
            job = self._jobs.get(job_id)
            if job is None or job.status in FINISHED:
                return job
            job.cancel.set()
            if job.status == "queued":
                self._waiting[job.lane].remove(job)
                self._finish(job, "cancelled")
        return job

    def counts(self) -> dict[str, int]:
        with self._lock:
            self._purge()
            statuses = [j.status for j in self._jobs.values()]
            return {s: statuses.count(s) for s in ("queued", "running", *FINISHED)}

    def close(self, timeout: float = 30.0) -> None:
        """Cancel every waiting and running job, and wait up to `timeout` s for the workers."""
        with self._lock:
            self._closed = True
            for job in self._jobs.values():
                if job.status not in FINISHED:
                    job.cancel.set()
            for lane in self._waiting.values():
                while lane:
                    self._finish(lane.popleft(), "cancelled")
            self._lock.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    # -- inside ---------------------------------------------------------------------------

    def _finish(self, job: Job, status: str, error: str | None = None) -> None:
        job.status, job.error, job.finished = status, error, self.clock()
        job.spec = None  # the inputs: a finished job keeps only its picture and sidecar
        if status == "failed":
            job.image = None
        if status == "done":
            job.progress = 1.0

    def _purge(self) -> None:
        """Drop finished jobs older than `ttl`, then the oldest beyond `keep` (lock held)."""
        now = self.clock()
        finished = [j for j in self._jobs.values() if j.status in FINISHED]
        expired = [j for j in finished if now - j.finished > self.ttl]
        rest = sorted((j for j in finished if j not in expired), key=lambda j: j.finished)
        for job in expired + rest[:max(0, len(rest) - self.keep)]:
            del self._jobs[job.id]

    def _next(self, lane: str) -> Job | None:
        with self._lock:
            while not self._waiting[lane] and not self._closed:
                self._lock.wait()
            if self._closed:
                return None
            job = self._waiting[lane].popleft()
            job.status = "running"
            return job

    def _work(self, lane: str) -> None:
        while True:
            job = self._next(lane)
            if job is None:
                return
            status, error = "done", None
            try:
                self.run(job)
                if job.cancel.is_set():
                    status = "cancelled"
            except InputError as exc:
                status, error = "failed", str(exc)
            except Exception as exc:  # the server stays up; the job says what went wrong
                traceback.print_exc(file=sys.stderr)
                status, error = "failed", f"internal error: {reason(exc)}"
            with self._lock:
                self._finish(job, status, error)
                self._purge()
