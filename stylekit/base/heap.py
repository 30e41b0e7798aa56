"""Large freed buffers kept in the process's heap for the next allocation, instead of being
handed back to the kernel and faulted in again page by page.

glibc gives each allocation above its mmap threshold (128 KB, adapting up to 32 MB) a mapping
of its own and unmaps it when freed, and trims the heap's free top above 128 KB. A one-pass
network allocates and frees activations of tens of MB at every layer, so each pass spends much
of its time on page faults of fresh zeroed pages: with both thresholds at 128 MB, WCT's pass at
512 px was 25-31% shorter in bf16 and 16-20% in fp32 (BENCHMARKS.md, "Freed buffers kept").
Buffers above 128 MB (print sizes) still get their own mappings, which bounds what is kept.
Linux with glibc only; elsewhere nothing changes.
"""
from __future__ import annotations

import ctypes

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8   # glibc's mallopt parameters
KEEP_BELOW = 128 << 20   # bytes
# Up to this many output pixels a one-pass run keeps freed buffers: its pass is a quarter
# shorter, and its peak stays well within the memory check's estimate, which the kept memory
# overran at 1024x768 (BENCHMARKS.md, "Freed buffers kept").
KEEP_UP_TO_PIXELS = 512 * 512


def _libc(name: str):
    try:
        return getattr(ctypes.CDLL("libc.so.6"), name)
    except (OSError, AttributeError):   # not glibc
        return None


def keep_freed_buffers(limit: int = KEEP_BELOW) -> bool:
    """Keep freed buffers under `limit` bytes in the heap; whether the C library took it."""
    mallopt = _libc("mallopt")
    if mallopt is None:
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, ctypes.c_int(limit))) and bool(mallopt(M_TRIM_THRESHOLD, ctypes.c_int(limit)))


def one_heap() -> bool:
    """Every thread allocates from the main heap; whether the C library took it. glibc gives
    other threads arenas of their own, whose heaps hold at most 64 MB each, so a worker thread's
    large activations were mapped and unmapped at every layer whatever `keep_freed_buffers`
    said. Call before the threads allocate."""
    mallopt = _libc("mallopt")
    return mallopt is not None and bool(mallopt(M_ARENA_MAX, ctypes.c_int(1)))


def give_back() -> bool:
    """Hand the heap's free memory back to the kernel (after a job, in a process that keeps
    freed buffers); whether any was."""
    trim = _libc("malloc_trim")
    return trim is not None and bool(trim(ctypes.c_size_t(0)))
