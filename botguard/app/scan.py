"""``botguard scan``: read logs -> identify -> judge -> model -> store.

No printing here: the caller gets a :class:`ScanReport` and chooses the writer (table, JSON,
CSV, HTML in :mod:`botguard.report`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from botguard.app.env import Env
from botguard.catalog import Catalog, load_catalog
from botguard.config import ScanModelSettings, Settings
from botguard.errors import UsageError
from botguard.identity import build_identifier, identity_sources
from botguard.judge import RobotsChange, ScanResult, judge_batches, with_traffic
from botguard.judge.records import VERDICT_ORDER
from botguard.judge.store import save_scan
from botguard.logs import read_batches
from botguard.logs.records import Batch
from botguard.robots.fetch import scan_fetcher
from botguard.robots.sources import RobotsOption, RobotsSources

if TYPE_CHECKING:
    from botguard.model import ScanReplay
    from botguard.report.records import RulesPreview
    from botguard.state import State

__all__ = ["ScanReport", "ScanRequest", "run_scan"]


@dataclass(frozen=True, slots=True)
class ScanRequest:
    """Everything one scan needs, validated by the caller (CLI or service)."""

    paths: tuple[str, ...]
    settings: Settings
    robots: RobotsOption = field(default_factory=RobotsOption)
    log_format: str | None = None
    save: bool = True
    dns: bool = True  # forward-confirmed reverse DNS of crawler claims (--no-dns: ranges only)
    identity: bool = True  # prove or disprove crawler claims, ASN/hosting (--no-identity: none of it)
    model: bool = True  # the online model's pass over the judged clients (--no-model: per-client rules only)
    # Replay the log through the stream learner (--campaigns); None: the config's model.scan.replay.
    campaigns: bool | None = None
    fail_on: str | None = (
        None  # a verdict that, or a harsher one, makes the scan "fail" (--fail-on block: exit 3)
    )
    preview: bool = False  # also compute what deploy-rules would do with the scan (the HTML report shows it)


@dataclass(frozen=True, slots=True)
class ScanReport:
    """The judged scan, whether a client got the ``fail_on`` verdict or a harsher one, and the
    rules preview (when asked for)."""

    result: ScanResult
    fail_on_met: bool = False
    preview: RulesPreview | None = None


def _counted(batches: Iterator[Batch], progress: Callable[[int], None] | None) -> Iterator[Batch]:
    for batch in batches:
        if progress is not None:
            progress(batch.stats.lines)
        yield batch


def _with_model(result: ScanResult, replay: ScanReplay) -> ScanResult:
    """The stream learner's scores and raises on the judged clients (botguard.model.replay);
    after the verdicts, before storing."""
    outcome = replay.outcome(result.clients)
    return replace(result, clients=outcome.clients, summary=replace(result.summary, model=outcome.summary))


def run_scan(request: ScanRequest, env: Env) -> ScanReport:
    """Scan the logs, judge every client, and store the result in the state database."""
    if not request.paths:
        raise UsageError("no log file given (use - for standard input)")
    if request.campaigns and not (request.model and request.settings.model.enabled):
        raise UsageError(
            "--campaigns needs the model step (turned off by --no-model or model.enabled: false)"
        )
    with ExitStack() as stack:
        # The state DB is opened in this block, so a damaged file is reported as one line on the
        # way out. --fetch-robots keeps what it fetches in its robots.txt history (even with
        # --no-save); saved results also cache DNS answers. With --no-save and no fetching nothing
        # touches it, so DNS answers are only remembered for this run.
        history = stack.enter_context(env.open_state()) if request.robots.fetch else None
        fetch = scan_fetcher(history, session=env.http) if history is not None else None
        robots = RobotsSources(request.robots, fetch)  # local files are read (and checked) first
        catalog = load_catalog()
        log_format = request.log_format or request.settings.log_format
        paths = list(request.paths)
        batches = read_batches(paths, log_format, json_fields=request.settings.json_fields or None)
        replay = None
        if request.model and request.settings.model.enabled:
            # Imported here: only a scan that runs the model step pays for numpy and the learner.
            from botguard.model import ScanReplay

            stream = _replays(request)
            replay = ScanReplay(request.settings, robots=robots, state_path=env.state_path, stream=stream)
            batches = replay.feed(batches)
        state = None
        if request.save:
            state = history if history is not None else stack.enter_context(env.open_state())
        identify = None
        if request.identity:
            sources = identity_sources(
                request.settings.identity, dns=request.dns, state=state, state_path=env.state_path
            )
            identify = build_identifier(catalog, sources)
        result = judge_batches(
            _counted(batches, env.progress),
            catalog,
            robots,
            request.settings,
            per_host=request.robots.by_host,
            identify=identify,
        )
        result = replace(
            result,
            summary=replace(result.summary, robots=robots.describe()),
            warnings=(*tuple(robots.warnings), *result.warnings),
        )
        if replay is not None:
            result = _with_model(result, replay)
        result = with_traffic(result, (RobotsChange(host, moment) for host, moment in robots.changes()))
        if state is not None:
            save_scan(state, result, paths)
        preview = _preview(result, request.settings, state, env, catalog) if request.preview else None
    return ScanReport(result, _fail_on_met(result, request.fail_on), preview)


def _replays(request: ScanRequest) -> bool:
    """Whether the model step replays the log through the stream learner: --campaigns or
    --no-campaigns when given, else ``model.scan.replay`` (off: the replay costs ~11x the scan)."""
    if request.campaigns is not None:
        return request.campaigns
    return ScanModelSettings.from_settings(request.settings).replay


def _fail_on_met(result: ScanResult, fail_on: str | None) -> bool:
    """A client got ``fail_on`` or a harsher verdict (``--fail-on challenge`` also fails on a block)."""
    if fail_on is None:
        return False
    worst = VERDICT_ORDER[fail_on]
    return any(n for verdict, n in result.verdict_counts().items() if VERDICT_ORDER[verdict] >= worst)


def _preview(
    result: ScanResult, settings: Settings, state: State | None, env: Env, catalog: Catalog
) -> RulesPreview:
    """What deploy-rules would do with this scan (with the approved model rules when the state
    database is open: a --no-save scan does not open it for this)."""
    from botguard.app.report import model_rules, rules_preview

    model = model_rules(state, settings, env.now()) if state is not None else ()
    return rules_preview(result, settings, model, catalog)
