"""Golden cases: tests/render/golden/<case>/decisions.yaml -> one expected file per renderer output."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import yaml

from botguard.decide import Decision, DecisionSet, Match

GOLDEN = Path(__file__).parent / "golden"
T0 = datetime(2024, 3, 4, tzinfo=UTC)


def load_case(case: str) -> DecisionSet:
    rows = yaml.safe_load((GOLDEN / case / "decisions.yaml").read_text(encoding="utf-8")) or []
    return DecisionSet.of([
        Decision(r["action"], Match(r["kind"], str(r["value"]), r.get("ip")), ("golden",), "test", T0, T0)
        for r in rows
    ])  # fmt: skip


def cases() -> list[str]:
    return sorted(p.name for p in GOLDEN.iterdir() if (p / "decisions.yaml").exists())
