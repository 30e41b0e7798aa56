"""`python -m adain --train ...` and `python -m adain --build-styles ...`: the command lines from
before the toolkit moved into stylekit/, now `python -m stylekit train-adain ...` and
`python -m stylekit build-styles ...`, which have the same flags."""
import sys

from stylekit.base.interrupt import exit_now, quiet_start

quiet_start()  # first, before torch loads: Ctrl-C or SIGTERM now ends quietly

from stylekit.base.errors import InputError  # noqa: E402
from stylekit.cli.common import run_command
from stylekit.cli.main import main as stylekit_main

MODES = {"--train": "train-adain", "--build-styles": "build-styles"}
USAGE = ("python -m adain needs --train or --build-styles (their flags: "
         "python -m stylekit train-adain --help, python -m stylekit build-styles --help)")


def toolkit_argv(argv: list[str]) -> list[str] | None:
    """['--train', '--steps', '9'] -> ['train-adain', '--steps', '9'] (None without a mode flag).
    A second mode flag stays in place, for the command to refuse."""
    for i, arg in enumerate(argv):
        if arg in MODES:
            return [MODES[arg], *argv[:i], *argv[i + 1:]]
    return None


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    toolkit = toolkit_argv(argv)
    if toolkit is not None:
        return stylekit_main(toolkit)
    if argv in (["-h"], ["--help"]):
        print(USAGE)
        return 0

    def refuse() -> int:
        raise InputError(USAGE)
    return run_command(refuse)


if __name__ == "__main__":
    exit_now(main())  # no interpreter teardown: a stopped run ends as soon as its work is saved
