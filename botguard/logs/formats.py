"""The log-format extension point: one ``Protocol``, one registry, one way to name a format.

To add a format: 1. write a class with a ``name``, a ``description`` and ``parse_batch`` (see
:class:`LogFormat`); 2. expose an instance (or a zero-argument callable returning one) under
the ``botguard.log_formats`` entry-point group; 3. run ``tests/logs/test_contracts.py``, which
checks every registered format against the same contract. Built-ins are loaded through the
same :func:`build_registry` as extensions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import partial
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

import polars as pl

from botguard.errors import UsageError
from botguard.logs.records import ParseStats

ENTRY_POINT_GROUP = "botguard.log_formats"


@runtime_checkable
class LogFormat(Protocol):
    """A log format: turns a batch of raw lines into typed request rows and honest counts.

    ``parse_batch`` receives consecutive lines of one file (``first_line_no`` is the 1-based
    number of the first) and returns rows in :data:`~botguard.logs.records.REQUEST_SCHEMA`,
    in line order, plus :class:`~botguard.logs.records.ParseStats` whose ``lines`` equals
    ``len(lines)``. It never raises on bad input: a line it cannot read is counted as
    malformed with a reason.
    """

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    def parse_batch(
        self, lines: pl.Series, *, source: str, first_line_no: int = 1
    ) -> tuple[pl.DataFrame, ParseStats]: ...


@runtime_checkable
class BlockFormat(LogFormat, Protocol):
    """Optional capability: parse a block of raw bytes (whole lines, ending with a newline).

    Formats that can split fields straight from bytes skip the separate line split; the reader
    uses this when a format offers it and :meth:`LogFormat.parse_batch` otherwise. Results must
    equal ``parse_batch`` on the same lines. The block is the file's bytes: any that are not
    UTF-8 are the format's to read as their escapes, as
    :func:`~botguard.logs.escapes.escape_raw_bytes` writes them (what ``parse_batch`` is given).
    """

    def parse_block(
        self, data: bytes, *, source: str, first_line_no: int = 1
    ) -> tuple[pl.DataFrame, ParseStats]: ...


def _builtin_providers() -> list[Callable[[], Iterable[LogFormat]]]:
    # Imported here so that importing the protocol does not import every implementation.
    from botguard.logs.jsonl import builtin_formats as json_formats
    from botguard.logs.text import builtin_formats as text_formats

    return [text_formats, json_formats]


def _plugin_providers() -> list[Callable[[], Iterable[LogFormat]]]:
    return [partial(_as_formats, ep.load()) for ep in entry_points(group=ENTRY_POINT_GROUP)]


def _as_formats(obj: object) -> Iterable[LogFormat]:
    produced: Any = obj() if callable(obj) and not isinstance(obj, LogFormat) else obj  # a plugin's
    if isinstance(produced, LogFormat):
        return [produced]
    return list(produced)


def build_registry(providers: Iterable[Callable[[], Iterable[LogFormat]]]) -> dict[str, LogFormat]:
    """Name -> format from providers, in order; the order is also detection's tie-break order."""
    registry: dict[str, LogFormat] = {}
    for provide in providers:
        for fmt in provide():
            if not isinstance(fmt, LogFormat):
                raise TypeError(f"{fmt!r} does not implement LogFormat")
            if fmt.name in registry:
                raise ValueError(f"log format {fmt.name!r} registered twice")
            registry[fmt.name] = fmt
    return registry


#: Every known format by name. Built once at import; treat as read-only.
FORMATS: dict[str, LogFormat] = build_registry(_builtin_providers() + _plugin_providers())


def resolve_format(spec: str, json_fields: Mapping[str, str] | None = None) -> LogFormat:
    """A format from a registry name or an nginx ``log_format`` string, else :class:`UsageError`.

    Examples:
        >>> resolve_format("combined").name
        'combined'
        >>> resolve_format('$remote_addr [$time_local] "$request" $status').name
        'custom'
    """
    if json_fields and spec == "json":
        from botguard.logs.jsonl import JsonFormat

        return JsonFormat.with_fields(json_fields)
    if spec in FORMATS:
        return FORMATS[spec]
    if "$" in spec:
        from botguard.logs.text import TemplateFormat

        return TemplateFormat("custom", spec, "nginx log_format given on the command line")
    known = ", ".join(FORMATS)
    raise UsageError(
        f"unknown log format {spec!r} (known: {known}; or an nginx log_format string with $variables)"
    )
