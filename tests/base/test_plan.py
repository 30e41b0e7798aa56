"""`base.plan.check_plan`: a run's files against its inputs and the file system, before any
work (issue 17, classes 4, 5 and 8)."""
import os

import pytest

from stylekit.base.errors import InputError
from stylekit.base.plan import Numbered, check_plan


def listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def photo(tmp_path):
    p = tmp_path / "photo.png"
    p.write_bytes(b"not really a png, but an input")
    return p


def plan_of(tmp_path, photo, how):
    """(outputs, inputs) of a plan that writes over `photo` in the way `how` says."""
    sub = tmp_path / "sub"
    sub.mkdir()
    if how == "same path":
        return [photo], [photo]
    if how == "through ..":
        return [sub / ".." / photo.name], [photo]
    if how == "output is a symlink to the input":
        (tmp_path / "link.png").symlink_to(photo)
        return [tmp_path / "link.png"], [photo]
    if how == "input is a symlink to the output":
        (tmp_path / "link.png").symlink_to(photo)
        return [photo], [tmp_path / "link.png"]
    if how == "hard link":
        os.link(photo, tmp_path / "hard.png")
        return [tmp_path / "hard.png"], [photo]
    if how == "folder symlink":
        (tmp_path / "alias").symlink_to(tmp_path)
        return [tmp_path / "alias" / photo.name], [photo]
    if how == "a sidecar among several":
        return [tmp_path / "out.png", tmp_path / "out.json", photo], [tmp_path / "other.png", photo]
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["same path", "through ..", "output is a symlink to the input",
                                 "input is a symlink to the output", "hard link", "folder symlink",
                                 "a sidecar among several"])
def test_an_output_that_is_an_input_is_refused(how, tmp_path, photo):
    outputs, inputs = plan_of(tmp_path, photo, how)
    before = listing(tmp_path)
    with pytest.raises(InputError, match="would overwrite the input image"):
        check_plan(outputs, inputs)
    assert listing(tmp_path) == before and photo.read_bytes() == b"not really a png, but an input"


def test_an_input_images_sidecar_is_kept(tmp_path, photo):
    """out photo.jpg's sidecar photo.json is the record of the input photo.png (an earlier run's
    output): it was overwritten."""
    record = tmp_path / "photo.json"
    record.write_text('{"mode": "optimize"}')
    with pytest.raises(InputError, match=r"output .*photo\.json would overwrite .*photo\.json, the record beside "
                                         r"the input image .*photo\.png"):
        check_plan([tmp_path / "photo.jpg", tmp_path / "photo.json"], [photo])
    check_plan([tmp_path / "other.png", tmp_path / "other.json"], [photo])
    record.unlink()
    check_plan([tmp_path / "photo.jpg", tmp_path / "photo.json"], [photo])   # no record there: nothing to keep


def test_numbered_files_that_match_an_input_are_refused(tmp_path, photo):
    snap = tmp_path / "x_step0002.png"
    snap.write_bytes(b"an input named like a snapshot")
    family = Numbered(tmp_path, r"x_step\d{4,}\.png", tmp_path / "x_step0300.png", "x_stepNNNN.png")
    with pytest.raises(InputError, match=r"x_stepNNNN\.png would overwrite the input image .*x_step0002\.png"):
        check_plan([tmp_path / "x.png", family], [photo, snap])
    check_plan([tmp_path / "x.png", family], [photo])   # the same family, no input in it


def test_two_outputs_that_are_one_file_are_refused(tmp_path):
    with pytest.raises(InputError, match="two files of this run would be the same file"):
        check_plan([tmp_path / "a" / "p.png", tmp_path / "a" / ".." / "a" / "p.png"], [])


@pytest.mark.parametrize("name, message", [("x" * 300 + ".png", "longer than"), ("f.txt/x.png", "is a file, not a folder")])
def test_every_output_is_checked_for_writing(name, message, tmp_path):
    (tmp_path / "f.txt").write_text("a file")
    before = listing(tmp_path)
    long_plot = tmp_path / "new" / ("p" * 250 + "_losses.png")   # the picture's name fits, the plot's does not
    with pytest.raises(InputError, match=message):
        check_plan([tmp_path / "new" / "ok.png", tmp_path / name], [])
    with pytest.raises(InputError, match="longer than"):
        check_plan([tmp_path / "new" / ("p" * 250 + ".png"), long_plot], [])
    assert listing(tmp_path) == before   # no folder made, no probe left


def test_a_numbered_family_longest_name_is_checked(tmp_path):
    family = Numbered(tmp_path, r"s_step\d+\.png", tmp_path / ("s" * 250 + "_step0002.png"))
    with pytest.raises(InputError, match="longer than"):
        check_plan([family], [])


def test_a_plan_without_conflicts_passes_and_creates_nothing(tmp_path, photo):
    before = listing(tmp_path)
    check_plan([tmp_path / "new" / "deeper" / "out.png", tmp_path / "new" / "deeper" / "out.json"], [photo, None])
    assert listing(tmp_path) == before


def test_the_record_of_something_else_beside_the_output_is_kept(tmp_path):
    """`texture ... --out models/starry_night.png` wrote its sidecar over the shipped network's
    training record, models/starry_night.json."""
    (tmp_path / "net.pt").write_bytes(b"model")
    (tmp_path / "net.json").write_text("{}")
    with pytest.raises(InputError, match=r"net\.json would be written over, and it is the record of .*net\.pt"):
        check_plan([tmp_path / "net.png", tmp_path / "net.json"], [])
    # an earlier run's record of the same output is replaced, as its picture is
    (tmp_path / "run.png").write_bytes(b"png")
    (tmp_path / "run.json").write_text("{}")
    check_plan([tmp_path / "run.png", tmp_path / "run.json"], [])
    # and so is a record whose picture is gone, with nothing else of its name beside it
    (tmp_path / "gone.json").write_text("{}")
    check_plan([tmp_path / "gone.png", tmp_path / "gone.json"], [])
