"""Giving memory back to the OS once images are freed (glibc only; elsewhere a no-op).

A closed session frees megabytes of base64 at once; glibc's allocator keeps freed heap
memory for reuse, so without these the process's RSS would stay at its peak (bench/results.md).
"""

from __future__ import annotations

import ctypes
import functools
import sys

M_MMAP_THRESHOLD = -3


@functools.cache
def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None  # glibc, not musl
    except OSError:
        return None


def return_freed_images_to_the_os() -> None:
    """Give each allocation over 128 KiB (every base64 image) its own mmap, unmapped when freed."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(M_MMAP_THRESHOLD, 128 * 1024)


def trim() -> bool:
    """Hand free heap pages back now (after a session's images are dropped); True if any went."""
    libc = _libc()
    return bool(libc.malloc_trim(0)) if libc is not None else False
