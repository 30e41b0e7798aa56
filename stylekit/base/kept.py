"""Values computed from arrays, kept for the next time the same pixels come: a digest of an
array's values as the key, and a small least-recently-used store bounded in count and bytes.
numpy only (the torch-free one-pass path uses it)."""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np


def pixels_key(x: np.ndarray) -> bytes:
    """A digest of an array's shape and values: the same pixels, the same key."""
    digest = hashlib.blake2b(np.array(x.shape, dtype=np.int64).tobytes(), digest_size=20)
    digest.update(memoryview(np.ascontiguousarray(x)).cast("B"))
    return digest.digest()


class Kept:
    """The last values computed from arrays, by their pixels (`pixels_key`): at most `count`
    of them, and of at most `limit` bytes in all (what `size` says a value holds)."""

    def __init__(self, count: int, limit: int = 1 << 62, size=lambda value: 0):
        self.count, self.limit, self.size = count, limit, size
        self._values: OrderedDict[bytes, object] = OrderedDict()
        self._lock = threading.Lock()   # the web app's jobs may run side by side

    def get(self, key: bytes):
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
            return self._values.get(key)

    def put(self, key: bytes, value) -> None:
        if self.size(value) > self.limit:
            return
        with self._lock:
            self._values[key] = value
            while len(self._values) > self.count or sum(map(self.size, self._values.values())) > self.limit:
                self._values.popitem(last=False)

    def __deepcopy__(self, memo) -> "Kept":   # a copy (of an encoder that holds one) starts empty
        return Kept(self.count, self.limit, self.size)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
