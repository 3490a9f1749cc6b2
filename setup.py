"""Package discovery that pyproject.toml alone cannot express, and the compiled kernels.

`rules/` (data: crawler catalogue, policy, IP ranges) lives at the repository top level, as the
project layout asks, but ships inside the package as `botguard.rules` so it is read with
importlib.resources from an installed wheel or an editable checkout alike.

The kernels are C extensions compiled here with the machine's C compiler and the Python
headers: the ones botguard/native.py lists in ``KERNELS`` (one list, read here without
importing botguard, whose dependencies may not be installed yet), ``botguard/<a>/<b>.c`` for
``"<a>.<b>"``. Each is ``optional``: without a compiler the install still succeeds and
botguard runs the kernel's pure twin (slower, same results); the test suite fails when a
kernel was not built (tests/setup/test_setup.py), so CI proves they are used.
``BOTGUARD_ASAN=1 pip install -e .`` builds them with AddressSanitizer (botguard/logs/README.md).
"""

import ast
import os
from pathlib import Path

from setuptools import Extension, find_packages, setup

WARNINGS = ["-Wall", "-Wextra", "-Werror=implicit-function-declaration"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g", "-O1"]
HEADERS = ["botguard/_arrow_c.h"]  # shared by the kernels: a change rebuilds them


def kernel(name: str, source: str) -> Extension:
    """A C kernel module: optimised, warnings on; AddressSanitizer when BOTGUARD_ASAN=1.

    No FMA contraction (``-ffp-contract=off``): a kernel that adds and multiplies floats must give
    its pure twin's bits, and a fused multiply-add rounds once where Python rounds twice.
    """
    asan = os.environ.get("BOTGUARD_ASAN", "") not in ("", "0")
    compile_args = ["-O2", "-std=c11", "-ffp-contract=off", *WARNINGS] + (SANITIZE if asan else [])
    link_args = SANITIZE if asan else []
    return Extension(
        name,
        [source],
        include_dirs=["botguard"],
        depends=HEADERS,
        extra_compile_args=compile_args,
        extra_link_args=link_args,
        optional=True,
    )


def declared_kernels() -> tuple[str, ...]:
    """``KERNELS`` of botguard/native.py (module names under botguard), read as a literal."""
    tree = ast.parse(Path("botguard/native.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "KERNELS" for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    raise SystemExit("botguard/native.py: no KERNELS = (...) tuple to build")


setup(
    packages=find_packages(include=["botguard", "botguard.*"]) + ["botguard.rules"],
    ext_modules=[
        kernel(f"botguard.{name}", f"botguard/{name.replace('.', '/')}.c") for name in declared_kernels()
    ],
)
