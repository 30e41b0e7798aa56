"""What every command shares: a parser whose errors are input errors, argument types, and the
one path by which a command ends on bad input (one `error:` line, exit 2) or on Ctrl-C."""
from __future__ import annotations

import argparse
import errno
import math
import re
import sys
from pathlib import Path
from typing import Callable

from stylekit.base import numbers
from stylekit.base.errors import InputError, PartlyWritten, one_line, reason
from stylekit.base import interrupt
from stylekit.base.limits import MAX_SIDE


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is an InputError: one `error:` line, no usage block."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # argparse takes "-1,2" (a --style-blend with a negative weight) or "-inf" for a flag and
        # says "expected one argument". No flag here starts with a dash and then anything but a
        # letter or a second dash, so those are values, and the flag's own check names what is
        # wrong with them.
        self._negative_number_matcher = re.compile(r"^-(?![-A-Za-z])|^-(?i:inf|infinity|nan)$")

    def _get_values(self, action, arg_strings):
        # `--size=--` reached the flag as an empty list (argparse drops a "--" from a flag's
        # values): a traceback in the CLI, a 500 in the web app, or a run that went on with [].
        if action.option_strings and "--" in arg_strings:
            raise argparse.ArgumentError(action, "expected a value, not '--'")
        return super()._get_values(action, arg_strings)

    def error(self, message):
        raise InputError(message)

    def add_argument(self, *args, **kwargs):
        """As argparse's; a flag of type Path refuses an empty string (Path('') is the current
        folder: `--content ''` stylised every image under it)."""
        if kwargs.get("type") is Path:
            kwargs["type"] = path
        return super().add_argument(*args, **kwargs)

    def parse_args(self, args=None, namespace=None):
        """As argparse's, but a flag of another mode or command is named as such."""
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            flags = [a for a in extra if a.startswith("-")] or extra
            where = f"`{self.prog} {parsed.command}`" if getattr(parsed, "command", None) else self.prog
            raise InputError(f"{', '.join(flags)} {'does' if len(flags) == 1 else 'do'} not apply to {where}")
        return parsed


def path(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path")
    return Path(text)


def _shown_int(value: int) -> str:
    digits = len(str(abs(value)))
    return str(value) if digits < 20 else f"a {digits}-digit number"


# No count is larger: 10**12 steps would outlast the machine, and a bigger one overflows the
# float arithmetic downstream (progress bars, memory estimates).
MAX_COUNT = 10 ** 12


def positive_int(text):
    """A count: a whole number from 1 to MAX_COUNT."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {_shown_int(value)}")
    if value > MAX_COUNT:
        raise argparse.ArgumentTypeError(f"must be at most 10^12, not {_shown_int(value)}")
    return value



def side(text):
    """A side in px: 1 to MAX_SIDE (no machine holds a larger picture)."""
    value = positive_int(text)
    if value > MAX_SIDE:
        raise argparse.ArgumentTypeError(f"{value} px is more than the largest side taken, {MAX_SIDE:,} px")
    return value


MAX_CHANNELS, MAX_BLOCKS = 4096, 100


def channel_count(text):
    """A network's width in channels: 1 to MAX_CHANNELS (the shipped networks have 16)."""
    value = positive_int(text)
    if value > MAX_CHANNELS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_CHANNELS} channels, not {value}")
    return value


def block_count(text):
    """A network's residual blocks: 1 to MAX_BLOCKS (each is built before memory is checked;
    the shipped networks have 5)."""
    value = positive_int(text)
    if value > MAX_BLOCKS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_BLOCKS}, not {value}")
    return value


# A number as a flag is typed: float() also takes "0.0_5", other scripts' digits ("٣") and
# hexadecimal-looking words, which on a command line are typos.
_NUMBER = re.compile(r"[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|inf|infinity|nan)", re.IGNORECASE | re.ASCII)


