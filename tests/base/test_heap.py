"""base.heap: freed buffers under the limit stay in the process instead of going back to the
kernel (so the next pass does not fault them in again); larger ones still go back."""
import subprocess
import sys

import pytest

from conftest import ROOT

MEASURE = """
import os, sys
import numpy as np
from stylekit.base import heap
def rss():
    return int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
kept = heap.keep_freed_buffers() if sys.argv[1] == 'keep' else None
buffer = np.ones(int(sys.argv[2]) << 20, dtype=np.uint8)   # touched: resident
before = rss()
del buffer
print(kept, (before - rss()) >> 20)   # MB handed back to the kernel
"""


def given_back(mode: str, mb: int) -> tuple[str, int]:
    done = subprocess.run([sys.executable, "-c", MEASURE, mode, str(mb)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    kept, mb_back = done.stdout.split()
    return kept, int(mb_back)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_buffers_under_the_limit_stay_and_larger_ones_go_back():
    assert given_back("plain", 64)[1] >= 60   # glibc's default: a mapping of its own, unmapped
    kept, mb_back = given_back("keep", 64)
    assert kept == "True" and mb_back < 4
    assert given_back("keep", 200)[1] >= 190   # above the 128 MB limit: as before


THREADED = """
import os, sys, threading
import numpy as np
from stylekit.base import heap
def rss():
    return int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
heap.keep_freed_buffers()
if sys.argv[1] == 'one-heap':
    assert heap.one_heap()
out = {}
def work():
    buffer = np.ones(64 << 20, dtype=np.uint8)
    before = rss()
    del buffer
    out['back'] = (before - rss()) >> 20
    kept = rss()
    out['given'] = heap.give_back()
    out['trimmed'] = (kept - rss()) >> 20
t = threading.Thread(target=work); t.start(); t.join()
print(out['back'], out['given'], out['trimmed'])
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_worker_threads_buffers_stay_only_in_one_heap_and_go_back_when_asked():
    """A thread's own arena cannot keep 64 MB (its heaps hold at most that), so the buffer went
    back at once; with one heap it stays, until `give_back` hands it to the kernel."""
    def run(mode):
        done = subprocess.run([sys.executable, "-c", THREADED, mode], cwd=ROOT, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        back, given, trimmed = done.stdout.split()
        return int(back), given, int(trimmed)
    assert run("arenas")[0] >= 60
    back, given, trimmed = run("one-heap")
    assert back < 4 and given == "True" and trimmed >= 60
