"""The scan JSON contract: the example scan's document byte for byte, and scans read back from it.

BOTGUARD_UPDATE_GOLDEN=1 rewrites the golden document (review the diff: other tools read it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden" / "example-scan.json"
UPDATE = os.environ.get("BOTGUARD_UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The state database of ``botguard scan`` of the bundled example (as ``make demo`` runs it),
    with its JSON report beside it; relative paths, so the summary names no machine's directory."""
    tmp = tmp_path_factory.mktemp("example")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        r = run_cli(
            "scan", "examples/access.log", "--robots", "examples/robots.txt", "--config",
            "examples/botguard.yaml", "--no-dns", "--state", str(tmp / "state.db"), "--format", "json",
            "--output", str(tmp / "scan.json"),
        )  # fmt: skip
    assert r.exit_code == 0, r.output
    return tmp


def test_example_scan_json_is_byte_identical(example: Path) -> None:
    """The example's scan JSON is exactly the reviewed document (summary, clients, crawlers)."""
    text = (example / "scan.json").read_text(encoding="utf-8")
    if UPDATE:
        GOLDEN.write_text(text, encoding="utf-8")
    assert GOLDEN.exists(), f"missing golden file {GOLDEN}: run with BOTGUARD_UPDATE_GOLDEN=1 and review"
    assert text == GOLDEN.read_text(encoding="utf-8")
