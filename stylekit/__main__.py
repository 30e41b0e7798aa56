import sys

from stylekit.base.interrupt import quiet_start

quiet_start()  # first, before torch loads: Ctrl-C or SIGTERM now ends quietly

from stylekit.cli.main import main  # noqa: E402

sys.exit(main())
