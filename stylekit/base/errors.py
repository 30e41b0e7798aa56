"""Bad input, and short reasons for the messages that report it."""
from __future__ import annotations


class InputError(ValueError):
    """Bad user input. Every front end prints it as one `error: ...` line and exits with code 2."""


class PartlyWritten(InputError):
    """A run that kept its picture, then could not write the rest (its loss plot on a full
    disk): one `error:` line naming what was kept, and exit code 1, for exit 2 says that
    nothing was written."""


def reason(exc: BaseException) -> str:
    """The first line of an exception's message, short, or its type's name."""
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    else:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def one_line(text: str) -> str:
    """`text` with its control characters (a newline in a file's name) written as escapes, so
    that an `error:` line stays one line."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def clipped(text: str, limit: int = 60) -> str:
    """`text` cut to `limit` characters ("..." after): a message quotes what a client sent,
    not all 100 KB of it."""
    return text if len(text) <= limit else text[:limit] + "..."
