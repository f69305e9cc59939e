"""The work ahead of the writer (kizuna.ingest.pipeline) and the feed's concurrent fetch agree with their
plain serial references: the same items, in the same order, the same failures at the same place."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kizuna.ingest.feed import Feed, FeedError
from kizuna.ingest.pipeline import ahead
from tests.ingest.feeds import feed_event, serve, write_feed


class _Boom(Exception):
    pass


def _items(values: list[int], fail_at: int | None, closed: list[bool]) -> Iterator[int]:
    try:
        for i, v in enumerate(values):
            if i == fail_at:
                raise _Boom(i)
            yield v
    finally:
        closed.append(True)


def _drain(it: Iterator[int]) -> tuple[list[int], str | None]:
    got: list[int] = []
    try:
        for v in it:
            got.append(v)
    except _Boom as exc:
        return got, repr(exc)
    return got, None


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(), max_size=30),
    st.one_of(st.none(), st.integers(0, 30)),
    st.integers(1, 5),
)
def test_ahead_yields_what_the_plain_iterator_yields(
    values: list[int], fail_at: int | None, depth: int
) -> None:
    ref_closed: list[bool] = []
    fast_closed: list[bool] = []
    reference = _drain(ahead(_items(values, fail_at, ref_closed), 0))
    fast = _drain(ahead(_items(values, fail_at, fast_closed), depth))
    assert fast == reference
    assert fast_closed == ref_closed == [True]


def test_a_consumer_that_stops_early_stops_the_producer() -> None:
    closed: list[bool] = []
    made: list[int] = []

    def items() -> Iterator[int]:
        try:
            for i in range(10_000):
                made.append(i)
                yield i
        finally:
            closed.append(True)

    gen = ahead(items(), 3)
    assert [next(gen) for _ in range(5)] == [0, 1, 2, 3, 4]
    gen.close()  # joins the producer
    assert closed == [True]
    assert len(made) <= 5 + 3 + 2  # what was consumed, the queue, and the one being put


@pytest.mark.parametrize("workers, budget", [(4, 64 * 1024 * 1024), (3, 1)])
def test_concurrent_fetch_agrees_with_the_serial_one(tmp_path: Path, workers: int, budget: int) -> None:
    events = [feed_event(n, attributes=3 + n % 40) for n in range(30)]
    root = write_feed(tmp_path / "feed", events)
    (root / f"{events[7]['uuid']}.json").unlink()  # listed, missing
    limit = max(len((root / f"{e['uuid']}.json").read_bytes()) for e in events[:20] if e is not events[7])
    uuids = [e["uuid"] for e in events]

    def outcome(raw: object) -> object:
        return raw if isinstance(raw, bytes) else f"{type(raw).__name__}: {raw}"

    with serve(root) as url, Feed(url, max_event_bytes=limit) as feed:
        serial = [(u, outcome(r)) for u, r in feed.fetch_all(uuids, workers=1)]
        fast = [(u, outcome(r)) for u, r in feed.fetch_all(uuids, workers=workers, budget_bytes=budget)]
    assert fast == serial
    assert [u for u, _ in serial] == uuids
    failures = {u: r for u, r in serial if isinstance(r, str)}
    assert failures[events[7]["uuid"]].startswith(FeedError.__name__) and "missing" in str(
        failures[events[7]["uuid"]]
    )
    assert any("over the limit" in str(r) for r in failures.values())  # the larger events of the last 10
    assert len(failures) < len(uuids) - 10
