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

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3   # glibc's mallopt parameters
KEEP_BELOW = 128 << 20   # bytes
# Up to this many output pixels a one-pass run keeps freed buffers: its pass is a quarter
# shorter, and its peak stays well within the memory check's estimate, which the kept memory
# overran at 1024x768 (BENCHMARKS.md, "Freed buffers kept").
KEEP_UP_TO_PIXELS = 512 * 512


def keep_freed_buffers(limit: int = KEEP_BELOW) -> bool:
    """Keep freed buffers under `limit` bytes in the heap; whether the C library took it."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):   # not glibc
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, ctypes.c_int(limit))) and bool(mallopt(M_TRIM_THRESHOLD, ctypes.c_int(limit)))
