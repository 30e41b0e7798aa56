"""The one progress reporter: a tqdm bar on stderr for every long job (optimization, training,
video, the report's runs). It opens at the first update, so an input error found before any
work prints alone, without an empty bar above it."""
from __future__ import annotations

import sys


class Progress:
    def __init__(self, total: int, desc: str, unit: str = "eval", initial: int = 0, enabled: bool = True):
        self.total, self.desc, self.unit, self.initial, self.enabled = total, desc, unit, initial, enabled
        self.bar = None

    def _open(self):
        if self.bar is None and self.enabled:
            from tqdm import tqdm
            self.bar = tqdm(total=self.total, initial=self.initial, desc=self.desc, unit=self.unit,
                            dynamic_ncols=True, file=sys.stderr)
        return self.bar

    def update(self, n: int = 1, postfix: dict | None = None) -> None:
        bar = self._open()
        if bar is None:
            return
        if postfix:   # before the update, which redraws: the line shows this update's figures
            bar.set_postfix(postfix, refresh=False)
        bar.update(n)

    def describe(self, desc: str) -> None:
        self.desc = desc
        if self.bar is not None:
            self.bar.set_description(desc)

    def shrink(self, n: int) -> None:
        """`n` planned units will not come (a run converged early)."""
        self.total -= n
        if self.bar is not None:
            self.bar.total = self.total
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
