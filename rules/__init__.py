"""Data shipped with botguard: crawler catalogue, policy defaults, published IP ranges.

This directory is installed as the package ``botguard.rules`` (see pyproject.toml's
``package-dir``), so code reads it with ``importlib.resources.files("botguard.rules")``.
It holds data only, never logic.
"""
