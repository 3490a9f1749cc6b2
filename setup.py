"""Package discovery that pyproject.toml alone cannot express, and the compiled kernels.

`rules/` (data: crawler catalogue, policy, IP ranges) lives at the repository top level, as the
project layout asks, but ships inside the package as `botguard.rules` so it is read with
importlib.resources from an installed wheel or an editable checkout alike.

The kernels (botguard/native.py) are C extensions compiled here with the machine's C compiler
and the Python headers. Each is ``optional``: without a compiler the install still succeeds and
botguard runs the kernel's pure twin (slower, same results); the test suite fails when a
kernel was not built (tests/setup/test_setup.py), so CI proves they are used.
``BOTGUARD_ASAN=1 pip install -e .`` builds them with AddressSanitizer (botguard/logs/README.md).
"""

import os

from setuptools import Extension, find_packages, setup

WARNINGS = ["-Wall", "-Wextra", "-Werror=implicit-function-declaration"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g", "-O1"]


def kernel(name: str, source: str) -> Extension:
    """A C kernel module: optimised, warnings on; AddressSanitizer when BOTGUARD_ASAN=1.

    No FMA contraction (``-ffp-contract=off``): a kernel that adds and multiplies floats must give
    its pure twin's bits, and a fused multiply-add rounds once where Python rounds twice.
    """
    asan = os.environ.get("BOTGUARD_ASAN", "") not in ("", "0")
    compile_args = ["-O2", "-std=c11", "-ffp-contract=off", *WARNINGS] + (SANITIZE if asan else [])
    link_args = SANITIZE if asan else []
    return Extension(
        name, [source], extra_compile_args=compile_args, extra_link_args=link_args, optional=True
    )


setup(
    packages=find_packages(include=["botguard", "botguard.*"]) + ["botguard.rules"],
    ext_modules=[
        kernel("botguard.logs._fastparse", "botguard/logs/_fastparse.c"),
        kernel("botguard.judge._fold", "botguard/judge/_fold.c"),
        kernel("botguard.model._learn", "botguard/model/_learn.c"),
        kernel("botguard.model._sigbook", "botguard/model/_sigbook.c"),
    ],
)
