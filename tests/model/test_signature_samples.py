"""The explanation samples the stream hands the signature book (botguard.model._batches.Sample).

Every actor of every micro-batch hands the book its latest request's features; the book keeps a
few per key to explain a candidate. They must read as the request's keys, survive snapshots, and
cost nothing until read.
"""

from __future__ import annotations

from pathlib import Path

from botguard.model._batches import Sample
from botguard.model.stream import StreamLearner
from tests.model.streamkit import NOVA, ROBOTS, frame, learner, req, settings


def _scraper_rows() -> list[dict[str, object]]:
    return [req(2.0 * i, f"65.108.{i % 6}.9", NOVA, f"/product/{i}") for i in range(400)]


def test_samples_are_built_only_when_read_and_read_as_the_requests_keys(tmp_path: Path) -> None:
    """After a stream, the book's kept samples have not been built; read, each is a request's
    feature keys (every value 1.0, the signature key among them); a snapshot keeps them."""
    model = learner()
    model.observe(frame(_scraper_rows()))
    model.flush()
    samples = [x for stats in model.book.stats.values() for x in stats.samples]
    assert samples and all(isinstance(x, Sample) and x._x is None for x in samples)
    stats = model.book.stats["ua_tok=novascrape"]
    first = dict(stats.samples[0])
    assert first["ua_tok=novascrape"] == 1.0 and set(first.values()) == {1.0}
    assert stats.samples[0]._x is not None  # built once read
    model.snapshot(tmp_path / "snap")
    again = StreamLearner.restore(tmp_path / "snap", settings(), robots=lambda host: ROBOTS)
    kept = [dict(x) for x in again.book.stats["ua_tok=novascrape"].samples]
    assert kept == [dict(x) for x in stats.samples]
