"""stylekit.optim.jobs: a finished result is reused only for the same inputs and settings."""
import json

import torch

from stylekit.settings import Settings


def test_finished_results_are_reused_only_with_the_same_settings(tiny_images, tmp_path, cnn):
    from stylekit.optim.jobs import Job, reusable, run_job
    content, style = tiny_images
    job = Job(out=tmp_path / "r.png", content=content, styles=[style], settings=Settings(size=32, steps=3, precision="fp32"))
    assert reusable(job, torch.device("cpu")) is None
    run_job(job, cnn, torch.device("cpu"))
    assert reusable(job, torch.device("cpu"))["evals"] == 3
    for change in ({"steps": 4}, {"style_weight": 1e5}, {"seed": 1}, {"precision": "bf16"},
                   {"style_normalize": True}, {"style_layer_weights": {"conv5_1": 0.5}}):
        other = Job(job.out, job.settings.replace(**change), job.content, job.styles)
        assert reusable(other, torch.device("cpu")) is None, change
    # A sidecar from before style_normalize existed was made without it: still reusable as such.
    sidecar = job.out.with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    del meta["settings"]["style_normalize"], meta["settings"]["style_layer_weights"]
    sidecar.write_text(json.dumps(meta))
    assert reusable(job, torch.device("cpu"))["evals"] == 3
    assert reusable(Job(job.out, job.settings.replace(style_normalize=True), job.content, job.styles),
                    torch.device("cpu")) is None


def test_a_result_is_not_reused_once_its_input_file_changed(tiny_images, tmp_path, cnn):
    """The report matched runs by path and settings: a photo copied over another under its name
    kept the old picture, labelled and measured as the new photo's."""
    import shutil
    from stylekit.optim.jobs import Job, reusable, run_job
    content, style = tiny_images
    photo = tmp_path / "c.png"
    shutil.copy(content, photo)
    job = Job(out=tmp_path / "r.png", content=photo, styles=[style], settings=Settings(size=32, steps=3, precision="fp32"))
    run_job(job, cnn, torch.device("cpu"))
    assert reusable(job, torch.device("cpu"))["evals"] == 3
    shutil.copy(style, photo)   # another picture under the same name
    assert reusable(job, torch.device("cpu")) is None
    shutil.copy(content, photo)
    assert reusable(job, torch.device("cpu")) is not None
    # sidecars from before the hashes: by settings alone, as before (the report's shipped runs)
    sidecar = job.out.with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    del meta["input_sha256"]
    sidecar.write_text(json.dumps(meta))
    shutil.copy(style, photo)
    assert reusable(job, torch.device("cpu")) is not None
