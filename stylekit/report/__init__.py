"""The website report: every experiment of the assignment and the bells & whistles, run (or
reused) and rendered into a static site. Data flows down this list:

    inputs       the bundled images shown, their titles and credits
    runs         Scale, where results go, Run/Experiment/Bell/Figure, `ensure` (reuse or compute)
    labels       labelled sheet cells (DejaVu Sans), number formats, a run's settings in a line
    measures     distances and times the text quotes that no sidecar holds
    part1_2      Parts 1 and 2: reconstruction and texture, layers and noise seeds
    part3        Part 3: the grid, content vs noise init, the style-weight sweep, favourites
    experiments  the registry of those experiments; one part's on their own
    details      the numbers of the implementation-details section
    bells_*      the bells & whistles (control, video, networks, one pass); `bells` lists them
    site         the renderer: templates/ into index.html, style.css and img/

Its command is `python -m stylekit report` (stylekit/cli/report.py).
"""
