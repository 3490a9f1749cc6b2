"""Loading modules that live as long as the process, out of the garbage collector's way.

What an import makes (polars', numpy's and botguard's modules, their classes and functions:
~300k objects for a scan) is not garbage, yet while it loads the collector walks it again and
again: ~50 ms of a small scan's CPU for the verb's own imports, 10-25 ms more for the model
step's numpy and learner, which a scan imports only when it runs the model. Loaded with the collector
paused and then frozen out of its sight, none of it is walked again, not even by a full
collection later in a big scan.

A long computation that makes many objects which stay alive (the stream learner's ``observe()``:
its campaign book, actors and part memos) pays for the collector's walks over them too:
:func:`collector_off` runs it without collections; what it left as garbage goes at the next
collection after it, as usual.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_off", "collector_paused", "unloaded"]


@contextmanager
def collector_paused(first: bool) -> Iterator[None]:
    """When ``first``: no collection inside the block, then everything alive frozen out of the
    collector's sight, and the collector on again if it was on. Otherwise the block runs as is:
    a process that runs many commands (the tests) would freeze each one's garbage."""
    if not first:
        yield
        return
    with collector_off():
        try:
            yield
        finally:
            gc.freeze()


@contextmanager
def collector_off() -> Iterator[None]:
    """No collection inside the block; the collector on again after it if it was on."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def unloaded(name: str) -> bool:
    """Whether module ``name`` is still to be imported by this process (its first import is the
    one to pause the collector for)."""
    return name not in sys.modules
