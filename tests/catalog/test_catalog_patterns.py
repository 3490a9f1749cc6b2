"""Pattern hygiene: word-start boundaries, device masks, hand-checked entries, the build's rules."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from botguard.catalog import Catalog, Crawler, load_catalog
from botguard.catalog._literals import is_plain, plain_literal, requirement
from botguard.errors import ConfigError
from tests.helpers import TEST_DATA

REPO = Path(__file__).resolve().parents[2]


def _entry(name: str, pattern: str, *, priority: int = 1, generic: bool = False) -> Crawler:
    return Crawler(name, "o", "other", (pattern,), None, None, None, None, generic=generic, priority=priority)


@pytest.fixture(scope="module")
def build_catalog():
    """tools/build_catalog.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("build_catalog", REPO / "tools" / "build_catalog.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_catalog"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "pattern", [r"\bButterfly\b", r"\bNING\/", r"\b008\/", r"^Viber\b", r"Sonic\b", r"\bFoo\.bar"]
)
@given(text=st.text(alphabet="butterflyNING/008viberSonicfoo.bar _-é1(;", max_size=30))
def test_plain_word_boundaries_match_like_re(pattern: str, text: str) -> None:
    """A plain pattern with \\b ends is a string test, and it answers exactly as Python's re."""
    literal = plain_literal(pattern)
    assert literal is not None and is_plain(pattern)
    assert literal.found_in(text.lower()) == bool(re.search(pattern, text, re.IGNORECASE))


def test_boundary_beside_punctuation_is_left_to_the_regex_engine() -> None:
    r"""``\b`` next to a non-word character means the opposite; such patterns are regexes."""
    assert plain_literal(r"\b-x") is None and not is_plain(r"\b-x")
    assert requirement(r"\bSonic\b").literals == frozenset({"sonic"})


def test_masks_hide_device_models_build_ids_and_in_app_data() -> None:
    """An imported word never names a phone model, a build id or a carrier; outside them it does."""
    masks = load_catalog().masks
    catalog = Catalog([_entry("Sonic", r"\bSonic\b"), _entry("OrangeBot", r"Bots")], masks=masks)
    phone = "Mozilla/5.0 (Linux; U; Android 2.3.3; de-de; HUAWEI SONIC Build/HuaweiU8650) AppleWebKit/533.1"
    assert catalog.classify(phone) is None
    assert catalog.classify("Mozilla/5.0 (compatible; Sonic/1.0; http://crawler.example)").name == "Sonic"
    assert catalog.classify(phone + " Sonic/1.0").name == "Sonic"
    in_app = "Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 Mobile/15G77 [FBAN/FBIOS;FBCR/OrangeBotswana;FBOP/5]"
    assert catalog.classify(in_app) is None
    build = Catalog([_entry("scanner", r"AP3A\.240617\.008")], masks=masks)
    assert (
        build.classify("Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP3A.240617.008; wv) Chrome/126")
        is None
    )


def test_hand_checked_entries_see_the_whole_agent() -> None:
    """Priority-2 entries are matched before the masks: a crawler named in the model slot is found."""
    masks = load_catalog().masks
    agent = (
        "Mozilla/5.0 (Linux; U; Android 4.1.2; cs-cz; Seznam screenshot-generator Build/Q3) AppleWebKit/534"
    )
    checked = Catalog([_entry("Seznam", "Seznam screenshot-generator", priority=2)], masks=masks)
    imported = Catalog([_entry("Seznam", "Seznam screenshot-generator", priority=1)], masks=masks)
    assert checked.classify(agent).name == "Seznam"
    assert imported.classify(agent) is None


def test_masks_must_compile(tmp_path: Path) -> None:
    """The catalogue's masks are validated like its exclusions: a bad one is a ConfigError."""
    path = tmp_path / "c.yaml"
    path.write_text("masks: ['(x']\ncrawlers: []\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"masks entry '\(x' does not compile"):
        load_catalog(path)
    path.write_text("masks: 'Build'\ncrawlers: []\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="'masks' must be a list"):
        load_catalog(path)


def test_bundled_catalogue_masks_devices() -> None:
    """The shipped catalogue carries the device masks the build writes."""
    masks = load_catalog().masks
    assert any("Build/" in m for m in masks) and any("FB" in m for m in masks)


def test_build_bounds_imported_words_at_their_start(build_catalog) -> None:
    r"""The build puts \b before imported bare words; regexes and anchored words stay as written."""
    bounded = build_catalog.bounded
    assert bounded("Sonic") == r"\bSonic"
    assert bounded(r"NING\/") == r"\bNING\/"
    assert bounded(r"008\/") == r"\b008\/"
    assert bounded("^Aether") == "^Aether"
    assert bounded(r"\.NET CLR") == r"\.NET CLR"
    assert bounded(r"Fetch\/[0-9]") == r"Fetch\/[0-9]"
    assert bounded(r"\bDone") == r"\bDone"


def test_build_drops_build_id_lookalikes(build_catalog) -> None:
    """An imported pattern that is an Android build id names firmware, never a crawler."""
    assert build_catalog._build_id(r"AP3A\.240617\.008")
    assert build_catalog._build_id(r"UP1A\.231005\.007")
    assert not build_catalog._build_id(r"Googlebot\/2\.1")


def test_build_refuses_a_hand_checked_pattern_that_names_a_browser(build_catalog) -> None:
    """A curated pattern matching a reference browser stops the build; an imported word is dropped."""
    curated = _entry("Lightning", r"Lightning\/", priority=2)
    imported = _entry("Butterfly", "Butterfly", priority=1)
    with pytest.raises(SystemExit, match="Lightning"):
        build_catalog.spare_reference_browsers([curated], [], {"Lightning"})
    kept, dropped = build_catalog.spare_reference_browsers([imported], [], set())
    assert kept == [] and dropped and dropped[0][:2] == ("Butterfly", "Butterfly")


def test_bundled_catalogue_is_the_build_output(build_catalog, tmp_path: Path) -> None:
    """rules/crawlers.yaml is exactly what tools/build_catalog.py writes: no hand edits. The
    build's MIT inputs are bundled in tests/data/ua-catalogues, so this always runs."""
    output = tmp_path / "crawlers.yaml"
    assert build_catalog.main(["--source", str(TEST_DATA / "ua-catalogues"), "--output", str(output)]) == 0
    assert output.read_text(encoding="utf-8") == (REPO / "rules" / "crawlers.yaml").read_text(
        encoding="utf-8"
    )
