"""`python -m stylekit bench`: its command line is checked before the VGG loads. A flag none of
the chosen sections reads is refused (it would be silently ignored), no section means all of
them, and --keep is checked, not created, until the run starts."""
import pytest

from stylekit.base.errors import InputError
from stylekit.cli import bench
from stylekit.cli.main import build_parser


def parsed(*argv):
    return build_parser().parse_args(["bench", *argv])


def test_no_section_means_every_section_with_the_defaults():
    args = parsed()
    assert bench.checked(args) == [512, 1024]
    assert args.sections == list(bench.SECTIONS)
    assert (args.repeats, args.peer_size, args.pastiche_steps) == (5, 384, 500)


def test_a_flag_is_taken_with_a_section_that_reads_it():
    args = parsed("sizes", "peer", "--sizes", "256,300", "--peer-size", "200", "--pastiche-steps", "7")
    assert bench.checked(args) == [256, 300]
    assert (args.peer_size, args.pastiche_steps, args.sections) == (200, 7, ["sizes", "peer"])


@pytest.mark.parametrize("argv, words", [
    (["overhead", "--sizes", "256"], "--sizes does not apply to `bench overhead`: it sets the sizes section"),
    (["peer", "--repeats", "3"], "--repeats does not apply to `bench peer`: it sets the overhead, fast, adain, convs, stop sections"),
    (["fast", "adain", "--peer-size", "100"], "--peer-size does not apply to `bench fast adain`"),
    (["sizes", "--pastiche-steps", "9"], "--pastiche-steps does not apply"),
    (["nosuchsection"], "no bench section 'nosuchsection'"),
    (["peer", "--models", "starry_night"], "--models does not apply to `bench peer`: it sets the fast section"),
    (["fast", "--models", "starry_night,nosuchnet"], "--models: no network models/nosuchnet.pt"),
    (["fast", "--models", "adain_decoder"], "--models adain_decoder: not a style network"),
    (["fast", "--models", "starry_night_texture"], "--models starry_night_texture: not a style network"),
    (["sizes", "--sizes", "256,x"], "--sizes: not a whole number: 'x'"),
    # a section that writes no picture made an empty --keep folder; '' ran every network
    (["overhead", "--keep", "k"], "--keep does not apply to `bench overhead`: it sets the peer, defaults, sizes"),
    (["fast", "--models", ""], "--models names no network: ''"),
    (["fast", "--models", ", ,"], "--models names no network"),
    (["sizes", "--sizes", "0"], "--sizes: must be at least 1"),
    (["sizes", "--sizes", "200000"], "more than the largest side taken"),
    # a size the machine cannot hold was a table row, 'failed (exit 2)', and exit 0
    (["sizes", "--sizes", "512,100000"], "--sizes 100000: the optimization at 100000x75000 px"),
])
def test_refused_before_anything_runs(argv, words, monkeypatch):
    monkeypatch.setattr(bench, "load_vgg19", lambda *a, **k: pytest.fail("the VGG loaded for a refused command"))
    with pytest.raises(InputError) as refused:
        bench.run(parsed(*argv))
    assert words in str(refused.value)


def test_keep_is_checked_before_the_run_and_made_only_by_it(tmp_path, monkeypatch):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    monkeypatch.setattr(bench, "load_vgg19", lambda *a, **k: pytest.fail("the VGG loaded for a refused command"))
    with pytest.raises(InputError, match="a file, not a folder"):
        bench.run(parsed("sizes", "--keep", str(a_file)))
    assert a_file.read_text() == "mine"
    with pytest.raises(InputError, match="cannot write"):
        bench.run(parsed("sizes", "--keep", str(a_file / "below")))
    # refused for another reason: the folder --keep names is not made
    with pytest.raises(InputError, match="--sizes does not apply"):
        bench.run(parsed("optimizers", "--sizes", "64", "--keep", str(tmp_path / "new" / "pictures")))
    assert not (tmp_path / "new").exists()


def test_adain_refuses_a_missing_photo_before_the_vgg_loads(monkeypatch):
    # it stopped the section at its end, after ten minutes of timed pairs
    from stylekit.base.paths import CONTENT_DIR, STYLE_DIR
    monkeypatch.setattr(bench, "WIDER_PAIRS", [(CONTENT_DIR / "gone.jpg", STYLE_DIR / "great_wave.jpg")])
    monkeypatch.setattr(bench, "load_vgg19", lambda *a, **k: pytest.fail("the VGG loaded for a refused command"))
    with pytest.raises(InputError, match="bench adain measures images/content/gone.jpg, which is missing"):
        bench.run(parsed("adain"))
    assert bench.checked(parsed("fast"))   # the other sections do not read the pairs
