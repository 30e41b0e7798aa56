from stylekit.base.interrupt import exit_now, quiet_start

quiet_start()  # first, before torch loads: Ctrl-C or SIGTERM now ends quietly

from stylekit.cli.main import main  # noqa: E402

exit_now(main())  # no interpreter teardown: a stopped run ends as soon as its work is saved
