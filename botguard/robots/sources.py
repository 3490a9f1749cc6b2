"""Where each virtual host's robots.txt comes from for a scan or a watch: local files or fetching.

:func:`parse_robots_option` turns the ``--robots FILE`` / ``--robots HOST=FILE`` /
``--fetch-robots`` options into a :class:`RobotsOption`; :class:`RobotsSources` answers, per
logged host, the robots.txt the judge and the stream learner compare requests with.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from botguard.errors import UsageError
from botguard.robots.limit import MAX_BYTES, read_robots
from botguard.robots.parser import RobotsTxt

if TYPE_CHECKING:
    from botguard.robots.history import RobotsTimeline

#: A host name or address (IPv6 in brackets) with an optional port: a ``--robots HOST=FILE`` key,
#: and the only logged hosts fetched. A logged host is what the client sent as Host (nginx's
#: ``$host`` keeps ``?``, ``#`` and ``@``): anything else could add a scheme, user, path, query or
#: fragment and turn ``https://HOST/robots.txt`` into a request of the client's choice.
_HOST_RE = re.compile(r"^(?:[A-Za-z0-9_.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$")
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
                if host not in self._fetched:  # no host name: never fetched, its requests not judged
                    self._fetched[host] = self._fetch(host) if _HOST_RE.match(host) else None
                return self._fetched[host]
        return self._default

    def _local(self, path: str) -> str:
        return f"{path} (first {MAX_BYTES // 1024} KiB)" if path in self._cut else path

    def changes(self) -> list[tuple[str, datetime]]:
        """(host, time) of each new robots.txt version the fetched histories hold, oldest first."""
        return sorted(
            (host, moment)
            for host, robots in self._fetched.items()
            if robots is not None
            for moment in robots.changes
        )

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
