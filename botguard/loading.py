"""Loading modules that live as long as the process, out of the garbage collector's way.

What an import makes (polars', numpy's and botguard's modules, their classes and functions:
~300k objects for a scan) is not garbage, yet while it loads the collector walks it again and
again: ~50 ms of a small scan's CPU for the verb's own imports, 10-25 ms more for the model
step's numpy and learner, which a scan imports only when it runs the model. Loaded with the collector
paused and then frozen out of its sight, none of it is walked again, not even by a full
collection later in a big scan.

Settings a library reads from the environment when it is first imported (polars' allocator,
numpy's BLAS threads) are this process's: :func:`set_for_libraries` sets them, and
:func:`child_environment` is the environment for a command botguard runs (a server's validate or
reload, ssh) with them back as the user had them. A reload that starts Apache would otherwise hand
them to the site's own applications (mod_wsgi, PHP) for as long as it runs.

A long computation that makes many objects which stay alive (the stream learner's ``observe()``:
its campaign book, actors and part memos) pays for the collector's walks over them too:
:func:`collector_off` runs it without collections; what it left as garbage goes at the next
collection after it, as usual.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["child_environment", "collector_off", "collector_paused", "set_for_libraries", "unloaded"]

#: Each variable set for this process's libraries, and its value before (None: it was unset).
_USERS_VALUES: dict[str, str | None] = {}


def set_for_libraries(name: str, value: str) -> None:
    """Set ``name`` for the libraries this process imports, not for the commands it runs."""
    _USERS_VALUES.setdefault(name, os.environ.get(name))
    os.environ[name] = value


def child_environment() -> dict[str, str]:
    """This process's environment with what :func:`set_for_libraries` set back as it was."""
    env = dict(os.environ)
    for name, before in _USERS_VALUES.items():
        if before is None:
            env.pop(name, None)
        else:
            env[name] = before
    return env


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
