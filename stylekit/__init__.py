"""stylekit: the toolkit around the assignment's three graded files (run.py,
style_and_content.py, utils.py). README.md, "How it is built", maps the folders."""
import os

# ONNX Runtime, on import, writes a telemetry device id under ~/.cache (and prints a coloured
# warning on stderr where the home folder cannot be written): this project runs offline and
# writes only what the user asked for.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
