"""Issue 14's hostile probe: copies of a person's first request from other addresses.

A dozen new addresses each send, in the minute before a person arrives, exactly the request the
person's first page will be (its path has one number, so it reads as a walk template). The copies
form a "walk" chain, the person joins it and is raised; its next page names its own first page as
the referer, so the cross-address raise goes (a reader follows its own links). The request that
dropped the raise must then be scored with what remains of it (the kept share), not with the
raise read before the drop: it is the client's last request, so its score is the client's score.
A person whose browser loads the page's assets drops the raise the same way, keeping nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from botguard.model.campaigns import _KEPT_SHARE
from botguard.model.stream import StreamLearner
from tests.model.streamkit import CHROME, frame, learner, req

PERSON = "2600:6c9b:4410:2a00::1b2a"
FIRST = "/journal/pine-pine-outdoor-69/"
SECOND = "/journal/about-the-trail/"
ENTRY = "https://www.google.com/"


def _probe() -> list[dict[str, Any]]:
    """Twelve copies of the person's first request (5 s apart, ending 5 s before it), then the
    person's two pages: no assets (its browser cached them), the second following the first."""
    copies = [req(100.0 + 5.0 * k, f"203.0.113.{10 + k}", CHROME, FIRST, referer=ENTRY) for k in range(12)]
    person = [
        req(160.0, PERSON, CHROME, FIRST, referer=ENTRY),
        req(190.0, PERSON, CHROME, SECOND, referer=f"https://www.example.com{FIRST}"),
    ]
    return copies + person


def _observed(rows: list[dict[str, Any]]) -> tuple[StreamLearner, np.ndarray]:
    """A learner that observed ``rows`` in one call, and each row's campaign probability as the
    campaign book handed it to the model (the spy keeps what ``observe`` returned)."""
    model = learner()
    book = model.campaigns
    campaign: list[np.ndarray] = []
    observe = book.observe

    def spy(*args: Any) -> tuple[np.ndarray, np.ndarray]:
        found = observe(*args)
        campaign.append(found[0])
        return found

    book.observe = spy  # type: ignore[method-assign]
    model.observe(frame(rows))
    return model, np.concatenate(campaign)


def test_a_person_whose_raise_went_keeps_only_the_kept_share_in_its_score() -> None:
    """The person joined the copies' chain (raised at 0.99), then followed its own link (the raise
    dropped): its verdict is allow, the campaign probability of the request that dropped the raise
    is the kept share, and the person's last score is not the raise's 0.99."""
    rows = _probe()
    model, campaign = _observed(rows)
    key, book = (PERSON, CHROME), model.campaigns
    raised = model.raises()
    assert {raised[(f"203.0.113.{10 + k}", CHROME)].kind for k in range(12)} == {"walk"}
    assert key not in raised
    kept = book.clients[key].kept
    assert kept == min(_KEPT_SHARE * 0.99, book.short_of)
    assert campaign[len(rows) - 1] == kept  # the person's last request
    assert book.scores[key][0] < 0.9


def test_a_person_loading_an_asset_after_the_copies_is_scored_without_the_raise() -> None:
    """The same copies, and a person whose browser loads the first page's stylesheet (its last
    request): the asset drops the raise and leaves nothing of it, so that request's campaign
    probability is 0 and the person's score is not the raise's 0.99."""
    rows = _probe()[:-1]
    rows.append(req(160.3, PERSON, CHROME, "/static/app.css", referer=f"https://www.example.com{FIRST}"))
    model, campaign = _observed(rows)
    key = (PERSON, CHROME)
    assert key not in model.raises()
    assert campaign[len(rows) - 1] == 0.0  # the person's last request
    assert model.campaigns.scores[key][0] < 0.9
