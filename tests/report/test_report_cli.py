"""The `report` command (`python -m stylekit report`), and the run.py flags mapped onto it:
`--report`, `--part 1|2 --ablate`, `--part 3 --compare-init`. Bad combinations: one error line,
exit 2, before anything is loaded or written."""
import re

import pytest

import run
from stylekit.base.paths import CONTENT_DIR, STYLE_DIR
from stylekit.cli import report as report_cli
from stylekit.cli.main import main as stylekit_main
from stylekit.report import experiments, part1_2, runs
from stylekit.report import site as report_site


@pytest.fixture
def no_vgg(monkeypatch):
    """The command's VGG-19 (`report_cli.load_vgg19`), for tests whose build is faked."""
    monkeypatch.setattr(report_cli, "load_vgg19", lambda *a, **k: None)


@pytest.mark.slow
def test_cli_ablate_and_compare_init_wiring(tmp_path, monkeypatch, capsys):
    """run.py --part 1 --ablate / --part 3 --compare-init reach the experiments (at quick scale here,
    into the output folder's results/, never into the report's)."""
    monkeypatch.setattr(runs, "REPORT_RESULTS", tmp_path / "report_results")
    root = tmp_path / "results"
    assert run.main(["--part", "1", "--ablate", "--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "part1_ablation.png" in out and "part1_two_noises.png" in out
    sidecars = [p for p in (root / "part1").glob("*.json") if not p.name.endswith("_trace.json")]
    assert len(sidecars) == len(part1_2.P1_LAYERS) + len(part1_2.SEEDS)
    assert all(f'"size": {runs.QUICK.size},' in p.read_text() for p in sidecars)
    assert run.main(["--part", "3", "--compare-init", "--quick", "--out", str(tmp_path)]) == 0
    assert (root / "figures" / "part3_compare_init_losses.png").exists()
    assert (root / "part3" / "chenonceau_starry_night_noise_trace.json").exists()
    assert not (tmp_path / "report_results").exists()


def test_cli_ablate_goes_into_the_reports_results(tmp_path, monkeypatch, no_vgg):
    """Without --quick, at the report's scale and into results/report/, for the report to reuse."""
    calls = []

    def for_part(part, cnn, device, quick, out_root, content=None, style=None, progress=True):
        calls.append((part, quick, out_root, content and content.name, style and style.name))
        return []

    monkeypatch.setattr(runs, "REPORT_RESULTS", tmp_path)
    monkeypatch.setattr(experiments, "for_part", for_part)
    assert run.main(["--part", "1", "--ablate"]) == 0
    assert run.main(["--part", "2", "--ablate", "--style", str(STYLE_DIR / "great_wave.jpg")]) == 0
    assert run.main(["--part", "3", "--compare-init", "--content", str(CONTENT_DIR / "chelsea.jpg")]) == 0
    assert stylekit_main(["report", "--compare-init"]) == 0
    assert calls == [(1, False, tmp_path, None, None), (2, False, tmp_path, None, "great_wave.jpg"),
                     (3, False, tmp_path, "chelsea.jpg", None), (3, False, tmp_path, None, None)]


def test_cli_report_wiring_and_bad_combinations(monkeypatch, capsys, tmp_path, no_vgg):
    calls = []

    def fake_build(out_dir, quick=False, **kw):
        calls.append((out_dir, quick))
        (tmp_path / "index.html").write_text("<html></html>")
        return tmp_path / "index.html"

    monkeypatch.setattr(report_site, "build", fake_build)
    monkeypatch.setattr(report_site, "REPORT_DIR", tmp_path)
    monkeypatch.setattr(runs, "REPORT_RESULTS", tmp_path / "results")
    assert run.main(["--report"]) == 0
    assert calls == [(tmp_path, False)]
    assert stylekit_main(["report", "--quick", "--out", str(tmp_path / "quick")]) == 0
    assert calls[-1] == (tmp_path / "quick", True)
    capsys.readouterr()
    for argv in (["--part", "2", "--compare-init"], ["--part", "3", "--ablate"], ["--report", "--part", "1"],
                 ["--part", "1", "--ablate", "--compare-init"], ["--report", "--grid"], ["--report", "--weights", "x"],
                 ["--part", "1", "--ablate", "--out", str(tmp_path / "x")], ["--ablate"],
                 ["--part", "1", "--ablate", "--style", str(STYLE_DIR / "great_wave.jpg")],
                 ["--part", "3", "--compare-init", "--content", str(tmp_path / "missing.jpg")]):
        assert run.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, (argv, err)
    assert len(calls) == 2


def test_unwritable_output_fails_before_the_vgg_loads(tmp_path, monkeypatch, capsys):
    def load_vgg19(*args, **kwargs):
        raise AssertionError("the VGG-19 was loaded before the output folder was checked")

    monkeypatch.setattr(report_cli, "load_vgg19", load_vgg19)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert stylekit_main(["report", "--quick", "--out", str(blocker)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write ") and "is a file, not a folder" in err and err.count("\n") == 1
    assert stylekit_main(["report", "--compare-init", "--quick", "--out", str(blocker / "deeper")]) == 2
    assert capsys.readouterr().err.startswith("error: cannot write ")


def test_help_lists_only_the_reports_flags(capsys):
    with pytest.raises(SystemExit) as exit_:
        stylekit_main(["report", "--help"])
    assert exit_.value.code == 0
    flags = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", capsys.readouterr().out))
    assert flags == {"--help", "--ablate", "--compare-init", "--part", "--content", "--style", "--quick", "--out",
                     "--device"}
