"""``timestamp_us`` (the intake's parser) agrees with ``to_us(parse_timestamp(...))``, errors included."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from kizuna.stix.ids import name_uuid, parse_timestamp, timestamp_us, to_us


def _reference(text: str) -> int | str:
    try:
        return to_us(parse_timestamp(text))
    except ValueError as exc:
        return str(exc)


def _fast(text: str) -> int | str:
    try:
        return timestamp_us(text)
    except ValueError as exc:
        return str(exc)


@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)), st.integers(0, 9))
def test_valid_timestamps(moment: datetime, digits: int) -> None:
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    text = text.zfill(19)  # years below 1000
    frac = f"{moment.microsecond:06d}{moment.microsecond % 1000:03d}"[:digits]
    stamp = f"{text}.{frac}Z" if digits else f"{text}Z"
    assert _fast(stamp) == _reference(stamp)
    assert _fast(stamp) == to_us(moment.replace(tzinfo=UTC).replace(microsecond=int((frac + "000000")[:6])))


@given(
    st.tuples(
        st.integers(0, 10000),
        st.integers(0, 13),
        st.integers(0, 32),
        st.integers(0, 25),
        st.integers(0, 61),
        st.integers(0, 61),
    ),
    st.sampled_from(["", ".5", ".123", ".1234567", "."]),
    st.sampled_from(["Z", "", "+00:00", "z"]),
)
def test_any_field_values(parts: tuple[int, ...], frac: str, zone: str) -> None:
    y, mo, d, h, mi, s = parts
    stamp = f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{frac}{zone}"
    assert _fast(stamp) == _reference(stamp)


@given(st.text(max_size=40))
def test_any_text(text: str) -> None:
    assert _fast(text) == _reference(text)


@given(st.uuids(), st.text(max_size=60))
def test_name_uuid_is_uuid5(namespace: uuid.UUID, name: str) -> None:
    assert name_uuid(namespace, name) == str(uuid.uuid5(namespace, name))
