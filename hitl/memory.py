"""Giving memory back to the OS once images are freed (glibc only; elsewhere a no-op).

A closed session frees megabytes of base64 at once; glibc's allocator keeps freed heap
memory for reuse, so without these the process's RSS would stay at its peak (bench/results.md).
"""

from __future__ import annotations

import ctypes
import sys

M_MMAP_THRESHOLD = -3


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


def trim() -> None:
    """Hand free heap pages back now (after a session's images are dropped)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
