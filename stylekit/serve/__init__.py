"""The local web app, `python -m stylekit serve`: one page over every method of the project, and
the small HTTP API that page (and any script) drives. A front end, like `stylekit.cli`: it sits
on the engine and the networks and nothing below imports it.

    forms    the multipart job form -> a validated `Spec`, with the CLI's checks and words
    jobs     the job queue: one optimization at a time, one-pass jobs beside it, a cap, expiry
    runners  what a job does: optimize, fast, adain, texture; the shipped models by name
    app      the FastAPI routes and the static page (static/: index.html, app.js, style.css)
"""
