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
