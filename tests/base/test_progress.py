"""The progress line shows the figures of the update that drew it, and a run's bar names a new
scale from its first evaluation (at print size one evaluation takes half a minute)."""
import time

import run
from stylekit.base.progress import Progress


def test_an_update_draws_its_own_postfix(capsys):
    bar = Progress(3, "job")
    bar.update(1, {"size": 128})
    time.sleep(0.15)   # past tqdm's least interval between two drawings
    bar.update(1, {"size": 256})
    drawn = capsys.readouterr().err
    bar.close()
    assert "size=256" in drawn, drawn


def test_a_new_scale_shows_its_size_on_its_first_evaluation(monkeypatch):
    posted = []

    class Recorder:
        def __init__(self, *args, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, n=1, postfix=None):
            posted.append(postfix)

    def fake_run_job(job, cnn, device, callback):
        for size, steps in job.plan:
            for step in range(1, steps + 1):
                callback({"step": step, "steps": steps, "size": size, "terms": {"content": 1.0, "total": 1.0}})

    class Job:
        plan = [(128, 7), (256, 3)]

    monkeypatch.setattr(run, "Progress", Recorder)
    monkeypatch.setattr(run, "run_job", fake_run_job)
    run.transfer(Job(), None, "cpu", "transfer")
    sizes = [p["size"] if p else None for p in posted]
    assert sizes[7] == 256, sizes          # the 256 px scale's first evaluation
    assert sizes[0] == 128 and sizes[-1] == 256, sizes
