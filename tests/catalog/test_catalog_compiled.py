"""The catalogue's compiled form in the user's cache: used when whole, rebuilt when damaged or
stale, never a reason for a load to fail."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from botguard.catalog import load_catalog, loader
from botguard.catalog._compiled import BODY, CHECK

AGENTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Googlebot-Image/1.0",
    "Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)",
    "curl/8.5.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Linux; Android 14; HUAWEI SONIC Build/AP3A.240617.008) Mobile Safari/537.36",
]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache directory of this test's own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "botguard"


def _from_source() -> object:
    """What the bundled catalogue is, read from its YAML without any cache."""
    path = loader.bundled_path()
    return loader._load(path.read_text(encoding="utf-8"), path)


def _entry(cache: Path) -> Path:
    (entry,) = cache.glob("catalog-*")
    return entry


def _same(a: object, b: object) -> None:
    for name in ("crawlers", "exclusions", "masks"):
        assert getattr(a, name) == getattr(b, name)
    assert a.pattern_facts() == b.pattern_facts()  # type: ignore[attr-defined]
    assert a.classify_many(AGENTS) == b.classify_many(AGENTS)  # type: ignore[attr-defined]


def test_second_load_reads_the_compiled_form(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_catalog()
    assert (_entry(cache) / BODY).is_file()

    def no_source(*_args: object) -> None:
        raise AssertionError("the catalogue was validated again although its compiled form is whole")

    monkeypatch.setattr(loader, "_load", no_source)
    _same(load_catalog(), first)


def test_compiled_form_equals_the_source(cache: Path) -> None:
    load_catalog()  # writes the compiled form
    _same(load_catalog(), _from_source())


@pytest.mark.parametrize("damage", ["flip", "truncate", "check", "missing"])
def test_damaged_compiled_form_is_rebuilt(cache: Path, damage: str) -> None:
    load_catalog()
    entry = _entry(cache)
    body = (entry / BODY).read_bytes()
    if damage == "flip":  # a valid JSON document that is not what was written: GPTBot -> GPTBOT
        at = body.index(b'"GPTBot"')
        (entry / BODY).write_bytes(body[:at] + b'"GPTBOT"' + body[at + 8 :])
    elif damage == "truncate":
        (entry / BODY).write_bytes(body[: len(body) // 2])
    elif damage == "check":
        (entry / CHECK).write_text("0" * 64)
    else:
        (entry / BODY).unlink()
    _same(load_catalog(), _from_source())
    assert (_entry(cache) / BODY).read_bytes() == body  # written again, whole


def test_changed_catalogue_is_not_read_from_the_old_form(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_catalog()
    edited = tmp_path / "crawlers.yaml"
    text = loader.bundled_path().read_text(encoding="utf-8")
    edited.write_text(
        text.replace('"operator": "OpenAI"', '"operator": "Somebody Else"', 1), encoding="utf-8"
    )
    assert edited.read_text(encoding="utf-8") != text
    monkeypatch.setattr(loader, "bundled_path", lambda: edited)
    catalog = load_catalog()
    assert "Somebody Else" in {c.operator for c in catalog.crawlers}
    assert len(list(cache.glob("catalog-*"))) == 1  # the old content's entry is gone
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache.parent))
    assert "Somebody Else" not in {c.operator for c in load_catalog().crawlers}


def test_unwritable_cache_costs_nothing_but_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    _same(load_catalog(), _from_source())
    _same(load_catalog(), _from_source())


def test_half_written_entry_is_never_read(cache: Path) -> None:
    """An entry appears under its name only once written whole (a temporary name, then a rename):
    a leftover temporary directory is not taken for it."""
    load_catalog()
    entry = _entry(cache)
    leftover = cache / f".{entry.name}.x1y2"
    shutil.copytree(entry, leftover)
    shutil.rmtree(entry)
    (leftover / BODY).write_bytes(b"{}")
    _same(load_catalog(), _from_source())
    assert _entry(cache).name == entry.name
