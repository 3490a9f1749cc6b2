"""Helpers for the stream tests: request frames in REQUEST_SCHEMA and small learners."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import polars as pl

from botguard.config import Policy, Settings
from botguard.logs.records import REQUEST_SCHEMA
from botguard.model.stream import StreamLearner, StreamSettings
from botguard.robots import RobotsTxt

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC).timestamp()
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
NOVA = "Mozilla/5.0 (compatible; NovaScrape/1.0; +http://novascrape.example/bot)"
ZGRAB = "Mozilla/5.0 zgrab/0.x"
ROBOTS = RobotsTxt.parse("User-agent: *\nDisallow: /private\nDisallow: /trap/\n")


def req(
    t: float,
    ip: str,
    ua: str,
    target: str | None = "/",
    *,
    referer: str = "-",
    status: int = 200,
    method: str = "GET",
    valid: bool = True,
) -> dict[str, Any]:
    """One request row; ``t`` is seconds after T0."""
    return {
        "ip": ip,
        "time": T0 + t,
        "method": method,
        "target": target,
        "valid_request": valid,
        "status": status,
        "referer": referer,
        "user_agent": ua,
    }


def frame(rows: Sequence[dict[str, Any]]) -> pl.DataFrame:
    """Rows as a batch in REQUEST_SCHEMA (missing columns null, times as UTC datetimes)."""
    data = {name: [] for name in REQUEST_SCHEMA}
    for i, row in enumerate(rows):
        full = {
            "protocol": "HTTP/1.1",
            "request": f"{row.get('method')} {row.get('target')} HTTP/1.1",
            "bytes": 0,
            "host": "www.example.com",
            "source": "test",
            "line_no": i + 1,
            **row,
        }
        full["time"] = int(full["time"] * 1_000_000)
        for name in REQUEST_SCHEMA:
            data[name].append(full.get(name))
    out = pl.DataFrame(
        {k: v for k, v in data.items() if k != "time"},
        schema={k: v for k, v in REQUEST_SCHEMA.items() if k != "time"},
    )
    times = pl.Series("time", data["time"], dtype=pl.Int64).cast(pl.Datetime("us", "UTC"))
    return out.with_columns(times).select(list(REQUEST_SCHEMA))


def settings(**policy: Any) -> Settings:
    return Settings(policy=replace(Policy(), **policy), honeypots=("/trap/",))


def learner(config: Settings | None = None, **stream: Any) -> StreamLearner:
    """A learner as `botguard watch` builds one (bundled ranges and ASN table), stream knobs overridden."""
    config = config or settings()
    base = StreamSettings.from_settings(config)
    return StreamLearner.from_config(config, robots=lambda host: ROBOTS, settings=replace(base, **stream))


def whole_and_restored(
    rows: Sequence[dict[str, Any]], cut: int, snap: Path
) -> tuple[StreamLearner, StreamLearner]:
    """A learner that observed ``rows`` in one go, and one that observed ``rows[:cut]``, was
    snapshotted to ``snap``, restored and observed the rest (a watch restarted mid-stream)."""
    whole = learner()
    whole.observe(frame(rows))
    half = learner()
    half.observe(frame(rows[:cut]))
    half.snapshot(snap)
    again = StreamLearner.restore(snap, settings(), robots=lambda host: ROBOTS)
    again.observe(frame(rows[cut:]))
    return whole, again


def human_session(t: float, ip: str, pages: int = 4) -> list[dict[str, Any]]:
    """A person: pages 20 s apart, each followed by two assets, referers inside the site."""
    rows = []
    ref = "https://www.google.com/"
    for k in range(pages):
        page = f"/products/{k + 1}"
        rows.append(req(t, ip, CHROME, page, referer=ref))
        rows.append(req(t + 0.2, ip, CHROME, "/static/app.css", referer=f"https://www.example.com{page}"))
        rows.append(req(t + 0.3, ip, CHROME, "/static/app.js", referer=f"https://www.example.com{page}"))
        ref = f"https://www.example.com{page}"
        t += 20
    return rows


def load_bench(name: str) -> ModuleType:
    """A script of bench/ as a module (``gen_stream``, ``bench_model_stream``); bench/ goes on the
    path so the scripts' own imports of each other resolve."""
    sys.path.insert(0, str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module
