"""Published IP ranges: the bundled lists match the catalogue and find the right networks."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest

from botguard.cache import write_checked_json
from botguard.identity import PublishedRanges
from botguard.identity.ranges import _networks, _Table
from tests.helpers import TEST_DATA

SNAPSHOT = TEST_DATA / "ip-ranges"  # the snapshot the bundled lists were copied from (tests/data/SOURCES.md)


@pytest.fixture(scope="module")
def ranges() -> PublishedRanges:
    return PublishedRanges.bundled()


def test_every_catalogue_range_name_is_bundled(ranges: PublishedRanges) -> None:
    """Each verification.ip_ranges name in crawlers.yaml has a list with source, date, licence."""
    names: set[str] = set()
    text = resources.files("botguard.rules").joinpath("crawlers.yaml").read_text(encoding="utf-8")
    for group in re.findall(r'"ip_ranges": \[([^]]*)\]', text):
        names.update(re.findall(r'"([^"]+)"', group))
    assert names and names <= set(ranges.names())
    for name in names:
        entry = ranges.lists[name]
        assert entry.source and entry.date and entry.licence and entry.via
        assert len(ranges.table(name)) > 0, name


def test_every_list_is_attributed() -> None:
    """rules/ATTRIBUTION.md names the snapshot each bundled list came from."""
    text = resources.files("botguard.rules").joinpath("ATTRIBUTION.md").read_text(encoding="utf-8")
    for repo in ("jonhadfield/cloud-ips", "sefinek/known-bots-ip-whitelist", "lord-alfred/ipranges"):
        assert repo in text


@pytest.mark.parametrize(
    ("ip", "name", "network"),
    [
        ("66.249.66.1", "googlebot", "66.249.66.0/27"),
        ("::ffff:66.249.66.1", "googlebot", "66.249.66.0/27"),  # dual-stack servers log IPv4 like this
        ("2001:4860:4801:10::5", "googlebot", "2001:4860:4801:10::/64"),
        ("40.77.167.12", "bingbot", "40.77.167.0/24"),
        ("20.171.207.3", "gptbot", "20.171.207.0/24"),
        ("5.39.1.230", "ahrefsbot", "5.39.1.230"),
    ],
)
def test_match_names_the_network(ranges: PublishedRanges, ip: str, name: str, network: str) -> None:
    """An IP inside a published list is found with the network that contains it."""
    found = {m.list: m.network for m in ranges.match(ip)}
    assert found.get(name) == network


@pytest.mark.parametrize("ip", ["66.249.63.255", "203.0.113.9", "2001:db8::1", "not-an-ip", ""])
def test_outside_or_garbage_matches_nothing_for_googlebot(ranges: PublishedRanges, ip: str) -> None:
    """Neighbours of a range, documentation addresses and garbage are not Googlebot."""
    assert ranges.match(ip, ["googlebot"]) == ()


def test_unknown_list_name_is_ignored(ranges: PublishedRanges) -> None:
    assert ranges.match("66.249.66.1", ["no-such-list"]) == ()


def test_nested_and_overlapping_networks() -> None:
    """A key inside a wide network that an earlier-starting narrow one does not reach still matches."""
    table = _Table.build(["10.0.0.0/8", "10.0.0.0/24", "10.1.0.0/16", "10.1.2.0/24", "192.0.2.0/24"])
    from botguard.identity._ip import ip_key

    def find(ip: str) -> str | None:
        key = ip_key(ip)
        assert key is not None
        return table.find(key)

    assert find("10.1.2.3") == "10.1.2.0/24"
    assert find("10.1.9.9") == "10.1.0.0/16"
    assert find("10.200.0.1") == "10.0.0.0/8"
    assert find("11.0.0.0") is None
    assert find("192.0.2.255") == "192.0.2.0/24"
    assert find("192.0.3.0") is None


def test_bundled_googlebot_is_the_snapshot() -> None:
    """The bundled copy is byte-for-byte the snapshot SOURCES.md documents."""
    bundled = resources.files("botguard.rules").joinpath("ip-ranges/googlebot.json").read_bytes()
    assert bundled == (SNAPSHOT / "google-official-format" / "googlebot.json").read_bytes()


@pytest.fixture
def range_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "botguard"


def _source_tables() -> dict[str, _Table]:
    """Every bundled list parsed from its file, no cache involved."""
    bundled = PublishedRanges.bundled()
    return {
        name: _Table.build(_networks(bundled.root.joinpath(entry.file).read_text("utf-8"), entry.format))
        for name, entry in bundled.lists.items()
    }


def test_every_list_is_read_back_from_its_cache_entry_as_parsed(
    range_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scan's start parses no list a previous run parsed (AhrefsBot's ~10,000 networks cost
    ~17 ms), and what it reads back is the parsed table."""
    first = PublishedRanges.bundled()
    wanted = _source_tables()
    assert {name: first.table(name) for name in first.names()} == wanted
    assert len(list(range_cache.glob("ranges-*"))) == len(wanted)

    def no_parsing(_networks: object) -> _Table:
        raise AssertionError("a list was parsed although its cache entry is whole")

    monkeypatch.setattr(_Table, "build", no_parsing)
    again = PublishedRanges.bundled()
    assert {name: again.table(name) for name in again.names()} == wanted
    assert again.match("66.249.66.1", ["googlebot"])[0].network == "66.249.66.0/27"


@pytest.mark.parametrize("damage", ["truncate", "garbage", "check", "shape"])
def test_a_damaged_entry_is_parsed_again(range_cache: Path, damage: str) -> None:
    PublishedRanges.bundled().table("googlebot")
    (entry,) = range_cache.glob("ranges-googlebot-*")
    body = entry / "table.json"
    whole = body.read_bytes()
    if damage == "truncate":
        body.write_bytes(whole[: len(whole) // 2])
    elif damage == "garbage":
        body.write_bytes(whole[:100] + b"\x00\xff" * 50 + whole[200:])
    elif damage == "check":
        (entry / "table.sha256").write_text("0" * 64)
    else:  # a whole, checked file of the wrong shape
        write_checked_json([[1], [2], [], ["x"]], entry, "table.json")
    rebuilt = PublishedRanges.bundled().table("googlebot")
    assert rebuilt == _source_tables()["googlebot"]
    assert body.read_bytes() == whole  # written again, whole


def test_a_refreshed_list_is_read_from_its_own_file(range_cache: Path, tmp_path: Path) -> None:
    """A list `botguard update` refreshed beside the state DB replaces the shipped one, and each
    refresh of it is read again, never an entry made from an earlier copy."""
    updated = tmp_path / "ip-ranges"
    updated.mkdir()
    (updated / "index.yaml").write_text(
        "googlebot: {file: googlebot.txt, format: lines, source: t, via: t, date: '2031-01-01', licence: t}\n"
    )
    (updated / "googlebot.txt").write_text("192.0.2.0/24\n")
    assert PublishedRanges.bundled(updated).match("192.0.2.7", ["googlebot"])[0].network == "192.0.2.0/24"
    assert PublishedRanges.bundled().match("192.0.2.7", ["googlebot"]) == ()
    (updated / "googlebot.txt").write_text("198.51.100.0/24\n")
    refreshed = PublishedRanges.bundled(updated)
    assert refreshed.match("192.0.2.7", ["googlebot"]) == ()
    assert refreshed.match("198.51.100.9", ["googlebot"])[0].network == "198.51.100.0/24"
