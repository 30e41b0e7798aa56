"""Signals: SIGTERM stops a run the way Ctrl-C does (the work so far is kept)."""
from __future__ import annotations

import contextlib
import signal
import threading


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Raise KeyboardInterrupt on SIGTERM inside this block: a run started with `nohup ... &`
    ignores SIGINT, so `kill` is how such a run gets stopped. Only the main thread can install
    signal handlers; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
