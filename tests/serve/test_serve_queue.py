"""The web app's job queue: one optimization at a time with one-pass jobs beside it, the cap
(429), cancelling waiting and running jobs, expiry by count and by time, failures that leave the
server up. Stub runners stand in for the networks, so each test takes milliseconds."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from serve_helpers import client, files, photo_png, wait
from stylekit.base.errors import InputError
from stylekit.serve import forms
from stylekit.serve.jobs import JobQueue, QueueFull


class Stub:
    """A runner whose optimizations wait for `release` (or a cancel); one-pass jobs finish at once."""

    def __init__(self):
        self.release = threading.Event()
        self.started = []

    def __call__(self, job):
        self.started.append(job.id)
        if job.method == "optimize" or job.spec == "hold":
            while not self.release.is_set() and not job.cancel.is_set():
                time.sleep(0.005)
        if job.spec == "bad":
            raise InputError("that picture is too small")
        if job.spec == "crash":
            raise RuntimeError("something broke\nwith a traceback")
        job.set_image(b"png")
        job.sidecar = {"spec": job.spec}


def settle(queue, job, statuses=("done", "failed", "cancelled"), timeout=10.0):
    deadline = time.monotonic() + timeout
    while job.status not in statuses:
        assert time.monotonic() < deadline, f"{job.id} still {job.status}"
        time.sleep(0.002)
    return job


@pytest.fixture
def stub():
    return Stub()


@pytest.fixture
def queue(stub):
    q = JobQueue(stub, max_queued=3, keep=10, ttl=600)
    yield q
    stub.release.set()
    q.close(timeout=5)


def test_one_optimization_at_a_time_and_one_pass_jobs_are_not_stuck_behind_it(queue, stub):
    first = queue.submit("optimize", "a")
    settle(queue, first, ("running",))
    second = queue.submit("optimize", "b")
    quick = [settle(queue, queue.submit(m, m)) for m in ("adain", "fast", "texture")]
    assert all(job.status == "done" for job in quick)
    assert first.status == "running" and second.status == "queued"
    assert queue.position(second) == 0 and queue.position(first) is None
    assert queue.status(second.id)["queue_position"] == 0
    stub.release.set()
    assert settle(queue, first).status == "done" and settle(queue, second).status == "done"
    assert stub.started.index(second.id) > stub.started.index(quick[-1].id)


def test_the_cap_on_waiting_jobs_holds_in_each_lane(queue, stub):
    """Optimizations filling their lane turned one-pass jobs away (429), which never wait behind them."""
    running = queue.submit("optimize", "a")
    settle(queue, running, ("running",))
    waiting = [queue.submit("optimize", str(i)) for i in range(3)]
    assert [queue.position(j) for j in waiting] == [0, 1, 2]
    assert queue.full("optimize") and not queue.full("adain") and not queue.full()
    with pytest.raises(QueueFull, match=r"the queue is full \(3 optimizations waiting\)"):
        queue.submit("optimize", "one too many")
    assert settle(queue, queue.submit("adain", "a one-pass job still runs")).status == "done"
    queue.cancel(waiting[0].id)   # room again
    assert not queue.full("optimize") and queue.submit("optimize", "now it fits").status == "queued"
    held = queue.submit("fast", "hold")   # the one-pass lane has a cap of its own
    settle(queue, held, ("running",))
    for _ in range(3):
        queue.submit("texture", "hold")
    assert queue.full("fast") and queue.full() == "the queue is full (3 optimizations waiting); try again when one has finished"
    with pytest.raises(QueueFull, match=r"\(3 one-pass jobs waiting\)"):
        queue.submit("adain", "one too many")


def test_cancel_a_waiting_job_and_a_running_one(queue, stub):
    running = queue.submit("optimize", "a")
    settle(queue, running, ("running",))
    waiting = [queue.submit("optimize", s) for s in ("b", "c")]
    assert queue.cancel(waiting[0].id).status == "cancelled"       # at once, never started
    assert queue.position(waiting[1]) == 0 and waiting[0].spec is None
    queue.cancel(running.id)
    assert settle(queue, running).status == "cancelled" and running.image == b"png"   # its picture so far
    assert settle(queue, waiting[1], ("running",))
    assert waiting[0].id not in stub.started
    assert queue.cancel("no such job") is None


def test_finished_jobs_expire_by_count_and_by_time(stub):
    now = [1000.0]
    stub.release.set()
    queue = JobQueue(stub, max_queued=5, keep=2, ttl=60, clock=lambda: now[0])
    try:
        jobs = []
        for i in range(3):
            jobs.append(settle(queue, queue.submit("adain", str(i))))
            now[0] += 1
        assert queue.get(jobs[0].id) is None, "the oldest beyond `keep` should be gone"
        assert queue.get(jobs[1].id) is jobs[1] and queue.get(jobs[2].id) is jobs[2]
        now[0] += 59
        assert queue.get(jobs[1].id) is None and queue.get(jobs[2].id) is jobs[2]   # 60 s after it finished
        now[0] += 1
        assert queue.get(jobs[2].id) is None and queue.counts()["done"] == 0
        stub.release.clear()
        running = queue.submit("optimize", "long")
        settle(queue, running, ("running",))
        now[0] += 10_000
        assert queue.get(running.id) is running, "a running job never expires"
    finally:
        stub.release.set()
        queue.close(timeout=5)


def test_a_failing_job_fails_alone_and_frees_its_inputs(queue, stub):
    stub.release.set()
    bad = settle(queue, queue.submit("adain", "bad"))
    assert bad.status == "failed" and bad.error == "that picture is too small"
    crash = settle(queue, queue.submit("adain", "crash"))
    assert crash.status == "failed" and crash.error == "internal error: something broke"
    assert bad.spec is None and crash.spec is None and crash.image is None
    assert settle(queue, queue.submit("adain", "fine")).status == "done"   # the worker lives on


def test_close_cancels_what_runs_and_waits(stub):
    queue = JobQueue(stub, max_queued=3)
    running = queue.submit("optimize", "a")
    settle(queue, running, ("running",))
    waiting = queue.submit("optimize", "b")
    queue.close(timeout=5)
    assert running.status == "cancelled" and waiting.status == "cancelled"
    with pytest.raises(QueueFull, match="shutting down"):
        queue.submit("adain", "late")


def test_ten_clients_posting_at_once_get_202_or_429_and_the_server_stays_up():
    stub = Stub()
    with client(runner=stub, max_queued=3) as c:
        def post(i):
            return c.post("/api/jobs", data={"method": "texture", "size": "32", "model": "starry_night_texture"}) \
                if i % 2 else c.post("/api/jobs", data={"method": "optimize", "content": "chelsea.jpg",
                                                         "style": "starry_night.jpg", "size": "32", "steps": "2"})
        first = post(0)
        assert first.status_code == 202
        wait(c, first.json()["id"], until=("running",), timeout=10)
        with ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(post, range(2, 12)))
        codes = [a.status_code for a in answers]
        assert set(codes) <= {202, 429} and 429 in codes and codes.count(202) >= 3, codes
        full = next(a for a in answers if a.status_code == 429)
        assert "the queue is full" in full.json()["error"] and full.headers["retry-after"] == "5"
        stub.release.set()
        for a in answers:
            if a.status_code == 202:
                assert wait(c, a.json()["id"], timeout=10)["status"] == "done"
        assert c.post("/api/jobs", data={"method": "texture", "size": "32"}).status_code == 202


def test_cancel_through_the_api():
    stub = Stub()
    with client(runner=stub) as c:
        job = c.post("/api/jobs", data={"method": "optimize", "content": "chelsea.jpg", "style": "starry_night.jpg",
                                        "size": "32", "steps": "2"}).json()["id"]
        wait(c, job, until=("running",), timeout=10)
        queued = c.post("/api/jobs", data={"method": "optimize", "content": "chelsea.jpg",
                                           "style": "starry_night.jpg", "size": "32", "steps": "2"}).json()["id"]
        assert c.get(f"/api/jobs/{queued}").json()["queue_position"] == 0
        assert c.delete(f"/api/jobs/{queued}").json()["status"] == "cancelled"
        assert c.get(f"/api/jobs/{queued}/image").status_code == 404
        assert c.delete(f"/api/jobs/{job}").status_code == 200
        assert wait(c, job, timeout=10)["status"] == "cancelled"
        assert c.get(f"/api/jobs/{job}/image").content == b"png"


def test_a_job_without_images_does_not_wait_for_an_uploads_decoding(monkeypatch):
    """Every submission took one lock, inside the threads the other routes run in: six slow
    uploads held a texture job's 202 for 28 s, and forty a status poll for 13 s."""
    entered, release = threading.Event(), threading.Event()
    real = forms.FormReader._fast

    def slow(self, *args):
        entered.set()
        assert release.wait(10)
        return real(self, *args)
    monkeypatch.setattr(forms.FormReader, "_fast", slow)
    with client(runner=Stub()) as c, ThreadPoolExecutor(1) as pool:
        upload = pool.submit(c.post, "/api/jobs", data={"method": "fast", "model": "starry_night", "size": "32"},
                             files=files(photo_png()))
        assert entered.wait(10)
        start = time.monotonic()
        texture = c.post("/api/jobs", data={"method": "texture", "size": "32"})
        assert texture.status_code == 202 and time.monotonic() - start < 5
        assert wait(c, texture.json()["id"], timeout=5)["status"] == "done"
        assert not upload.done()
        release.set()
        assert upload.result(timeout=10).status_code == 202



