"""A fake target that exercises the base template with no server syntax: one line per rule.

Tests use it to check :class:`~botguard.render.base.TextRenderer` itself (grouping, order,
escaping, chunking) apart from any server's boilerplate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from botguard.render.base import Groups, TextRenderer
from botguard.render.records import RuleFile

__all__ = ["FakeRenderer"]


@dataclass(frozen=True, slots=True)
class FakeRenderer(TextRenderer):
    """Writes ``<action> <kind> <escaped value>`` lines to ``fake.rules``."""

    name: ClassVar[str] = "fake"
    max_token: ClassVar[int] = 256

    def finalize(self, groups: Groups) -> tuple[RuleFile, ...]:
        rows = [("allow ua", groups.allow_ua), ("allow ip", groups.allow_ip), ("block ua", groups.block_ua),
                ("block ip", groups.block_ip), ("throttle ua", groups.throttle_ua),
                ("throttle ip", groups.throttle_ip)]  # fmt: skip
        lines = [self.header(groups, "Fake target.").rstrip("\n")]
        lines += [f"{label} {value}" for label, values in rows for value in values]
        lines += [f"allow client {ip} {ua}" for ip, ua in groups.allow_client]
        lines += [f"chunk {c}" for c in self.alternations(groups.block_ua)]
        return (RuleFile("fake.rules", "\n".join(lines) + "\n"),)
