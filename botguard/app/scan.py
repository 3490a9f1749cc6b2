"""``botguard scan``: read logs -> identify -> judge -> model -> store.

No printing here: the caller gets a :class:`ScanReport` and chooses the writer (table, JSON,
CSV, HTML in :mod:`botguard.report`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING

import polars as pl

from botguard.app.env import Env
from botguard.catalog import Catalog, load_catalog
from botguard.catalog.loader import bundled_path, save_kept_memo
from botguard.config import ScanModelSettings, Settings
from botguard.errors import BotguardError, UsageError
from botguard.heap import release_freed
from botguard.identity import build_identifier, identity_sources, network_stamp
from botguard.judge import (
    JUDGE_ROWS,
    Handed,
    Identify,
    Partial,
    RobotsChange,
    ScanResult,
    Spill,
    aggregator,
    incremental,
    judge_again,
    merge_all,
    with_traffic,
)
from botguard.judge.aggregate import Aggregator
from botguard.judge.records import VERDICT_ORDER, Activity
from botguard.judge.store import save_scan
from botguard.loading import collector_paused, unloaded
from botguard.logs import FileRead, file_format, read_file
from botguard.logs.detect import SAMPLE_LINES
from botguard.logs.formats import LogFormat, resolve_format
from botguard.logs.readers import check_readable, order_paths
from botguard.logs.records import Batch
from botguard.robots.fetch import scan_fetcher
from botguard.robots.sources import RobotsOption, RobotsSources
from botguard.state import State

if TYPE_CHECKING:
    from botguard.engines import EngineOptions
    from botguard.model import ScanReplay
    from botguard.report.records import RulesPreview

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
    incremental: bool = True  # read only what was appended since the last saved scan (--full: all)
    preview: bool = False  # also compute what deploy-rules would do with the scan (the HTML report shows it)
    engine: EngineOptions | None = None  # parse and aggregate on Spark or Dask (--engine): every file whole


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


def _activity_spilled(result: ScanResult) -> tuple[ScanResult, Callable[[], Activity | None]]:
    """``result`` without its activity, and how to have it back (read from a temporary file
    when it has more than :data:`~botguard.judge.JUDGE_ROWS` clients, else held).

    Why: the counts hold ~140 B a client (~45 MiB of a 10M-line log's 300k clients) and the
    model step, where a big scan peaks, never reads them. A smaller scan keeps them: writing
    and reading them back would only cost time."""
    activity = result.activity
    if activity is None or result.summary.clients <= JUDGE_ROWS:
        return result, lambda: activity
    spill = Spill()
    width, counts, disallowed = (
        activity.width,
        spill.add_frame(activity.counts),
        spill.add_frame(activity.disallowed),
    )
    return replace(result, activity=None), lambda: Activity(width, counts.frame(), disallowed.frame())


class _FilePartials:
    """Reads a scan's files into one partial per file, each merged with what an earlier scan
    stored of the same file (:mod:`botguard.judge.incremental`), and remembers what to store."""

    def __init__(
        self,
        request: ScanRequest,
        agg: Aggregator,
        log_format: str | None,
        progress: Callable[[int], None] | None,
        replay: ScanReplay | None = None,
    ) -> None:
        self._request, self._agg, self._progress = request, agg, progress
        self._replay = replay  # sees every batch read, in the log's order
        self._log_format = log_format
        self._json_fields = request.settings.json_fields or None
        self._fixed = resolve_format(log_format, self._json_fields) if log_format is not None else None
        self.fingerprint = ""
        self.kept: list[incremental.Kept] = []
        self.unchanged: list[incremental.LogFile] = []
        # A one-file scan's judgement: the file, the rows kept of its stored partial and the
        # clients named since (judged again), and what this scan judged (to keep).
        self._file_judged: incremental.LogFile | None = None
        self._earlier: tuple[Callable[[], list[pl.DataFrame] | None], pl.DataFrame] | None = None
        self.judgement: incremental.Judgement | None = None

    def judge(self, partial: Handed, identify: Identify | None) -> ScanResult:
        """The verdicts of a merged partial (of only the clients named since the judgement kept
        of the file's stored partial, when there is one), handed over: nothing here holds it
        while it is judged."""
        agg, settings = self._agg, self._request.settings
        earlier, named = self._earlier or (None, None)
        self._earlier = None  # the kept rows go with the judge's use of them
        # What is stored at the end goes to one temporary file (judge._spill): the files' whole
        # partials before judging, so none of them holds the merged partial's frames meanwhile.
        spill = Spill() if self.kept else None
        self.kept = [item if item.whole is None else incremental.encoded(item, spill) for item in self.kept]
        result, rows, whole = judge_again(
            partial, agg.catalog, agg.robots_for, settings, identify=identify, earlier=earlier, named=named
        )
        kept = next((item for item in self.kept if item.file == self._file_judged), None)
        if kept is not None:
            self.judgement = incremental.judgement(kept, self._judgement_fingerprint, rows, whole, spill)
        # The partials to store only as spilled bytes from here: the model step, traffic and
        # report run without their frames (the merged partial goes once the caller lets it go).
        self.kept = [incremental.encoded(item, spill) for item in self.kept]
        return result

    def read(self, paths: list[str], state: State | None) -> Partial:
        """The merged partial of ``paths`` (in order); with ``state``, incrementally (and a
        one-file scan with the judgement kept of its file)."""
        if state is not None:
            self.fingerprint = self._fingerprint()
        return merge_all([self._file(path, state, judged=len(paths) == 1) for path in paths])

    @cached_property
    def _judgement_fingerprint(self) -> str:
        """Worked out once, after :meth:`read` set the partials' fingerprint: the kept judgement
        is looked up and stored under it (the network stamp reads the identity files' metadata)."""
        request = self._request
        networks = network_stamp(request.settings.identity) if request.identity else None
        return incremental.judgement_fingerprint(request.settings, self.fingerprint, networks)

    def _fingerprint(self) -> str:
        robots = self._request.robots
        files = {**robots.per_host, **({"*": robots.default} if robots.default else {})}
        return incremental.fingerprint(
            self._request.settings, robots_files=files, per_host=robots.by_host, log_format=self._log_format,
            catalogue=bundled_path(),
        )  # fmt: skip

    def _file(self, path: str, state: State | None, *, judged: bool = False) -> Partial:
        file = incremental.look(path) if state is not None else None
        stored = incremental.find(state, file, self.fingerprint) if state is not None and file else None
        if stored is not None and file is not None and self._detection_moved(file, stored):
            stored = None  # the grown file is read whole, as a full scan reads it
        fmt = self._fixed
        if stored is not None and fmt is None:
            try:
                fmt = resolve_format(stored.format, self._json_fields)
            except UsageError:  # stored by a version that knows other formats: read it whole
                stored = None
        read = later = None
        if stored is not None and file is not None and stored.offset == file.size:
            part = incremental.merged(stored.parts)
            if stored.file == (file.device, file.inode):
                self.unchanged.append(file)  # nothing appended: nothing to store again
                if judged and state is not None:
                    self._judged_before(state, file, stored, None)
                return part
            # else the same bytes under another inode (a copy)
        else:
            read, fmt = self._read(_piece(path, file, stored), fmt)
            if stored is None:
                part = read
            else:
                later = incremental.after(stored, read)
                part = incremental.merged([stored.partial, later])
        if file is not None and file.storable and fmt is not None and not part.stats.warnings:
            self.kept.append(incremental.kept(file, fmt.name, part, stored, later))
            if judged and state is not None:
                self._judged_before(state, file, stored, read)
        return part

    def _detection_moved(self, file: incremental.LogFile, stored: incremental.Stored) -> bool:
        """Whether format detection on the grown ``file`` no longer gives the format it was stored
        as. Asked only where it can: no format given, and the stored lines fewer than detection
        samples (a file stored at 10 combined lines, then followed by 60 common ones, is read as
        common whole: kept as combined, its new lines would be counted malformed)."""
        if self._fixed is not None or file.compressed or file.size <= stored.offset:
            return False
        if stored.stats().lines >= SAMPLE_LINES:
            return False
        try:
            return file_format(file.path, self._json_fields).name != stored.format
        except BotguardError:  # unreadable or unrecognisable now: the whole read says so
            return True

    def _judged_before(
        self, state: State, file: incremental.LogFile, stored: incremental.Stored | None, read: Partial | None
    ) -> None:
        """Find the judgement kept of ``file``'s stored partial and name the clients of what
        follows it (:func:`botguard.judge.judge_again`); this scan's judgement is kept next."""
        self._file_judged = file
        fingerprint = self._judgement_fingerprint
        found = incremental.find_judged(state, file, stored, fingerprint) if stored is not None else None
        if found is None:
            return
        rows, since = found
        later = [*since, *([read] if read is not None else [])]
        named = pl.concat([pl.DataFrame(schema=_KEY), *(part.clients.select(list(_KEY)) for part in later)])
        self._earlier = rows, named.unique()

    def _read(self, piece: FileRead, fmt: LogFormat | None) -> tuple[Partial, LogFormat | None]:
        """The partial of the lines ``piece`` names, and the format they were read as."""
        # A format the user gave is refused when it drops the referer and agent the file carries.
        piece = replace(piece, pinned=fmt is not None and fmt is self._fixed)
        batches = _counted(read_file(piece, fmt, json_fields=self._json_fields), self._progress)
        for batch in batches if self._replay is None else self._replay.feed(batches):
            self._agg.add(batch.requests, batch.stats)
        return self._agg.take(), piece.format or fmt


#: A client's key, as the judge is told the clients named since a kept judgement.
_KEY = {"ip": pl.String(), "user_agent": pl.String()}


def _piece(path: str, file: incremental.LogFile | None, stored: incremental.Stored | None) -> FileRead:
    """What to read of a file: what follows the stored partial, up to the size the file had
    when looked at (what is appended meanwhile is for the next scan)."""
    if file is None or file.compressed:
        return FileRead(path)
    if stored is None:
        return FileRead(path, end=file.size)
    return FileRead(path, stored.offset, file.size, stored.stats())


def run_scan(request: ScanRequest, env: Env) -> ScanReport:
    """Scan the logs, judge every client, and store the result in the state database."""
    if not request.paths:
        raise UsageError("no log file given (use - for standard input)")
    if request.campaigns and not (request.model and request.settings.model.enabled):
        raise UsageError(
            "--campaigns needs the model step (turned off by --no-model or model.enabled: false)"
        )
    if request.engine is not None:
        _check_engine(request)
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
        replay, stream = None, False
        if request.model and request.settings.model.enabled:
            # Imported here: only a scan that runs the model step pays for numpy and the learner;
            # the first time, with the collector paused, as the CLI loads a verb (botguard.loading).
            with collector_paused(first=unloaded("botguard.model")):
                from botguard.model import ScanReplay

            stream = _replays(request)
            replay = ScanReplay(
                request.settings, robots=robots, state_path=env.state_path, stream=stream, catalog=catalog
            )
        agg = aggregator(catalog, robots, request.settings, per_host=request.robots.by_host)
        files = _FilePartials(
            request, agg, log_format, env.progress, replay
        )  # a wrong --log-format fails here
        ordered = order_paths(paths)
        for path in ordered:  # every path checked before any work
            check_readable(path)
        state = None
        if request.save:
            state = history if history is not None else stack.enter_context(env.open_state())
        identify = None
        if request.identity:
            sources = identity_sources(
                request.settings.identity, dns=request.dns, state=state, state_path=env.state_path
            )
            identify = build_identifier(catalog, sources)
        # The replay learns from every request in order, so a scan with it reads whole files.
        keeps = state is not None and request.incremental and not request.robots.fetch and not stream
        keeps = keeps and request.engine is None  # an engine's pieces are not a file's partial
        if request.engine is not None:
            # Imported here: only a scan on Spark or Dask cuts its files in pieces and joins them.
            from botguard.engines import Job, engine_partial

            job = Job(catalog, robots, request.settings, request.robots.by_host)
            read = Handed(engine_partial(ordered, request.engine, job, log_format, env.progress))
        else:
            read = Handed(files.read(ordered, state if keeps else None))
        release_freed()  # the read's batches and the running fold's tables (see botguard.heap)
        # Handed: only the counts the traffic summary reads (result.activity) outlive the judge.
        result = files.judge(read, identify)
        release_freed()
        result = replace(
            result,
            summary=replace(result.summary, robots=robots.describe()),
            warnings=(*tuple(robots.warnings), *result.warnings),
        )
        if replay is not None:
            # The judge's time and path counts, which only the traffic summary reads, wait in a
            # temporary file while a big scan's model step runs.
            result, activity = _activity_spilled(result)
            result = _with_model(result, replay)
            result = replace(result, activity=activity())
            release_freed()
        result = with_traffic(result, (RobotsChange(host, moment) for host, moment in robots.changes()))
        if state is not None:
            save_scan(state, result, paths)  # first: a damaged database fails here, before any write
            if keeps:
                note = incremental.keep(
                    state, files.kept, files.fingerprint, files.unchanged, files.judgement
                )
                result = replace(result, warnings=(*result.warnings, note)) if note else result
            release_freed()
        preview = _preview(result, request.settings, state, env, catalog) if request.preview else None
    save_kept_memo()  # a served scan's new agents, for the server's next child (catalog.memo)
    return ScanReport(result, _fail_on_met(result, request.fail_on), preview)


def _check_engine(request: ScanRequest) -> None:
    """What a scan on an engine cannot do: its workers see only their pieces and send back
    per-client partials, so nothing here sees the requests themselves."""
    if request.robots.fetch:
        # Workers judge by robots.txt files read here; fetching learns hosts only from the lines.
        raise UsageError("--engine needs robots.txt files (--robots FILE or HOST=FILE), not --fetch-robots")
    if request.model and request.settings.model.enabled and _replays(request):
        raise UsageError(
            "--engine cannot replay every request through the stream learner (--campaigns or "
            "model.scan.replay); use --no-campaigns"
        )


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
