"""The robots modules' docstring examples run (they are the API's first documentation)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["botguard.robots.parser", "botguard.robots._matcher", "botguard.robots._lexer"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    """Every Examples block passes."""
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0
