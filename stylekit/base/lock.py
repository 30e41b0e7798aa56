"""One process at a time per output: a lock in the temporary folder, named by the output's path
(nothing beside the output, no folder made for a run refused later)."""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from pathlib import Path

from .errors import InputError
from .files import cannot_write


@contextlib.contextmanager
def only_run_on(out: Path, what: str = "training run"):
    """Inside: this process is the one `what` writing `out` (a training run's checkpoint and
    model; a transfer's picture, sidecar and plot). Two training runs at once took turns at the
    checkpoint and one's model replaced the other's; two transfers left one's plot beside the
    other's picture."""
    key = hashlib.sha1(os.fsencode(out.resolve())).hexdigest()[:16]   # any bytes a file name may hold
    lock = Path(tempfile.gettempdir()) / f"stylekit-out-{key}.lock"
    fd = _lock_held(lock, out, what)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)


def _lock_held(lock: Path, out: Path, what: str) -> int:
    """An open descriptor of `lock`, exclusively locked. The run before removes the file as it
    ends: a lock taken on the file it had opened just before would be on a name no longer
    there, beside a third run's on the new file, so the lock counts only while it is the
    file the name holds."""
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise cannot_write(lock, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.path.samestat(os.fstat(fd), os.stat(lock)):
                return fd
        except BlockingIOError:
            os.close(fd)
            raise InputError(f"another {what} is writing {out}: wait for it to end, or give another --out") from None
        except FileNotFoundError:
            pass
        os.close(fd)
