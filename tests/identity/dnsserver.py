"""A tiny authoritative DNS server on 127.0.0.1 for the tests (dnspython's message API, UDP).

It answers from a dict of records, returns NXDOMAIN for unknown names, NOERROR/no data for a
known name with another type, and never answers the names in ``silent`` (a timeout case).
It counts queries so tests can prove the cache kept a lookup off the wire.
"""

from __future__ import annotations

import socket
import threading
from collections import Counter

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


class FakeDnsServer:
    """``with FakeDnsServer(records) as server:`` then resolve against 127.0.0.1:server.port."""

    def __init__(
        self, records: dict[tuple[str, str], list[str]], silent: frozenset[str] = frozenset()
    ) -> None:
        self.records = {
            (name.lower().rstrip(".") + ".", rdtype): values for (name, rdtype), values in records.items()
        }
        self.silent = {name.lower().rstrip(".") + "." for name in silent}
        self.queries: Counter[tuple[str, str]] = Counter()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self.port: int = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FakeDnsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            reply = self._answer(data)
            if reply is not None:
                self._sock.sendto(reply, peer)

    def _answer(self, data: bytes) -> bytes | None:
        query = dns.message.from_wire(data)
        question = query.question[0]
        name, rdtype = question.name.to_text().lower(), dns.rdatatype.to_text(question.rdtype)
        self.queries[(name, rdtype)] += 1
        if name in self.silent:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if (name, rdtype) in self.records:
            response.answer.append(
                dns.rrset.from_text_list(name, 300, "IN", rdtype, self.records[(name, rdtype)])
            )
        elif not any(known == name for known, _ in self.records):
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response.to_wire()
