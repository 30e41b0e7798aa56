"""The report's runs: `ensure` computes a missing run once (with a trace and a progress bar)
and reuses it after; what a `Run` reads from its sidecar; sheets in rows."""
import json

import pytest
import torch

from stylekit.optim.jobs import Job
from stylekit.report import runs
from stylekit.settings import Settings


@pytest.mark.slow
def test_ensure_computes_once_then_reuses(cnn, tiny_images, tmp_path, monkeypatch, capsys):
    content, style = tiny_images
    job = Job(out=tmp_path / "out" / "a.png", content=content, styles=[style], settings=Settings(size=64, steps=3))
    first, = runs.ensure([("tiny", job)], cnn, torch.device("cpu"), progress=True)
    assert first.meta["status"] in ("done", "converged") and first.image.exists() and first.seconds > 0
    assert first.loss("total") is not None and first.loss("no such term") is None
    t, terms = runs.read_trace(first)
    assert len(t) == len(terms) == first.meta["evals"] and t == sorted(t)
    assert "[1/1] tiny" in capsys.readouterr().err, "one bar, named after the run"

    computed = []
    real_run_job = runs.run_job

    def counting(job, *args, **kwargs):
        computed.append(job.out.name)
        return real_run_job(job, *args, **kwargs)

    monkeypatch.setattr(runs, "run_job", counting)
    again = runs.ensure([("tiny", job), ("the same picture", job)], cnn, torch.device("cpu"), progress=False)
    assert computed == [] and [r.meta for r in again] == [first.meta, first.meta]
    assert [r.label for r in again] == ["tiny", "the same picture"]
    assert capsys.readouterr().err == "", "nothing to compute, no bar"

    runs.trace_path(job.out).unlink()
    runs.ensure([("tiny", job)], cnn, torch.device("cpu"), progress=False)
    assert computed == [], "a run without a trace is reused unless the trace is needed"
    runs.ensure([("tiny", job)], cnn, torch.device("cpu"), progress=False, need_trace=True)
    assert computed == ["a.png"] and runs.trace_path(job.out).exists()

    changed = Job(out=job.out, content=content, styles=[style], settings=Settings(size=64, steps=4))
    runs.ensure([("tiny", changed)], cnn, torch.device("cpu"), progress=False)
    assert computed == ["a.png", "a.png"], "other settings: computed again"
    assert json.loads(job.out.with_suffix(".json").read_text())["settings"]["steps"] == 4


def test_ensure_stops_on_interrupt(cnn, tiny_images, tmp_path, monkeypatch):
    content, style = tiny_images
    job = Job(out=tmp_path / "a.png", content=content, styles=[style], settings=Settings(size=64, steps=3))

    class Interrupted:
        status, evals = "interrupted", 1

    monkeypatch.setattr(runs, "run_job", lambda *a, **k: Interrupted())
    with pytest.raises(KeyboardInterrupt):
        runs.ensure([("tiny", job)], cnn, torch.device("cpu"), progress=False)
    assert not runs.trace_path(job.out).exists()


def test_scales_and_rows():
    assert runs.scale_for(True) is runs.QUICK and runs.scale_for(False) is runs.FULL
    assert runs.QUICK.size < runs.FULL.size and runs.QUICK.quick and not runs.FULL.quick
    assert runs.in_rows(list("abcdefg"), 3) == [["a", "b", "c"], ["d", "e", "f"], ["g"]]
    assert runs.in_rows(list("ab")) == [["a", "b"]]
