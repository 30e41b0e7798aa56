"""What the report runs: the planned jobs are the ones earlier builds ran, so that their
sidecars (results/report/, kept between builds) stay reusable and `make report` only re-renders."""
import pytest
import torch

from stylekit.base.device import resolve_precision
from stylekit.base.files import write_json
from stylekit.base.paths import CONTENT_DIR, STYLE_DIR
from stylekit.optim.jobs import reusable
from stylekit.report import bells_control, bells_networks, experiments, part1_2, part3
from stylekit.report.inputs import CHENONCEAU, STARRY

CPU = torch.device("cpu")
C, S = (lambda name: str(CONTENT_DIR / name)), (lambda name: str(STYLE_DIR / name))
FIVE = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]

# The `settings` of a sidecar of the full report as earlier builds wrote them, written out here
# rather than computed, so that a change to a default or to a job's settings shows up as a
# failure: every run of results/report/ would otherwise be recomputed by the next full build.
# (style_normalize and style_layer_weights came later: `jobs.reusable` fills them in.)
EARLIER = {"content": C("chenonceau.jpg"), "styles": [S("starry_night.jpg")], "mask": None, "part": 3, "size": 256,
           "steps": 300, "init": "content", "seed": 0, "content_weight": 1.0, "style_weight": 1e6, "tv_weight": 0.0,
           "hist_weight": 0.0, "content_layers": ["conv4_2"], "style_layers": FIVE, "hist_layers": [],
           "style_blend": None, "preserve_color": None, "style_scale": 1.0, "optimizer": "lbfgs", "lr": None,
           "multiscale": "auto", "weights": "original"}
SIDECARS = {
    "part1/chenonceau_conv1_1_noise_seed0.png": dict(styles=[], part=1, steps=250, init="noise", style_weight=0.0,
                                                     content_layers=["conv1_1"], style_layers=[]),
    "part1/chenonceau_conv4_2_noise_seed1.png": dict(styles=[], part=1, steps=250, init="noise", seed=1,
                                                     style_weight=0.0, style_layers=[]),
    "part2/starry_night_conv1_1_seed0.png": dict(content=None, part=2, init="noise", content_weight=0.0,
                                                 content_layers=[], style_layers=["conv1_1"]),
    "part2/starry_night_upto_conv5_1_seed0.png": dict(content=None, part=2, init="noise", content_weight=0.0,
                                                      content_layers=[]),
    "part3/chenonceau_starry_night_content.png": {},
    "part3/chenonceau_starry_night_noise.png": dict(init="noise"),
    "part3/chelsea_great_wave_content.png": dict(content=C("chelsea.jpg"), styles=[S("great_wave.jpg")]),
    "sweep/chenonceau_starry_night_content_sw10000.png": dict(style_weight=1e4),
    "sweep/chenonceau_starry_night_content_sw1e+07.png": dict(style_weight=1e7),
    "favourites/china_cafe_terrace_content.png": dict(content=C("china.jpg"), styles=[S("cafe_terrace.jpg")],
                                                      size=512, steps=200),
    "bells/colour_luminance.png": dict(preserve_color="luminance"),
    "bells/colour_histogram.png": dict(preserve_color="histogram"),
    "bells/mask_kandinsky_starry.png": dict(styles=[S("composition_viii.jpg"), S("starry_night.jpg")],
                                            mask="ROOT/bells/chenonceau_sky_mask.png"),
    "bells/texture_hist.png": dict(content=None, part=2, init="noise", content_weight=0.0, content_layers=[],
                                   hist_weight=1e3, hist_layers=["relu1_1", "relu4_1"]),
    "bells/blend_3.png": dict(styles=[S("starry_night.jpg"), S("great_wave.jpg")], style_blend=[0.3, 0.7]),
    "fast/opt_chenonceau_starry_night.png": dict(size=512, steps=200),
}


class _Planned(Exception):
    pass


