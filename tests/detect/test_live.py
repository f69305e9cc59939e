"""The live indicator set agrees with a one-shot run's selection over every version seen (the plain
reference), whatever order versions, revocations and expiries arrive in; and the tail follows a file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from kizuna.detect.live import LiveIndicators
from kizuna.detect.matcher import Event
from kizuna.detect.tail import LogTail

from .conftest import indicator

NOW = datetime(2026, 2, 1, tzinfo=UTC)

version = st.tuples(
    st.integers(1, 4),  # which indicator
    st.integers(0, 5),  # modified (day)
    st.integers(0, 3),  # its value
    st.sampled_from(["live", "revoked", "expired", "later", "bad"]),
)


def _object(n: int, day: int, value: int, kind: str) -> dict[str, object]:
    pattern = f"[ipv4-addr:value = '185.225.18.{value}']" if kind != "bad" else "[ipv4-addr:value = "
    extra: dict[str, object] = {"modified": f"2026-01-{15 + day:02d}T00:00:00.000Z"}
    if kind == "revoked":
        extra["revoked"] = True
    if kind == "expired":
        extra["valid_until"] = "2026-01-31T00:00:00Z"
    if kind == "later":
        extra["valid_until"] = "2026-02-01T00:00:05Z"
    return indicator(pattern, n=n, **extra)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(version, max_size=4), max_size=5), st.integers(0, 10))
def test_live_set_agrees_with_the_reference(
    batches: list[list[tuple[int, int, int, str]]], later_s: int
) -> None:
    live = LiveIndicators(None)
    for batch in batches:
        live.apply([_object(*v) for v in batch], NOW)
    when = NOW + timedelta(seconds=later_s)
    ref = live.reference(when)
    assert live.active_ids(when) == {i.id for i in ref.active}
    # and the matcher answers exactly for those: each active indicator's value hits it, no retired one does
    for ind in ref.active:
        value = ind.pattern.split("'")[1]
        event = Event("t", 1, when, {"0": {"type": "ipv4-addr", "value": value}})
        keys = {hit.key for hit in live.matcher.feed(event)}
        found = {i.id for k in keys if (i := live.current(k, when)) is not None}
        assert ind.id in found
        assert found <= {i.id for i in ref.active}


def test_tail_reads_whole_lines_only(tmp_path) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "a.log"
    log.write_bytes(b"one\ntw")
    tail = LogTail(str(log))
    got = tail.read()
    assert got is not None and got.data == b"one\n" and got.first_line == 0
    assert tail.read() is None
    with log.open("ab") as h:
        h.write(b"o\nthree\n")
    got = tail.read()
    assert got is not None and got.data == b"two\nthree\n" and got.first_line == 1
    assert tail.position.offset == log.stat().st_size and tail.position.line == 3
    tail.close()
