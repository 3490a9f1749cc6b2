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
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib import import_module
from typing import Any

__all__ = [
    "ALLOCATOR", "BLAS_THREADS", "allocator", "child_environment", "collector_off", "collector_paused",
    "lazy_attribute", "set_for_libraries", "tune_libraries", "unloaded",
]  # fmt: skip

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


#: How polars' allocator (jemalloc) returns freed memory. Its default keeps freed pages for half
#: a second, and a big scan frees tens of MiB per batch, so kept pages would set much of its
#: peak: a background thread returns them within 0.15 s. Every page handed back is faulted in
#: again when next used, so few arenas shared by all threads: a page one thread frees is the next
#: one any thread takes. One arena was measured on 2 cores only; on many cores threads would wait
#: for one arena's lock (its per-thread caches take small sizes only), hence an arena per two
#: cores (jemalloc's default is four per core). Figures: bench/README.md ("allocator"). A user's
#: own _RJEM_MALLOC_CONF comes after this, so its settings win.
def allocator(cores: int) -> str:
    """The allocator's options for a process that may run on ``cores`` cores."""
    return f"background_thread:true,narenas:{max(1, cores // 2)},dirty_decay_ms:150,muzzy_decay_ms:0"


def _cores() -> int:
    """The cores this process may run on (a container's share, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


ALLOCATOR = allocator(_cores())

#: Threads of numpy's BLAS (OpenBLAS), read once when numpy is first imported. Nothing in
#: botguard multiplies matrices, yet OpenBLAS starts a thread per core and its buffers at import
#: (~45 ms of CPU of a 100-line scan on 2 cores, more on a bigger machine). Any of the variables
#: OpenBLAS reads that a user set is left alone.
BLAS_THREADS = {"OPENBLAS_NUM_THREADS": "1"}
_BLAS_VARIABLES = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")


def tune_libraries(*, inherited: bool = False) -> None:
    """Set :data:`ALLOCATOR` for polars and :data:`BLAS_THREADS` for numpy, which read them
    once, when each is first imported (the commands botguard runs get the user's values:
    :func:`child_environment`). ``inherited``: this process was forked from one that imported
    them so, and its environment was then replaced (the resident server's child): set them
    again, as if this process had imported them."""
    if inherited:
        _USERS_VALUES.clear()
    if inherited or "polars" not in sys.modules:
        own = os.environ.get("_RJEM_MALLOC_CONF")
        set_for_libraries("_RJEM_MALLOC_CONF", f"{ALLOCATOR},{own}" if own else ALLOCATOR)
    if (inherited or "numpy" not in sys.modules) and not any(name in os.environ for name in _BLAS_VARIABLES):
        for name, value in BLAS_THREADS.items():
            set_for_libraries(name, value)


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


def lazy_attribute(package: str, homes: Mapping[str, str], name: str) -> Any:
    """A package door's ``name`` from its module (``homes[name]``, within ``package``), imported
    now: what the door's ``__getattr__`` (PEP 562) returns, so a verb imports only what it uses."""
    home = homes.get(name)
    if home is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    return getattr(import_module(f"{package}.{home}"), name)
