"""Refresh published IP ranges from the operators' URLs, keeping the last good copy.

`botguard update` fetches each list marked ``refresh: google`` in rules/ip-ranges/index.yaml
and writes the fresh copy beside the state database (``ip-ranges/``), never into the package.
A fetch that fails, or returns something implausible (not JSON, no valid prefixes, or fewer
than half the networks of the copy in use), changes nothing: a bad day at an operator's CDN
must not turn every real Googlebot into a spoofer.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml

from botguard.identity._ip import network_bounds
from botguard.identity.ranges import INDEX, PublishedRanges, _networks
from botguard.yamldata import safe_load

#: A list must keep at least this share of the networks in use to replace it.
MIN_SHARE = 0.5

Fetch = Callable[[str], bytes]  # URL -> body; raises OSError (or requests' errors) on failure


@dataclass(frozen=True, slots=True)
class UpdateResult:
    """What happened to one list."""

    name: str
    updated: bool
    networks: int  # networks in the copy now in use
    detail: str  # "updated" or why the previous copy was kept


def default_fetch(timeout: float = 20.0) -> Fetch:
    """HTTP(S) GET with requests; non-2xx is a failure."""
    import requests

    def fetch(url: str) -> bytes:
        try:
            response = requests.get(url, timeout=timeout, headers={"User-Agent": "botguard-update"})
            response.raise_for_status()
        except requests.HTTPError as exc:
            code = exc.response.status_code if exc.response is not None else "error"
            raise OSError(f"HTTP {code}") from exc
        except requests.Timeout as exc:
            raise OSError("timeout") from exc
        except requests.ConnectionError as exc:
            raise OSError("cannot connect") from exc
        except requests.RequestException as exc:
            raise OSError(type(exc).__name__) from exc
        return response.content

    return fetch


def _plausible(body: bytes, previous: int) -> tuple[list[str] | None, str]:
    """The networks of a fetched Google-style body, or None and why it is rejected."""
    try:
        networks = [n for n in _networks(body.decode("utf-8"), "google") if n]
    except (ValueError, UnicodeDecodeError, AttributeError, TypeError):
        return None, "not Google-style prefixes JSON"
    if not networks or any(network_bounds(n) is None for n in networks):
        return None, "no valid prefixes" if not networks else "invalid prefixes"
    if len(networks) < MIN_SHARE * previous:
        return None, f"only {len(networks)} networks (was {previous})"
    return networks, "updated"


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def update_ranges(
    dest: Path, fetch: Fetch, today: date, sources: dict[str, str] | None = None
) -> list[UpdateResult]:
    """Refresh every refreshable list into ``dest`` (``sources`` overrides URLs, for tests)."""
    current = PublishedRanges.bundled(dest)
    index_path = dest / INDEX
    index = safe_load(index_path.read_text(encoding="utf-8")) if index_path.is_file() else {}
    results = []
    for name in current.names():
        entry = current.lists[name]
        if entry.refresh != "google":
            continue
        url = (sources or {}).get(name, entry.source)
        previous = len(current.table(name))
        try:
            networks, detail = _plausible(fetch(url), previous)
        except OSError as exc:
            networks, detail = None, f"fetch failed: {exc}"
        if networks is None:
            results.append(UpdateResult(name, False, previous, detail))
            continue
        body = {"creationTime": today.isoformat(), "prefixes": [_prefix(n) for n in networks]}
        _write_atomic(dest / f"{name}.json", json.dumps(body, indent=1).encode())
        index[name] = {
            "file": f"{name}.json", "format": "google", "source": url, "via": f"botguard update from {url}",
            "date": today.isoformat(), "licence": entry.licence, "refresh": "google",
        }  # fmt: skip
        results.append(UpdateResult(name, True, len(networks), detail))
    if any(r.updated for r in results):
        _write_atomic(index_path, yaml.safe_dump(index, sort_keys=True).encode())
    return results


def _prefix(network: str) -> dict[str, str]:
    return {"ipv6Prefix" if ":" in network else "ipv4Prefix": network}
