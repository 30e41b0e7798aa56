"""stylekit: the toolkit around the assignment's three graded files (run.py,
style_and_content.py, utils.py). README.md, "How it is built", maps the folders."""
