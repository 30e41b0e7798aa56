"""`python -m training_data`: kept for scripts written before the toolkit moved into stylekit/."""
import sys

from stylekit.nets.data import main

sys.exit(main())
