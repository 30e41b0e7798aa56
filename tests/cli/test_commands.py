"""The toolkit's command line: one command per module, each with only its own flags; run.py's
old mode flags map onto the commands; one error path; imports that run one way."""
import ast
import json
import os
import subprocess
import sys

import pytest

import run
from conftest import ROOT
from stylekit.cli.common import run_command
from stylekit.cli.main import COMMANDS, build_parser, main as toolkit_main


@pytest.mark.parametrize("argv, want", [
    (["--fast", "m.pt", "--content", "c.jpg"], ["fast", "m.pt", "--content", "c.jpg"]),
    (["--content", "c.jpg", "--fast=m.pt"], ["fast", "m.pt", "--content", "c.jpg"]),
    (["--fast-texture", "t.pt", "--seed", "3"], ["texture", "t.pt", "--seed", "3"]),
    (["--adain", "--content", "c.jpg"], ["adain", "--method", "adain", "--content", "c.jpg"]),
    (["--adain", "d.pt", "--content", "c.jpg"], ["adain", "--method", "adain", "--decoder", "d.pt", "--content", "c.jpg"]),
    (["--adain", "--method", "wct"], ["adain", "--method", "wct"]),
    (["--video", "in.mp4", "--out", "o.mp4"], ["video", "in.mp4", "--out", "o.mp4"]),
    (["--train-fast", "--style", "s.jpg"], ["train-fast", "--style", "s.jpg"]),
    (["--report"], ["report"]),
    (["--part", "1", "--ablate"], ["report", "--ablate", "--part", "1"]),
    (["--part", "3", "--compare-init"], ["report", "--compare-init", "--part", "3"]),
    (["--part", "3", "--size", "64"], None),
])
def test_old_mode_flags_become_commands(argv, want):
    assert run.toolkit_argv(argv) == want


def test_every_command_has_only_its_own_flags():
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    commands = subparsers.choices
    for name in ("fast", "texture", "train-fast", "adain", "video", "report", "bench", "photos"):
        assert name in commands, name
    flags = {name: {o for a in p._actions for o in a.option_strings} for name, p in commands.items()}
    assert "--temporal-weight" in flags["video"] and "--temporal-weight" not in flags["adain"]
    assert "--alpha" in flags["adain"] and "--alpha" not in flags["video"] and "--alpha" not in flags["fast"]
    assert "--grid" not in set().union(*flags.values())     # the assignment's own flag, run.py's alone


@pytest.mark.parametrize("argv, words", [
    (["adain", "--grid"], "--grid"),
    (["nosuchcommand"], "nosuchcommand"),
    (["bench", "nosuchsection"], "nosuchsection"),
    (["fast"], "MODEL"),
    # a value that starts like a negative number is the flag's value, refused by its own check
    (["adain", "--content", "images/content/chelsea.jpg", "--style", "images/style/great_wave.jpg",
      "images/style/starry_night.jpg", "--style-blend", "-1,2"], "non-negative numbers"),
    (["adain", "--content", "images/content/chelsea.jpg", "--style", "images/style/great_wave.jpg",
      "--alpha", "-.5"], "between 0"),
    (["adain", "--content", "images/content/chelsea.jpg", "--style", "images/style/great_wave.jpg",
      "--alpha", "-inf"], "between 0"),
    # argparse drops a "--" from a flag's values: --size=-- came through as [] (a traceback)
    (["adain", "--content", "images/content/chelsea.jpg", "--style", "images/style/great_wave.jpg",
      "--size=--"], "--size: expected a value, not '--'"),
    (["serve", "--max-steps=--"], "--max-steps: expected a value, not '--'"),
])
def test_bad_command_lines_give_one_error_line(argv, words):
    done = subprocess.run([sys.executable, "-m", "stylekit", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], done.stderr


# The layers, bottom to top; a module may import from its own layer and those below. Front
# ends (the web app, cli, run.py) sit on top: nothing below imports them. The CLI's shared flags
# (cli.common, cli.options, cli.transfer_options) sit below the web app, whose form is checked by them; of the rest,
# only cli (its `serve` command) imports the web app.
LAYERS = [("stylekit.base",), ("utils",), ("style_and_content",), ("stylekit.settings",), ("stylekit.nets",),
          ("stylekit.optim",), ("stylekit.video",), ("stylekit.report",), ("stylekit.cli.common",),
          ("stylekit.cli.options", "stylekit.cli.transfer_options"), ("stylekit.serve",), ("stylekit.cli",), ("run",)]


def _layer(module: str):
    for rank, names in enumerate(LAYERS):
        for name in names:
            if module == name or module.startswith(name + "."):
                return rank, name
    return None


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
            for alias in node.names:
                yield f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names)


