"""`python -m video --make-demo PATH | --sheet OUT.png VIDEO... [--size N]`: kept for scripts
written before these became `python -m stylekit video-demo` and `video-sheet`."""
import sys

from stylekit.base.interrupt import exit_now, quiet_start

quiet_start()  # first, before torch loads: Ctrl-C or SIGTERM now ends quietly

from stylekit.cli.common import run_command  # noqa: E402
from stylekit.cli.main import main
from stylekit.cli.video import legacy_argv

# The outer run_command reports a bad old-style command line; the command reports its own.
exit_now(run_command(lambda: main(legacy_argv(sys.argv[1:]))))
