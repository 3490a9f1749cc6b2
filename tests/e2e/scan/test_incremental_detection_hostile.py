"""An incremental scan of a small file whose format detection changes as it grows (a hostile
reviewer's test).

Detection reads a file's first lines (up to 200). A file scanned when it held 10 combined lines
is stored as combined; once 60 common lines follow, detection on its first lines says common
(it reads 70 lines, combined 10), and a full scan reads it so. The incremental scan kept the
stored combined and read the new lines as malformed (warning that its first lines read as
common): the README's "the next scan ... gives the same result as reading the whole file" did
not hold for a file that had fewer lines than detection samples when it was stored. Such a file
is now detected again when it grows, and read whole when the answer changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_cli

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def _common(line: str) -> str:
    """A combined line without its referer and user agent."""
    return '"'.join(line.split('"')[:3]).rstrip()


def _scan(log: Path, *extra: str) -> dict[str, Any]:
    r = run_cli(
        "scan", str(log), "--robots", str(EXAMPLES / "robots.txt"), "--no-dns", "--format", "json", *extra
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def _outcome(doc: dict[str, Any]) -> tuple[Any, ...]:
    """What the two scans must agree on: the line counts and every client's verdict."""
    summary = doc["summary"]
    clients = sorted(
        (c["ip"], c.get("user_agent"), c["verdict"], c["requests"]) for c in doc["clients"]
    )  # fmt: skip
    return summary["lines"], summary["parsed"], summary["malformed"], clients


@pytest.mark.parametrize(
    "later",
    [
        pytest.param(_common, id="common-lines-tip-detection"),
        pytest.param(str, id="more-combined"),
    ],
)
def test_a_small_file_grown_after_its_first_scan_scans_as_a_full_read(tmp_path: Path, later: Any) -> None:
    """(``more-combined``: the same steps without the tip agree, so the comparison itself holds.)"""
    lines = (EXAMPLES / "access.log").read_text(encoding="utf-8").splitlines()
    log, state = tmp_path / "access.log", tmp_path / "state.db"
    log.write_text("\n".join(lines[:10]) + "\n", encoding="utf-8")
    first = _scan(log, "--state", str(state))
    assert first["summary"]["parsed"] == 10
    with log.open("a", encoding="utf-8") as fh:
        fh.write("\n".join(later(line) for line in lines[10:70]) + "\n")
    incremental = _scan(log, "--state", str(state))
    full = _scan(log, "--full", "--no-save")
    assert _outcome(incremental) == _outcome(full)
