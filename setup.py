"""Package discovery that pyproject.toml alone cannot express.

`rules/` (data: crawler catalogue, policy, IP ranges) lives at the repository top level, as the
project layout asks, but ships inside the package as `botguard.rules` so it is read with
importlib.resources from an installed wheel or an editable checkout alike.
"""

from setuptools import Extension, find_packages, setup

setup(
    packages=find_packages(include=["botguard", "botguard.*"]) + ["botguard.rules"],
    ext_modules=[Extension("botguard.judge._fold", ["botguard/judge/_fold.c"], extra_compile_args=["-O2"])],
)
