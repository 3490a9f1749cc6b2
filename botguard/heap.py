"""Give the C heap's freed pages back to the system between a big scan's stages.

Why: what polars allocates goes through jemalloc, tuned to return freed pages
(:data:`botguard.loading.ALLOCATOR`); everything else (Python's objects, numpy's arrays, the
compiled kernels' tables, SQLite's pages) goes through glibc's malloc, which keeps freed memory
for reuse. Each thread allocates in an arena of its own, so what the reader thread or polars'
pool freed is not reused by a later stage running on another thread: on the 5M-line bench log
glibc held 133 MiB free (of a 449 MiB peak) while the report was written. ``malloc_trim(0)``
hands every free page of every arena back (``MADV_DONTNEED``): a few milliseconds per call, so
a scan calls it between stages (:func:`release_freed`), not per batch.

Elsewhere (not glibc: musl, macOS) there is no such call, and nothing is done.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from functools import cache

__all__ = ["release_freed"]


@cache
def _trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none. Looked up among the
    process's own symbols (``ctypes.util.find_library`` would run ``ldconfig``: ~40 ms)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def release_freed() -> bool:
    """Hand the C heap's free pages back to the system; whether there was a way to (glibc).

    Examples:
        >>> release_freed() in (True, False)
        True
    """
    trim = _trim()
    if trim is None:
        return False
    trim(0)
    return True
