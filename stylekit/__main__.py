import sys

from stylekit.cli.main import main

sys.exit(main())
