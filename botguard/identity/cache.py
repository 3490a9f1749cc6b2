"""Reverse-DNS answers cached in the state database with a time to live.

Crawler IPs recur scan after scan; caching their FCrDNS answers (positive for a day, "no PTR"
for an hour by default) keeps repeated scans off the network. Inconclusive answers (timeouts)
are never stored, so a flaky resolver cannot make a real crawler look spoofed for a day.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable

from botguard.identity.records import ReverseDns
from botguard.state import State

DDL = """
CREATE TABLE IF NOT EXISTS identity_rdns (
    ip TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    names TEXT NOT NULL,
    confirmed TEXT NOT NULL,
    forward TEXT NOT NULL,
    detail TEXT NOT NULL,
    expires REAL NOT NULL
);
"""

_CHUNK = 500  # SQLite host-parameter limit is 999 on old builds


class DnsCache:
    """FCrDNS answers per IP in the ``identity_rdns`` table of the state database."""

    def __init__(
        self,
        state: State,
        *,
        ttl: float = 86400.0,
        negative_ttl: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.clock = clock
        state.ensure_schema(DDL)

    def get_many(self, ips: Iterable[str]) -> dict[str, ReverseDns]:
        """Unexpired answers for the given IPs."""
        wanted, now, found = list(ips), self.clock(), {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            rows = self.state.conn.execute(
                f"SELECT ip, status, names, confirmed, forward, detail FROM identity_rdns "
                f"WHERE expires > ? AND ip IN ({','.join('?' * len(chunk))})",
                [now, *chunk],
            ).fetchall()
            for ip, status, names, confirmed, forward, detail in rows:
                found[ip] = ReverseDns(
                    ip,
                    status,
                    tuple(json.loads(names)),
                    tuple(json.loads(confirmed)),
                    tuple(json.loads(forward)),
                    detail,
                )
        return found

    def put_many(self, answers: Iterable[ReverseDns]) -> None:
        """Store conclusive answers (ok / nxdomain) in one transaction."""
        now = self.clock()
        rows = [
            (
                a.ip, a.status, json.dumps(a.names), json.dumps(a.confirmed), json.dumps(a.forward), a.detail,
                now + (self.ttl if a.status == "ok" else self.negative_ttl),
            )
            for a in answers
            if a.status != "error"
        ]  # fmt: skip
        if not rows:
            return
        with self.state.transaction() as conn:
            conn.executemany("INSERT OR REPLACE INTO identity_rdns VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
