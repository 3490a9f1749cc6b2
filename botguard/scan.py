"""`botguard scan` as a function: read logs -> identify -> judge -> store.

The CLI calls :func:`run_scan`; so will the long-running service. No printing here: the caller
gets a :class:`~botguard.judge.ScanResult` and chooses the report.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field, replace

from botguard.catalog import load_catalog
from botguard.config import Settings
from botguard.errors import UsageError
from botguard.identity import build_identifier, identity_sources
from botguard.judge import ScanResult, judge_batches
from botguard.judge.store import save_scan
from botguard.logs import read_batches
from botguard.logs.records import Batch
from botguard.robots import RobotsTxt
from botguard.robots.fetch import scan_fetcher
from botguard.robots.history import RobotsTimeline
from botguard.robots.limit import MAX_BYTES, read_robots
from botguard.state import State

_HOST_RE = re.compile(r"^[A-Za-z0-9.-]+(?::\d+)?$")
_PORT_RE = re.compile(r":\d+$")


@dataclass(frozen=True, slots=True)
class RobotsOption:
    """Where robots.txt comes from: one file for every host, a file per host, or fetching."""

    default: str | None = None
    per_host: dict[str, str] = field(default_factory=dict)
    fetch: bool = False

    @property
    def by_host(self) -> bool:
        return bool(self.per_host) or self.fetch


def parse_robots_option(values: tuple[str, ...] | list[str], fetch: bool) -> RobotsOption:
    """`--robots FILE` (all hosts) and/or `--robots HOST=FILE` (repeatable), or `--fetch-robots`."""
    default: str | None = None
    per_host: dict[str, str] = {}
    for value in values:
        host, sep, path = value.partition("=")
        if sep and _HOST_RE.match(host) and not os.path.exists(value):
            per_host[host.lower()] = path
        elif default is not None:
            raise UsageError(
                f"--robots FILE given twice ({default}, {value}); use HOST=FILE for virtual hosts"
            )
        else:
            default = value
    if fetch and (default or per_host):
        raise UsageError("--fetch-robots and --robots exclude each other")
    return RobotsOption(default, per_host, fetch)


class RobotsSources:
    """The robots.txt for each virtual host (callable as the judge's RobotsLookup).

    Local files are read as a crawler reads a fetched one: the first 500 KiB count, and
    ``warnings`` says which files were longer.
    """

    def __init__(
        self, option: RobotsOption, fetch: Callable[[str], RobotsTimeline | None] | None = None
    ) -> None:
        self._option = option
        self._fetch = fetch
        self.warnings: list[str] = []
        self._cut: set[str] = set()  # local files longer than a crawler reads
        self._default = self._read(option.default) if option.default else None
        self._by_host = {host: self._read(path) for host, path in option.per_host.items()}
        self._fetched: dict[str, RobotsTimeline | None] = {}

    def _read(self, path: str) -> RobotsTxt:
        body, truncation = read_robots(path)
        if truncation is not None:
            self.warnings.append(f"{path}: {truncation}")
            self._cut.add(path)
        return RobotsTxt.parse(body)

    def __call__(self, host: str | None) -> RobotsTxt | RobotsTimeline | None:
        """The robots.txt of a logged host ("shop.example:443" matches --robots shop.example=FILE)."""
        if host is not None:
            host = host.lower()
            bare = _PORT_RE.sub("", host)
            for name in (host, bare):
                if name in self._by_host:
                    return self._by_host[name]
            if self._fetch is not None:
                if host not in self._fetched:
                    self._fetched[host] = self._fetch(host)
                return self._fetched[host]
        return self._default

    def _local(self, path: str) -> str:
        return f"{path} (first {MAX_BYTES // 1024} KiB)" if path in self._cut else path

    def describe(self) -> dict[str, str]:
        """host ("*" = every other host) -> where its robots.txt came from, for the summary."""
        described = {host: self._local(path) for host, path in self._option.per_host.items()}
        if self._option.default:
            described["*"] = self._local(self._option.default)
        for host, robots in self._fetched.items():
            described[host] = (
                (robots.source or f"https://{host}/robots.txt") if robots is not None else "unavailable"
            )
        return described


@dataclass(frozen=True, slots=True)
class ScanRequest:
    """Everything one scan needs, validated by the caller (CLI or service)."""

    paths: tuple[str, ...]
    settings: Settings
    robots: RobotsOption = field(default_factory=RobotsOption)
    log_format: str | None = None
    state_path: str | None = None  # None: default state dir
    save: bool = True
    dns: bool = True  # forward-confirmed reverse DNS of crawler claims (--no-dns: ranges only)
    identity: bool = True  # prove or disprove crawler claims, ASN/hosting (--no-identity: none of it)
    model: bool = True  # the online model's pass over the judged clients (--no-model: per-client rules only)


def _counted(batches: Iterator[Batch], progress: Callable[[int], None] | None) -> Iterator[Batch]:
    for batch in batches:
        if progress is not None:
            progress(batch.stats.lines)
        yield batch


def _with_model(result: ScanResult, settings: Settings) -> ScanResult:
    """Score every judged client with the online model and raise the disguised ones that share a
    signature with clients judged bad (botguard.model.clients); after the verdicts, before storing."""
    # Imported here: only a scan that runs the model step pays for numpy.
    from botguard.model.clients import score_clients

    outcome = score_clients(result.clients, settings)
    return replace(result, clients=outcome.clients, summary=replace(result.summary, model=outcome.summary))


def run_scan(
    request: ScanRequest,
    *,
    progress: Callable[[int], None] | None = None,
    fetch: Callable[[str], RobotsTimeline | None] | None = None,
) -> ScanResult:
    """Scan the logs, judge every client, and store the result in the state database."""
    if not request.paths:
        raise UsageError("no log file given (use - for standard input)")
    if request.robots.fetch and fetch is None:
        fetch = scan_fetcher(request.state_path)
    robots = RobotsSources(request.robots, fetch)
    catalog = load_catalog()
    log_format = request.log_format or request.settings.log_format
    batches = read_batches(list(request.paths), log_format, json_fields=request.settings.json_fields or None)
    with ExitStack() as stack:
        # The state DB is opened up front when results are saved: it also caches DNS answers.
        # With --no-save nothing touches it, so DNS answers are only remembered for this run.
        state = stack.enter_context(State(request.state_path)) if request.save else None
        identify = None
        if request.identity:
            sources = identity_sources(
                request.settings.identity, dns=request.dns, state=state, state_path=request.state_path
            )
            identify = build_identifier(catalog, sources)
        result = judge_batches(
            _counted(batches, progress),
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
        if request.model and request.settings.model.enabled:
            result = _with_model(result, request.settings)
        if state is not None:
            save_scan(state, result, list(request.paths))
    return result
