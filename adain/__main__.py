"""`python -m adain`: kept for scripts written before the toolkit moved into stylekit/."""
import sys

from stylekit.nets.adain import main

sys.exit(main())
