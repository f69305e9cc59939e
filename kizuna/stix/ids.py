"""STIX identifiers and timestamps. Clocks and id factories are injected, never patched."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
UuidFactory = Callable[[], uuid.UUID]

_ID_RE = re.compile(
    r"^([a-z0-9][a-z0-9-]*[a-z0-9]|[a-z0-9])--"
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id(stix_type: str, factory: UuidFactory = uuid.uuid4) -> str:
    """A fresh STIX id of ``stix_type`` (``indicator--<uuid4>`` by default)."""
    return f"{stix_type}--{factory()}"


def is_stix_id(value: object) -> bool:
    return isinstance(value, str) and _ID_RE.match(value) is not None


def format_timestamp(moment: datetime, *, precision: str = "millisecond") -> str:
    """RFC 3339 UTC timestamp as STIX writes it: ``2026-02-01T09:30:00.000Z``."""
    moment = moment.astimezone(UTC)
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if precision == "second":
        return base + "Z"
    if precision == "microsecond":
        return f"{base}.{moment.microsecond:06d}Z"
    return f"{base}.{moment.microsecond // 1000:03d}Z"


_TS_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?Z", re.ASCII)


def parse_timestamp(value: str) -> datetime:
    """Parse a STIX timestamp (UTC, ``Z`` suffix, any sub-second precision). ValueError if malformed."""
    m = _TS_RE.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        raise ValueError(f"not a STIX timestamp: {value!r}")
    frac = m.group(7)
    micro = int((frac[1:] + "000000")[:6]) if frac else 0
    return datetime(
        int(m.group(1)),
        int(m.group(2)),
        int(m.group(3)),
        int(m.group(4)),
        int(m.group(5)),
        int(m.group(6)),
        micro,
        tzinfo=UTC,
    )
