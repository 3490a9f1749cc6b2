"""Shared fixtures for the catalogue tests.

The labelled corpora: Crawler-Detect's (MIT) is bundled in tests/data/ua-catalogues; the LGPL
device-detector fixtures must never be copied into this repository and are read from ../shared.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from botguard.catalog import Catalog, load_catalog
from tests.helpers import TEST_DATA, gpl_data

DATA = Path(__file__).parent / "data"


def _lines(path: Path) -> list[str]:
    """Non-empty lines that are not ``#`` comments."""
    text = path.read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    """The bundled catalogue (immutable; only its per-UA cache grows)."""
    return load_catalog()


@pytest.fixture(scope="session")
def browser_uas() -> list[str]:
    """Real browser user agents that must never classify as crawlers."""
    return _lines(DATA / "browsers.txt")


@pytest.fixture(scope="session")
def shared() -> Callable[..., Path]:
    """Path of a labelled corpus under ua-catalogues/: the bundled copy, else the GPL/LGPL
    reference data (the test is skipped, saying why, where that is absent)."""

    def find(*parts: str) -> Path:
        bundled = TEST_DATA.joinpath("ua-catalogues", *parts)
        return bundled if bundled.is_file() else gpl_data("ua-catalogues", *parts)

    return find


@pytest.fixture(scope="session")
def lines() -> Callable[[Path], list[str]]:
    return _lines
