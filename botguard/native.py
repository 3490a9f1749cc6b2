"""The compiled kernels botguard builds at install time (C extensions), each optional.

Every kernel has a pure polars/numpy twin that stays the oracle: a kernel only makes a step
faster, never different, and the tests run both and compare. A kernel is used when its module
was built (``pip install`` compiles it with the machine's C compiler) and the environment does
not say ``BOTGUARD_NO_NATIVE=1``, which runs the twins alone (a baseline, or a machine where a
kernel is suspected).
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

#: Set to 1 to run every step with its pure twin.
DISABLE_VARIABLE = "BOTGUARD_NO_NATIVE"
#: Every kernel setup.py builds, by its name under botguard.
KERNELS = ("logs._fastparse", "judge._fold", "model._learn", "model._sigbook", "model._campaign")


def kernel(name: str) -> ModuleType | None:
    """The compiled module ``botguard.<name>``, or None: not built here, or turned off.

    Examples:
        >>> kernel("no.such._kernel") is None
        True
    """
    if os.environ.get(DISABLE_VARIABLE, "") not in ("", "0"):
        return None
    try:
        return importlib.import_module(f"botguard.{name}")
    except ImportError:
        return None


def import_kernels() -> None:
    """Import every kernel that was built, whatever the environment says: what a process that
    forks commands (the resident server) keeps loaded; each command still asks :func:`kernel`,
    which reads its own environment."""
    for name in KERNELS:
        try:
            importlib.import_module(f"botguard.{name}")
        except ImportError:
            continue
