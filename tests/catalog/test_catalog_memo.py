"""The agent memo a resident server's children leave for the next (catalog.memo): a catalogue
taught it answers as its matcher would, without matching; a damaged or crafted file is not used."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from botguard.catalog import loader, memo
from botguard.catalog.loader import load_catalog

AGENTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Bytespider; spider-feedback@bytedance.com)",
    "curl/8.5.0",
    "",
    "x\u3000\"'\\\n\x00é",
]
KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture(autouse=True)
def _cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _no_matching(catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(agents):
        raise AssertionError(f"matched {agents}")

    monkeypatch.setattr(type(catalog), "_match", lambda self, agents: refuse(agents))


def test_a_taught_catalogue_answers_as_its_matcher_without_matching(monkeypatch):
    """Every answer read back is the crawler (or None) the matcher gave, the same object."""
    first = load_catalog()
    answers = first.classify_many(AGENTS)
    memo.write_memo(first, KEY)
    second = load_catalog()
    assert second is not first
    assert memo.read_memo(second, KEY) == len(AGENTS)
    _no_matching(second, monkeypatch)
    taught = second.classify_many(AGENTS)
    assert [None if c is None else c.name for c in taught] == [None if c is None else c.name for c in answers]
    assert all(c is None or second.by_name(c.name) is c for c in taught)
    assert sum(c is not None for c in taught) == 3  # Googlebot, Bytespider, curl


def _written() -> tuple[Path, str, str]:
    catalog = load_catalog()
    catalog.classify_many(AGENTS)
    memo.write_memo(catalog, KEY)
    path = memo.memo_path(KEY)
    body, check = path.read_text(encoding="utf-8").rstrip("\n").rsplit("\n", 1)
    return path, body, check


def _crafted(path: Path, agents: object, key: str = KEY) -> None:
    body = json.dumps({"agents": agents})
    path.write_text(body + "\n" + memo._check(key, body) + "\n", encoding="utf-8")


@pytest.mark.parametrize(
    "damage",
    [
        "body",
        "check",
        "other key",
        "unknown crawler",
        "not a pair",
        "long agent",
        "too many",
        "cut",
        "not utf-8",
    ],
)
def test_a_damaged_or_crafted_memo_is_not_used(damage):
    """Any failed check: nothing is learnt (the catalogue classifies as without a memo)."""
    path, body, check = _written()
    if damage == "body":
        path.write_text(body.replace("Googlebot", "Googlebit") + "\n" + check + "\n", encoding="utf-8")
    elif damage == "check":
        path.write_text(body + "\n" + check[:-1] + "0\n", encoding="utf-8")
    elif damage == "other key":
        _crafted(path, [["curl/8", None]], key="f" * 32)
    elif damage == "unknown crawler":
        _crafted(path, [["curl/8", "NoSuchBot"], ["a", None]])
    elif damage == "not a pair":
        _crafted(path, [["curl/8", None, 1]])
    elif damage == "long agent":
        _crafted(path, [["a" * (memo.MEMO_AGENT_CHARS + 1), None]])
    elif damage == "too many":
        _crafted(path, [[f"a{n}", None] for n in range(memo.MEMO_AGENTS + 1)])
    elif damage == "cut":
        path.write_text(body[:-5], encoding="utf-8")
    else:
        path.write_bytes(b"\xff\xfe" + body.encode())
    fresh = load_catalog()
    assert memo.read_memo(fresh, KEY) == 0
    assert fresh.known() == []


def test_the_memo_keeps_the_latest_agents_within_its_bounds():
    """At most MEMO_AGENTS agents, the latest classified, none longer than MEMO_AGENT_CHARS."""
    catalog = load_catalog()
    agents = [f"bot-{n}/1.0" for n in range(memo.MEMO_AGENTS + 10)] + ["b" * (memo.MEMO_AGENT_CHARS + 1)]
    catalog.learn([(agent, None) for agent in agents])
    memo.write_memo(catalog, KEY)
    fresh = load_catalog()
    assert memo.read_memo(fresh, KEY) == memo.MEMO_AGENTS
    assert [agent for agent, _ in fresh.known()] == agents[10:-1]


def test_the_server_reads_what_its_children_wrote_before_the_next_fork(monkeypatch):
    """keep_bundled_catalog reads the memo; a child that classified new agents writes it
    (save_kept_memo), one that did not leaves it; refresh_kept_memo reads it again only when
    it changed."""
    monkeypatch.setattr(loader, "_KEPT", {})
    monkeypatch.setattr(loader, "_MEMO_READ", {})
    loader.keep_bundled_catalog()
    ((key, kept),) = loader._KEPT.items()
    assert kept.known() == []
    kept.classify_many(AGENTS[:3])  # as a child would (here: in this process)
    loader.save_kept_memo()
    assert memo.memo_path(key).exists()
    reads = []
    real = loader.read_memo
    monkeypatch.setattr(loader, "read_memo", lambda catalog, k: reads.append(k) or real(catalog, k))
    loader.refresh_kept_memo()
    loader.refresh_kept_memo()
    assert reads == [key]  # read once: unchanged since
    assert len(kept.known()) == 3
    loader.save_kept_memo()  # the child of this state classified nothing new: no write
    before = memo.memo_path(key).stat().st_mtime_ns
    loader.save_kept_memo()
    assert memo.memo_path(key).stat().st_mtime_ns == before


@pytest.mark.parametrize("kind", ["fifo", "directory", "oversized"])
def test_what_is_not_a_small_regular_file_at_the_memo_path_is_not_read(kind, monkeypatch):
    """The server reads the memo before each fork: a FIFO there must not block it (the read
    runs in a thread here, so a blocked open fails the test instead of hanging it), and neither
    a directory nor a file bigger than any memo written is read."""
    path = memo.memo_path(KEY)
    path.parent.mkdir(parents=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    else:
        monkeypatch.setattr(memo, "MEMO_BYTES", 64)
        _crafted(path, [["curl/8", None]])
        assert path.stat().st_size > 64
    fresh = load_catalog()
    outcome: list[int] = []
    reader = threading.Thread(target=lambda: outcome.append(memo.read_memo(fresh, KEY)), daemon=True)
    reader.start()
    reader.join(timeout=10)
    if reader.is_alive():  # let the blocked open go before failing
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    assert outcome == [0]
    assert fresh.known() == []
