"""Shared fixtures for the catalogue tests.

The labelled corpora come from ../shared/data/ua-catalogues, read at run time (the LGPL
device-detector fixtures must never be copied into this repository).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from botguard.catalog import Catalog, load_catalog

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[2]
SHARED_CATALOGUES = REPO.parent / "shared" / "data" / "ua-catalogues"


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
    """Path of a shared data file, or skip the test naming the missing path."""

    def find(*parts: str) -> Path:
        path = SHARED_CATALOGUES.joinpath(*parts)
        if not path.is_file():
            pytest.skip(f"shared data not found: {path} (tests read ../shared/data at run time)")
        return path

    return find


@pytest.fixture(scope="session")
def lines() -> Callable[[Path], list[str]]:
    return _lines
