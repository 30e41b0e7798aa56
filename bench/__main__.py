"""`python -m bench`: kept for scripts written before the toolkit moved into stylekit/."""
import sys

from stylekit.base.interrupt import quiet_start

quiet_start()  # first, before torch loads: Ctrl-C or SIGTERM now ends quietly

from stylekit.cli.bench import main  # noqa: E402

sys.exit(main())