def planned_jobs(root, quick=False, monkeypatch=None) -> list:
    """(label, Job) of every experiment, and of the bells whose runs are optimizations."""
    todo = list(experiments.all_jobs(quick, root))

    def record(pairs, *args, **kwargs):
        todo.extend(pairs)
        raise _Planned

    monkeypatch.setattr(bells_control, "ensure", record)
    for bell in (bells_control.colour, bells_control.masks, bells_control.histogram, bells_control.blend):
        with pytest.raises(_Planned):
            bell(None, CPU, quick, root, False)
    size, steps = bells_networks.fast_sizes(quick)
    todo += [("fast", bells_networks.opt_job(root, CHENONCEAU, style, size, steps))
             for style in bells_networks.FAST_STYLES]
    return todo


def test_earlier_sidecars_stay_reusable(tmp_path, monkeypatch):
    jobs = {str(job.out.relative_to(tmp_path)): job for _, job in planned_jobs(tmp_path, monkeypatch=monkeypatch)}
    for name, changes in SIDECARS.items():
        assert name in jobs, f"the report no longer plans {name}"
        job = jobs[name]
        settings = {**EARLIER, **changes, "precision": resolve_precision("auto", CPU)}
        if settings["mask"]:
            settings["mask"] = settings["mask"].replace("ROOT", str(tmp_path))
        job.out.parent.mkdir(parents=True, exist_ok=True)
        job.out.write_bytes(b"png")
        write_json(job.out.with_suffix(".json"), {"settings": settings, "status": "done"})
        assert reusable(job, CPU) is not None, f"{name}: {job.recorded()} != {settings}"


@pytest.mark.parametrize("quick", [False, True])
def test_a_shared_picture_is_one_run(tmp_path, monkeypatch, quick):
    """The grid's runs are also the comparison's, the sweep's and the bells' starting points:
    one file, so they must be one set of settings."""
    by_out = {}
    for label, job in planned_jobs(tmp_path, quick, monkeypatch):
        by_out.setdefault(job.out, []).append((label, job.recorded()))
    for out, pairs in by_out.items():
        assert all(r == pairs[0][1] for _, r in pairs), f"{out} is planned with different settings: {pairs}"
    shared = {out.relative_to(tmp_path).as_posix() for out, pairs in by_out.items() if len(pairs) > 1}
    assert {"part3/chenonceau_starry_night_content.png", "part2/starry_night_upto_conv5_1_seed0.png"} <= shared
    assert all(out.suffix == ".png" and tmp_path in out.parents for out in by_out)


def test_for_part_runs_that_parts_experiments(monkeypatch, tmp_path):
    calls = []

    def fake(name):
        def experiment(cnn, device, quick, out_root, progress=True, **images):
            calls.append((name, quick, out_root, {k: v.name for k, v in images.items()}))
            return name
        return experiment

    for module, names in ((part1_2, ("part1_ablation", "part1_two_noises", "part2_ablation", "part2_two_noises")),
                          (part3, ("part3_compare_init",))):
        for name in names:
            monkeypatch.setattr(module, name, fake(name))
    assert experiments.for_part(1, None, CPU, False, tmp_path) == ["part1_ablation", "part1_two_noises"]
    assert calls[0] == ("part1_ablation", False, tmp_path, {"content": "chenonceau.jpg"})
    assert experiments.for_part(2, None, CPU, True, tmp_path, style=STYLE_DIR / "great_wave.jpg") == \
        ["part2_ablation", "part2_two_noises"]
    assert calls[-1] == ("part2_two_noises", True, tmp_path, {"style": "great_wave.jpg"})
    assert experiments.for_part(3, None, CPU, False, tmp_path, content=CONTENT_DIR / "chelsea.jpg") == \
        ["part3_compare_init"]
    assert calls[-1][3] == {"content": "chelsea.jpg", "style": STARRY.name}
