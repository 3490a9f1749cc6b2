"""What each request is for its actor's evidence (a page, an asset, a honeypot page, robots.txt,
not an HTTP request at all), and whether robots.txt allowed it: memoised per distinct target."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from botguard.judge import ASSET_RE, ROBOTS_RE
from botguard.model._actors import ASSET, HONEYPOT, INVALID, PAGE, ROBOTS
from botguard.model._keys import MEMO_LIMIT, Call
from botguard.robots.columns import logged_target
from botguard.robots.history import RobotsTimeline


class RequestKinds:
    """Kinds of request targets and robots.txt verdicts, memoised.

    ``robots`` is a callable host -> RobotsTxt | RobotsTimeline | None (scan.RobotsSources);
    without one, or for a host without a robots.txt, every path counts as allowed.
    """

    def __init__(self, honeypots: Sequence[str], robots: Callable[[str | None], Any] | None) -> None:
        self.robots = robots
        self._honeypots = tuple(honeypots)
        self._kinds: dict[str, int] = {}
        self._allowed: dict[tuple[str | None, int, str, str], bool] = {}
        self._asset = re.compile(ASSET_RE)
        self._robots_path = re.compile(ROBOTS_RE)

    def kinds(self, call: Call) -> tuple[np.ndarray, np.ndarray]:
        """Each request's kind, and whether robots.txt disallowed it (pages only)."""
        memo = self._kinds
        if len(memo) > MEMO_LIMIT:
            memo.clear()
        kind_of = self.kind_of
        kind = np.fromiter(
            (
                INVALID if not ok or tgt is None else (memo.get(tgt) if tgt in memo else kind_of(tgt))
                for tgt, ok in zip(call.target, call.valid.tolist())
            ),
            np.int8,
            call.n,
        )
        disallowed = np.zeros(call.n, dtype=bool)
        if self.robots is not None:
            tokens = [info.token for info in call.ua_infos]
            ua_of = call.ua_of
            for i in np.flatnonzero(kind == PAGE).tolist():
                if not self.allowed(call.host[i], float(call.t[i]), tokens[ua_of[i]], call.target[i]):  # type: ignore[arg-type]
                    disallowed[i] = True
        return kind, disallowed

    def kind_of(self, target: str) -> int:
        """What a request target is, whoever asks: robots.txt, an asset, a honeypot page or a page."""
        if self._robots_path.search(target):
            kind = ROBOTS
        elif self._asset.search(target):
            kind = ASSET
        else:
            kind = HONEYPOT if target.startswith(self._honeypots) else PAGE
        self._kinds[target] = kind
        return kind

    def allowed(self, host: str | None, t: float, token: str, target: str) -> bool:
        """robots.txt verdict for the request (allowed when no robots.txt is known)."""
        robots = self.robots(host) if self.robots is not None else None
        if robots is None:
            return True
        epoch = 0
        if isinstance(robots, RobotsTimeline) and robots.boundaries:
            epoch = bisect_right([b.timestamp() for b in robots.boundaries], t)
        key = (host, epoch, token, target)
        allowed = self._allowed.get(key)
        if allowed is None:
            if len(self._allowed) > MEMO_LIMIT:
                self._allowed.clear()
            url = logged_target(target)
            if isinstance(robots, RobotsTimeline):
                allowed = robots.allowed_many(epoch, token, [url])[0]
            else:
                allowed = robots.is_allowed(token, url)
            self._allowed[key] = allowed
        return allowed
