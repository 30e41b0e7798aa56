"""Signals: Ctrl-C (SIGINT) and SIGTERM stop a run the same way, once, and keep its work.

- `quiet_start()`, first thing in every program (run.py, `python -m ...`): a signal during
  the imports ends the process at once with one line and no traceback (nothing is written
  yet); 130 for SIGINT, 143 for SIGTERM.
- `stop_on_signals()`, around every command (`cli.common.run_command`) and the training
  loop: the first SIGINT or SIGTERM raises KeyboardInterrupt where the run is, and the run
  keeps its work (the engine its best image, the training loop its checkpoint). Later signals
  are noted, never raised: the saving of that work is not cut short by a second Ctrl-C.
  `exit_code()` then says 130 or 143, and `kept()` which files the command wrote
  (`base.files` notes each one as it is put in place, `note_written`).
- `responsive()`: a backward pass is one long call into PyTorch, during which Python runs no
  signal handler; inside this block every saved tensor the backward pass reads goes through a
  Python function, so the handler runs between its operations, not after all of them.

This module is loaded first, before anything else (the interpreter's own start, some 50 ms,
is out of its reach): it imports only what the interpreter has loaded already.
"""
import _signal
import contextlib
import os
import sys

SIGNALS = (_signal.SIGINT, _signal.SIGTERM)
_SHOWN = 3  # names of written files quoted by `kept`

# phase: "start" (no command yet), "running" (inside the outermost stop_on_signals, main
# thread), "done" (a command has finished: the program is on its way out).
_state = {"phase": "start", "depth": 0, "signum": None, "raise": False, "told": False,
          "written": 0, "names": [], "held": 0, "leave": None}


def _main_thread() -> bool:
    import threading
    return threading.current_thread() is threading.main_thread()


def _leave_at_start(signum, frame):
    if _state["phase"] == "done":
        return  # the command has finished and reported; the program ends with its own code
    if _state["held"]:   # inside `held()`: leave once it is over
        _state["leave"] = _state["leave"] or signum
        return
    os.write(2, b"\ninterrupted; nothing was written\n")
    os._exit(128 + signum)


def quiet_start() -> None:
    """For a program's first lines: until a command takes the signals over, SIGINT or SIGTERM
    ends the process quietly (exit 130 or 143), with nothing written."""
    try:
        for s in SIGNALS:
            _signal.signal(s, _leave_at_start)
    except ValueError:  # not the main thread
        pass


def _stop(signum, frame):
    if _state["signum"] is None:
        _state["signum"] = signum
        if _state["raise"]:
            raise KeyboardInterrupt
        return
    if _state["raise"] and not _state["told"]:
        _state["told"] = True
        os.write(2, b"\nalready stopping: the work so far is being saved\n")


class stop_on_signals:
    """SIGINT and SIGTERM raise KeyboardInterrupt inside this block, the first one only.

    Only the main thread can install signal handlers: elsewhere, and inside an enclosing
    block, this does nothing of its own."""

    def __enter__(self):
        self.main = _main_thread()
        self.outer = self.main and not _state["depth"]
        _state["depth"] += self.main
        if self.outer:
            _state.update(phase="running", signum=None, told=False, written=0, names=[])
            self.previous = {s: _signal.signal(s, _stop) for s in SIGNALS}
            _state["raise"] = True
        return self

    def __exit__(self, *exc):
        _state["depth"] -= self.main
        if self.outer:
            _state.update(phase="done", **{"raise": False})  # from here on a signal is noted, not raised
            for s, handler in self.previous.items():
                _signal.signal(s, handler)
        return False


# The name this had when only SIGTERM needed translating (SIGINT already raised).
sigterm_as_interrupt = stop_on_signals


@contextlib.contextmanager
def held():
    """Inside, a first signal is noted, not raised; it is raised on leaving (before a command
    has started, the program ends on leaving). For writes of a few milliseconds whose temporary
    files a KeyboardInterrupt between two lines could strand (one in 14 stopped `fast` batches
    left a `.NAME.png.xxxx.tmp`; a signal at start-up, the output folder's write probe)."""
    if not _main_thread():
        yield
        return
    raising, before = _state["raise"], _state["signum"]
    _state["raise"] = False
    _state["held"] += 1
    try:
        yield
    finally:
        _state["held"] -= 1
        _state["raise"] = raising
        if not _state["held"] and _state["leave"]:
            _leave_at_start(_state["leave"], None)
    if raising and before is None and _state["signum"] is not None:
        raise KeyboardInterrupt


def finishing() -> None:
    """The command's work is over (it returned or raised): a signal from here on is noted,
    not raised, so its ending (the message, the exit code) is not cut short."""
    if _main_thread() and _state["depth"] <= 1:
        _state["raise"] = False


def signalled() -> bool:
    """Whether a signal has come since the command started (whether or not its
    KeyboardInterrupt reached the command: one raised inside a C extension's import, say, comes
    out as an ImportError)."""
    return _state["phase"] == "running" and _state["signum"] is not None


def exit_code() -> int:
    """The exit code of an interrupted command: 128 + the signal (130 when no signal came,
    for a KeyboardInterrupt raised by the code itself)."""
    return 128 + (_state["signum"] or _signal.SIGINT)


def note_written(path) -> None:
    """A file was put in place (called by base.files for every finished file)."""
    if _state["phase"] == "running" and str(path) not in _state["names"]:   # a checkpoint saved twice is one file
        _state["written"] += 1
        if len(_state["names"]) < _SHOWN:
            _state["names"].append(str(path))


def kept() -> str:
    """What an interrupted command leaves: 'nothing was written', or the files it wrote."""
    n, names = _state["written"], _state["names"]
    if not n:
        return "nothing was written"
    more = f" and {n - len(names)} more" if n > len(names) else ""
    return f"kept {n} finished file{'s' if n > 1 else ''}: {', '.join(names)}{more}"


def _same(tensor):
    return tensor


def responsive():
    """Around a forward pass whose backward pass should stop promptly on a signal (see above)."""
    import torch
    return torch.autograd.graph.saved_tensors_hooks(_same, _same)


def exit_now(code: int) -> None:
    """End the program with `code` once its command has returned: every file it wrote is
    closed and in place, its output is flushed here; the interpreter's own teardown is skipped.
    With torch loaded that teardown takes a second or two (torch's optimizers import its
    compiler stack, some 2,000 modules, on first use), time a stopped run would keep the shell
    waiting after its work was saved."""
    import logging
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(0 if code is None else code if isinstance(code, int) else 1)