def test_the_runner_hands_the_heap_back_after_large_and_failed_jobs_and_small_ones_once_idle(monkeypatch):
    import time
    from types import SimpleNamespace
    from serve_helpers import shared_runner
    from stylekit.serve import runners
    given = []
    monkeypatch.setattr(runners.heap, "give_back", lambda: given.append(time.monotonic()))
    monkeypatch.setattr(runners, "GIVE_BACK_WHEN_IDLE", 0.3)
    runner = shared_runner()

    def one_pass(side):
        def run(job, spec):
            job.sidecar = {"size": [side, side]}
        return run
    for method, run, at_once in (("fast", one_pass(1024), 1), ("optimize", lambda job, spec: None, 1),
                                 ("texture", lambda job, spec: 1 / 0, 1), ("fast", one_pass(512), 0)):
        given.clear()
        monkeypatch.setattr(runner, f"_{method}", run, raising=False)
        job = SimpleNamespace(method=method, spec=None, sidecar=None)
        if method == "texture":
            with pytest.raises(ZeroDivisionError):
                runner(job)
        else:
            runner(job)
        assert len(given) == at_once, method
    done = time.monotonic()   # a small picture's heap: kept for the next job, handed back once idle
    time.sleep(0.6)
    assert len(given) == 1 and given[0] - done >= 0.25
    given.clear()   # ... and a job that starts meanwhile keeps it
    runner(SimpleNamespace(method="fast", spec=None, sidecar=None))
    runner(SimpleNamespace(method="fast", spec=None, sidecar=None))
    time.sleep(0.1)
    monkeypatch.setattr(runner, "_fast", lambda job, spec: time.sleep(0.5) or one_pass(512)(job, spec), raising=False)
    runner(SimpleNamespace(method="fast", spec=None, sidecar=None))
    assert given == []
    time.sleep(0.5)
    assert len(given) == 1
