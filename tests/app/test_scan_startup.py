"""What a small scan pays to start: each shipped table is loaded once per scan."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import botguard.catalog.loader
import botguard.identity.asn
from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]
LOG, ROBOTS = ROOT / "examples" / "access.log", ROOT / "examples" / "robots.txt"


def test_a_scan_with_the_model_loads_the_catalogue_and_the_asn_table_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The model's client pass takes the scan's catalogue and reads the judged clients' networks:
    loading either again would cost ~45 ms of a small scan's start and change nothing."""
    loads: Counter[str] = Counter()

    def counted(module: Any) -> None:
        real: Callable[..., Any] = module.cached

        def spy(name: str, *args: Any, **kwargs: Any) -> Any:
            loads[name] += 1
            return real(name, *args, **kwargs)

        monkeypatch.setattr(module, "cached", spy)

    counted(botguard.catalog.loader)
    counted(botguard.identity.asn)
    out = tmp_path / "scan.json"
    r = run_cli(
        "scan", str(LOG), "--robots", str(ROBOTS), "--no-dns", "--format", "json", "--output", str(out),
        "--state", str(tmp_path / "state.db"),
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert json.loads(out.read_text())["summary"]["model"]["clients_scored"] > 0
    assert loads == {"catalog": 1, "asn": 1}