def number(text):
    """A decimal number as typed (digits, a point, an exponent; inf and nan for the checks after
    to name); -0 is 0, and a number too large for a float is refused rather than read as inf."""
    if not isinstance(text, str) or not _NUMBER.fullmatch(text.strip()):
        raise argparse.ArgumentTypeError(f"not a number: {text!r}")
    value = float(text) + 0.0
    if math.isinf(value) and "inf" not in text.lower():
        raise argparse.ArgumentTypeError(f"too large: {text}")
    return value


def nonneg_float(text):
    """A finite number >= 0 that a 32-bit float holds (weights multiply float32 tensors)."""
    value = number(text)
    if not (value >= 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, not {text}")
    if value > numbers.FLOAT32_MAX:
        raise argparse.ArgumentTypeError(f"must be at most {numbers.FLOAT32_MAX:.3g} (the largest 32-bit float), "
                                         f"not {text}")
    return value


def positive_float(text):
    """A finite number > 0 that a 32-bit float holds (one message for 0 and below alike)."""
    value = number(text)
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, not {text}")
    return nonneg_float(text)


def float_list(text):
    try:   # an empty entry ("1,,1", "1,1,") is refused: dropped, it shifted the weights' count
        values = [number(v) for v in text.split(",")]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}") from None
    if not values or not all(math.isfinite(v) and v >= 0 for v in values) or sum(values) <= 0:
        raise argparse.ArgumentTypeError(f"need non-negative numbers with a positive sum: {text!r}")
    return values


def seed(text):
    """A noise or crop seed: a whole number from 0 to 2**64 - 1 (what torch's generators take)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    try:
        return numbers.check_seed(value, "the seed")
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("the seed ")) from None


def fps(text):
    """A frame rate the GIF and mp4 writers both take (`base.numbers.FPS_RANGE`)."""
    try:
        return numbers.check_fps(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("frame rate ")) from None


# What a command returns when a signal stopped it after it saved its work itself; run_command
# makes it 143 when the signal was SIGTERM.
INTERRUPTED = 130


def run_command(command: Callable[[], int]) -> int:
    """Run a command's body and turn how it ends into an exit code: its own, 2 for bad input
    (one `error:` line), 130 for Ctrl-C and 143 for SIGTERM (`base.interrupt`): the first signal
    stops the command, which keeps its work; one it did not catch ends here, with one line
    naming the files the command had finished, if any. Later signals never cut this short."""
    with interrupt.stop_on_signals():
        try:
            try:
                code = command()
            finally:
                interrupt.finishing()
        except InputError as exc:
            print(f"error: {one_line(str(exc))}", file=sys.stderr)
            return 1 if isinstance(exc, PartlyWritten) else 2
        except OSError as exc:
            if exc.errno not in (errno.ENAMETOOLONG, errno.EACCES, errno.EPERM):
                raise
            # pathlib's exists() and is_dir() raise these for a name the file system refuses, or
            # a path through a folder the user may not enter; each command checks the paths it
            # writes, this is for those it reads
            hint = " (the file system takes 255 bytes a name)" if exc.errno == errno.ENAMETOOLONG else ""
            print(f"error: {one_line(str(exc.filename or 'a path'))}: {exc.strerror}{hint}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(f"interrupted; {interrupt.kept()}", file=sys.stderr)
            return interrupt.exit_code()
        except Exception as exc:   # MemoryError, torch's RuntimeError, ONNX Runtime's own kinds
            if not _out_of_memory(exc):
                raise
            # the memory check passed, but the machine had less when it came to it (other
            # programs, a ulimit): one line, not torch's or ONNX Runtime's many
            print(f"error: out of memory ({reason(exc)}); {interrupt.kept()}; try a smaller --size",
                  file=sys.stderr)
            return 1
        return interrupt.exit_code() if code == INTERRUPTED else code


# How torch (CPU), ONNX Runtime and numpy say an allocation failed.
OUT_OF_MEMORY = ("can't allocate memory", "Cannot allocate memory", "bad_alloc", "bad allocation",
                 "out of memory", "Unable to allocate", "Failed to allocate")


def _out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or any(words in str(exc) for words in OUT_OF_MEMORY)
