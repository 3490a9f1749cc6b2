"""The model's robots.txt labels read a logged target as the path it is, as the judge does."""

from __future__ import annotations

import pytest

from botguard.model._kinds import RequestKinds
from botguard.robots import RobotsTxt


@pytest.mark.parametrize(
    ("rules", "target", "allowed"),
    [
        ("Disallow: /x$", "//private/x", True),  # read as host 'private' + /x it was disallowed
        ("Disallow: //private", "//private", False),  # read as host 'private' + / it passed
        ("Disallow: /x$", "/x", False),
    ],
)
def test_a_doubled_slash_target_is_labelled_as_the_path_it_is(rules: str, target: str, allowed: bool) -> None:
    robots = RobotsTxt.parse(f"User-agent: *\n{rules}\n")
    kinds = RequestKinds([], lambda host: robots)
    assert kinds.allowed(None, 0.0, "somebot", target) is allowed
