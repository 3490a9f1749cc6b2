"""The shipped YAML's schema, and the loader's strictness on bad files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from botguard.catalog import load_catalog
from botguard.catalog.loader import bundled_path
from botguard.catalog.records import CATEGORIES
from botguard.errors import ConfigError, ExitStatus
from tests.helpers import TEST_DATA

REQUIRED = {"name", "operator", "category", "patterns", "robots_token", "respects_robots", "verification"}
TOKEN = re.compile(r"[A-Za-z_-]+")


@pytest.fixture(scope="module")
def document() -> dict:
    """The bundled file read as YAML (the loader's JSON fast path must agree with it)."""
    return yaml.load(
        bundled_path().read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    )


def test_every_entry_is_well_formed(document: dict) -> None:
    """Required fields, vocabulary categories, compiling regexes, RFC 9309 robots tokens."""
    problems = []
    for entry in document["crawlers"]:
        name = entry.get("name")
        if not set(entry) >= REQUIRED:
            problems.append((name, f"missing {REQUIRED - set(entry)}"))
        if entry.get("category") not in CATEGORIES:
            problems.append((name, f"category {entry.get('category')}"))
        for pattern in entry.get("patterns", []):
            try:
                re.compile(pattern, re.IGNORECASE)
            except re.error as exc:
                problems.append((name, f"pattern {pattern!r}: {exc}"))
        token = entry.get("robots_token")
        if token is not None and not TOKEN.fullmatch(token):
            problems.append((name, f"robots_token {token!r}"))
        if entry.get("respects_robots") not in (True, False, None):
            problems.append((name, "respects_robots"))
        ver = entry.get("verification")
        if ver is not None and set(ver) != {"ip_ranges", "rdns_suffixes"}:
            problems.append((name, f"verification {ver}"))
    assert problems == []


def test_size_and_vocabulary(document: dict) -> None:
    """At least 1,400 patterns; names unique; the header documents every category."""
    entries = document["crawlers"]
    assert sum(len(e["patterns"]) for e in entries) >= 1400
    names = [e["name"] for e in entries]
    assert len(names) == len(set(names))
    header = bundled_path().read_text(encoding="utf-8").split("\n{", 1)[0]
    for category in CATEGORIES:
        assert f"#   {category} " in header


def test_attribution_is_shipped(document: dict) -> None:
    """Every shipped source names repository, commit and licence, here and in ATTRIBUTION.md."""
    attribution = (bundled_path().parent / "ATTRIBUTION.md").read_text(encoding="utf-8")
    for source in document["sources"]:
        assert source["license"] == "MIT" and len(source["commit"]) == 40
        assert source["repository"] in attribution and source["commit"] in attribution


def test_ip_range_names_exist_in_the_snapshot(document: dict) -> None:
    """Verification names refer to published range lists of the snapshot (tests/data/ip-ranges)."""
    root = TEST_DATA / "ip-ranges"
    available = {p.stem.removesuffix("-ipv4").removesuffix("-ipv6") for p in root.rglob("*.*")}
    available |= {"bing" if a == "bingbot" else a for a in available}
    names = {n for e in document["crawlers"] if e["verification"] for n in e["verification"]["ip_ranges"]}
    assert names - available == set()


def test_fast_path_reads_the_same_as_yaml(document: dict) -> None:
    """The loader's JSON fast path and a YAML parser see the same catalogue."""
    catalog = load_catalog()
    assert [c.name for c in catalog.crawlers] == [e["name"] for e in document["crawlers"]]
    assert catalog.exclusions == tuple(document["exclusions"])


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "crawlers.yaml"
    path.write_text(body, encoding="utf-8")
    return path


GOOD = "{name: X, operator: o, category: other, patterns: ['x'], robots_token: null, respects_robots: null, verification: null}"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (GOOD.replace("category: other", "category: robots"), "category 'robots' is not one of"),
        (GOOD.replace("['x']", "['(x']"), "pattern '(x' does not compile"),
        (GOOD.replace("robots_token: null", "robots_token: MJ12bot"), "robots_token 'MJ12bot' must match"),
        (GOOD.replace("operator: o, ", ""), "missing key(s): operator"),
        (GOOD.replace("url: null", "").replace("}", ", colour: red}"), "unknown key(s): colour"),
        (
            GOOD.replace("respects_robots: null", "respects_robots: maybe"),
            "'respects_robots' must be true, false or null",
        ),
    ],
)
def test_bad_entry_is_a_config_error_naming_file_and_entry(tmp_path: Path, entry: str, message: str) -> None:
    """A bad entry is a ConfigError (exit 2) naming the file, the entry and its line."""
    path = _write(tmp_path, f"# a catalogue\ncrawlers:\n- {GOOD}\n- {entry}\n")
    with pytest.raises(ConfigError) as err:
        load_catalog(path)
    text = str(err.value)
    assert message in text
    assert "crawler entry #1 (X)" in text and f"{path}:4" in text
    assert err.value.exit_status == ExitStatus.USAGE


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    """Broken YAML and unreadable files are ConfigErrors naming the file."""
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_catalog(_write(tmp_path, "crawlers: [\n"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_catalog(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="duplicate name"):
        load_catalog(_write(tmp_path, f"crawlers:\n- {GOOD}\n- {GOOD}\n"))
    with pytest.raises(ConfigError, match="unknown top-level"):
        load_catalog(_write(tmp_path, "crawler: []\n"))


def test_block_style_yaml_loads(tmp_path: Path) -> None:
    """A hand-written block-style file (not JSON) loads through the YAML path."""
    path = _write(
        tmp_path,
        "exclusions: ['Mozilla.[\\d\\.]*']\ncrawlers:\n"
        "  - name: Foo\n    operator: me\n    category: monitor\n    patterns: ['FooCheck']\n"
        "    robots_token: null\n    respects_robots: false\n"
        "    verification: {ip_ranges: [], rdns_suffixes: [foo.example]}\n",
    )
    catalog = load_catalog(path)
    assert catalog.classify("Mozilla/5.0 FooCheck/1").name == "Foo"
    assert catalog.by_name("Foo").verification.rdns_suffixes == ("foo.example",)
