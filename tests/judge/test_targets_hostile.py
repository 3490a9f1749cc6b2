"""Request targets a hostile log can carry, judged through the real CLI against robots.txt.

A logged target is the path the client asked for (origin-form, after absolute-form targets are
reduced): ``//private/x`` is a path whose first segment is empty, and a crawler checking the URL
``https://host//private/x`` against robots.txt matches ``//private/x``. Read as a URL without a
scheme it would become ``/x`` (host ``private``): a crawler that obeyed would be charged with
rules it never broke, and one that broke a rule could hide behind a doubled slash.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import run_cli

_LINE = '203.0.113.9 - - [07/Dec/2026:01:00:0{s} +0000] "GET {t} HTTP/1.1" 200 5 "-" "curl/8.0"\n'


def _disallowed(tmp_path: Path, robots: str, targets: list[str]) -> list[str]:
    """The rules ``--no-identity --no-model`` scan evidence quotes for one client's ``targets``."""
    log, rules = tmp_path / "access.log", tmp_path / "robots.txt"
    log.write_text("".join(_LINE.format(s=i, t=t) for i, t in enumerate(targets)))
    rules.write_text(robots)
    r = run_cli(
        "scan", str(log), "--robots", str(rules), "--format", "json", "--no-save",
        "--no-dns", "--no-identity", "--no-model", "--state", str(tmp_path / "state.db"),
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    (client,) = json.loads(r.stdout)["clients"]
    assert client["requests"] == len(targets)
    return [f"{e['target']} {e['rule']}" for e in client["evidence"]]


@pytest.mark.parametrize(
    ("target", "robots", "broken"),
    [
        ("//private/x", "User-agent: *\nDisallow: /x$\n", []),  # not the path /x
        ("//private/x", "User-agent: *\nDisallow: /x\n", []),
        ("//a/private", "User-agent: *\nDisallow: //a/private\n", ["//a/private Disallow: //a/private"]),
        ("//private", "User-agent: *\nDisallow: //private\n", ["//private Disallow: //private"]),
    ],
)
def test_a_doubled_slash_target_is_judged_as_the_path_it_is(
    tmp_path: Path, target: str, robots: str, broken: list[str]
) -> None:
    assert _disallowed(tmp_path, robots, ["/", target]) == broken