def test_imports_run_one_way():
    sources = {"run": ROOT / "run.py", "utils": ROOT / "utils.py", "style_and_content": ROOT / "style_and_content.py"}
    for path in (ROOT / "stylekit").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        sources[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    wrong = []
    for module, path in sources.items():
        here = _layer(module)
        for target in _imports(path):
            there = _layer(target)
            if here is None or there is None or there[1] == here[1]:
                continue
            if there[0] >= here[0]:
                wrong.append(f"{module} imports {target}")
    assert not wrong, wrong


def test_every_command_module_is_registered():
    """A module of stylekit/cli with a `register` is a command module, and main lists it."""
    modules = {p.stem for p in (ROOT / "stylekit" / "cli").glob("*.py")
               if any(isinstance(n, ast.FunctionDef) and n.name == "register" for n in ast.parse(p.read_text()).body)}
    assert modules == set(COMMANDS.values())


def test_a_named_command_builds_the_parser_of_its_own_module_only():
    """`build_parser` imports only the module of the command named (so `fast` can start without
    torch), and that module registers exactly the commands main maps to it."""
    for name, module in COMMANDS.items():
        choices = next(a for a in build_parser([name])._actions if a.dest == "command").choices
        assert set(choices) == {c for c, m in COMMANDS.items() if m == module}, name
    everything = next(a for a in build_parser(["nosuchcommand"])._actions if a.dest == "command").choices
    assert list(everything) == list(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_help_page_renders(command):
    # argparse expands %-formats in help texts: a bare "%" (as in "20% of --steps") made
    # `video --help` a traceback.
    sub = next(a for a in build_parser([command])._actions if a.dest == "command").choices[command]
    assert f"python -m stylekit {command}" in sub.format_help()


@pytest.mark.parametrize("failure", [
    RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you tried "
                 "to allocate 3260000000 bytes. Error code 12 (Cannot allocate memory)"),
    MemoryError("Unable to allocate 3.04 GiB for an array with shape (1, 64, 4000, 3175) and data type float32"),
    type("RuntimeException", (Exception,), {})("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : std::bad_alloc"),
], ids=["torch", "numpy", "onnxruntime"])
def test_an_allocation_that_fails_is_one_error_line(failure, capsys):
    """The memory check passed but the machine had less when it came to it (a ulimit, other
    programs): torch's or ONNX Runtime's failure came out as a traceback of some 35 lines."""
    def command():
        raise failure
    assert run_command(command) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: out of memory (") and "nothing was written" in err, err
    assert "try a smaller --size" in err


def test_onnx_runtime_out_of_memory_is_the_commands_one_line_alone(tmp_path):
    """Under a memory limit ONNX Runtime logged its failure (coloured, timestamped) on stderr
    before the command's own `error:` line."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (1_200_000_000, 1_200_000_000))
    out = tmp_path / "o.png"
    done = subprocess.run([sys.executable, "-m", "stylekit", "fast", "models/starry_night.pt", "--content",
                           "images/content/chelsea.jpg", "--size", "3000", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, preexec_fn=limit)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: out of memory ("), done.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("code, words", [(13, "Permission denied"), (1, "Operation not permitted")])
def test_a_path_the_user_may_not_enter_is_one_error_line(code, words, capsys):
    """pathlib's is_dir() and is_file() raise PermissionError for a path through a folder the
    user may not enter (as root, the tests cannot make one): a traceback and exit 1 before."""
    def command():
        raise PermissionError(code, words, "/srv/shut/photo.jpg")
    assert run_command(command) == 2
    assert capsys.readouterr().err == f"error: /srv/shut/photo.jpg: {words}\n"


def test_a_name_with_a_newline_stays_on_one_error_line(tmp_path, capsys):
    photo = tmp_path / "two\nlines.jpg"
    photo.write_bytes(b"")
    code = toolkit_main(["adain", "--content", str(photo), "--style", "images/style/starry_night.jpg",
                         "--out", str(tmp_path / "o.png")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "two\\nlines.jpg" in err, err


def test_other_failures_are_not_taken_for_memory():
    def command():
        raise RuntimeError("a bug")
    with pytest.raises(RuntimeError, match="a bug"):
        run_command(command)


def test_onnx_runtime_writes_nothing_to_the_home_folder_and_prints_nothing(tmp_path):
    """With a home folder that cannot be written, ONNX Runtime's import printed a coloured
    telemetry warning before the command's own output; elsewhere it wrote a device id there."""
    out = tmp_path / "o.png"
    home = tmp_path / "home"
    home.mkdir()
    for name, env in (("read-only", {"HOME": str(tmp_path / "not-a-folder" / "x")}), ("writable", {"HOME": str(home)})):
        (tmp_path / "not-a-folder").write_text("")
        done = subprocess.run([sys.executable, "-m", "stylekit", "fast", "models/starry_night.pt", "--content",
                               "images/content/chelsea.jpg", "--size", "64", "--precision", "fp32", "--out", str(out)],
                              cwd=ROOT, capture_output=True, text=True, timeout=120,
                              env={k: v for k, v in {**os.environ, **env}.items() if k != "ORT_DISABLE_TELEMETRY"})
        assert done.returncode == 0 and done.stderr == "", (name, done.stderr)
        assert json.loads(out.with_suffix(".json").read_text())["runtime"] == "onnxruntime"
    assert list(home.iterdir()) == []


@pytest.mark.parametrize("argv", [
    ["fast", "models/starry_night.pt", "--content", ""],
    ["adain", "--content", "", "--style", "images/style/starry_night.jpg"],
    ["video", " ", "--style", "images/style/starry_night.jpg"],
    ["train-fast", "--style", "images/style/starry_night.jpg", "--data", ""],
])
def test_an_empty_path_is_refused_not_taken_for_the_current_folder(argv, capsys, tmp_path):
    """Path('') is '.': `fast MODEL --content ''` searched the whole working folder, .venv too."""
    assert toolkit_main([*argv, "--out", str(tmp_path / ("o.mp4" if argv[0] == "video" else "o.png"))]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: argument ") and err.endswith(": an empty path\n"), err
    assert list(tmp_path.iterdir()) == []


def test_run_py_refuses_an_empty_path(capsys):
    assert run.main(["--content", ""]) == 2
    assert capsys.readouterr().err == "error: argument --content: an empty path\n"
