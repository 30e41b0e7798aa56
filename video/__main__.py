"""`python -m video`: kept for scripts written before the toolkit moved into stylekit/."""
import sys

from stylekit.video.stylize import main

sys.exit(main())
