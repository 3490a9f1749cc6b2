"""``botguard update``: refresh the published crawler IP ranges (keeps the last good copy)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from botguard.app.env import Env
from botguard.identity.setup import updated_ranges_dir
from botguard.identity.update import UpdateResult, default_fetch, update_ranges

__all__ = ["UpdateReport", "UpdateRequest", "run_update"]


@dataclass(frozen=True, slots=True)
class UpdateRequest:
    """Which lists: every refreshable one, from its operator's URL unless ``sources`` overrides it."""

    sources: Mapping[str, str] | None = None  # list name -> URL


@dataclass(frozen=True, slots=True)
class UpdateReport:
    """What happened to each list."""

    results: tuple[UpdateResult, ...]

    @property
    def all_updated(self) -> bool:
        """Every list was refreshed (a kept copy is a failure to report: exit 1)."""
        return all(r.updated for r in self.results)


def run_update(request: UpdateRequest, env: Env) -> UpdateReport:
    """Fetch each list into ``ip-ranges/`` beside the state database; implausible fetches change nothing."""
    dest = updated_ranges_dir(env.state_path)
    sources = dict(request.sources) if request.sources is not None else None
    return UpdateReport(tuple(update_ranges(dest, default_fetch(), env.now().date(), sources)))
