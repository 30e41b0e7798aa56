"""`python -m bench`: kept for scripts written before the toolkit moved into stylekit/."""
import sys

from stylekit.cli.bench import main

sys.exit(main())
