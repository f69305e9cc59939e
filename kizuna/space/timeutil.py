"""UTC instants as SGP4 wants them (two-part Julian dates) and as people read them (ISO 8601).

SGP4 takes the time as a Julian date split in two floats ``(jd, fr)`` so that sub-millisecond
resolution survives; every conversion in kizuna.space goes through here.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from kizuna.errors import InputError
from kizuna.stix.ids import format_timestamp

#: Julian date of the Unix epoch, 1970-01-01T00:00:00 UTC.
JD_UNIX_EPOCH = 2440587.5
SECONDS_PER_DAY = 86400.0

_ISO_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?\s*(Z|[+-]00:?00|UTC)?$",
    re.IGNORECASE,
)
_DOY_RE = re.compile(r"^(\d{4})-(\d{3})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?Z?$")


def parse_utc(text: str) -> datetime:
    """``2009-02-10T16:55:59.8Z``, ``2009-02-10 16:55``, ``2009-02-10``, ``2009-041T16:55:59.8`` -> UTC.

    Raises InputError for anything else (a time zone other than UTC included).
    """
    s = text.strip()
    m = _ISO_RE.match(s)
    if m is not None:
        y, mo, d, hh, mm, ss, frac, _tz = m.groups()
        try:
            base = datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0), int(ss or 0), tzinfo=UTC)
        except ValueError as exc:
            raise InputError(f"not a valid UTC time {text!r}: {exc}") from None
        return base + timedelta(microseconds=_frac_us(frac))
    m2 = _DOY_RE.match(s)
    if m2 is not None:
        y, doy, hh, mm, ss, frac = m2.groups()
        base = datetime(int(y), 1, 1, tzinfo=UTC) + timedelta(
            days=int(doy) - 1, hours=int(hh), minutes=int(mm), seconds=int(ss)
        )
        return base + timedelta(microseconds=_frac_us(frac))
    raise InputError(f"not a UTC time {text!r}; expected ISO 8601 like 2009-02-10T16:55:59.800Z")


def _frac_us(frac: str | None) -> int:
    if not frac:
        return 0
    digits = frac[1:]
    return round(float("0." + digits) * 1e6)


def format_utc(moment: datetime) -> str:
    """ISO 8601 UTC with milliseconds: ``2009-02-10T16:55:59.796Z`` (the one rule of
    :func:`kizuna.stix.ids.format_timestamp`: digits beyond the millisecond are cut, never rounded)."""
    return format_timestamp(moment)


def format_ccsds(moment: datetime) -> str:
    """CCSDS ASCII time code A with microseconds, no zone letter: ``2009-02-10T16:55:59.796000``."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}"


def to_jd(moment: datetime) -> tuple[float, float]:
    """``(jd, fr)``: whole Julian date at the preceding midnight-based half day, and the fraction."""
    moment = moment.astimezone(UTC)
    unix_s = (moment - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(seconds=1)
    days, secs = divmod(unix_s, SECONDS_PER_DAY)
    return JD_UNIX_EPOCH + days, secs / SECONDS_PER_DAY


def offsets_to_jd(
    start: datetime, offsets_s: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Julian date pairs for ``start + offsets_s`` (seconds), keeping full precision in ``fr``."""
    jd0, fr0 = to_jd(start)
    fr = fr0 + np.asarray(offsets_s, dtype=np.float64) / SECONDS_PER_DAY
    whole = np.floor(fr)
    return jd0 + whole, fr - whole


def from_jd(jd: float, fr: float = 0.0) -> datetime:
    """UTC datetime of a two-part Julian date (microsecond resolution)."""
    days = (jd - JD_UNIX_EPOCH) + fr
    whole = np.floor(days)
    micro = round((days - whole) * SECONDS_PER_DAY * 1e6)
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=float(whole), microseconds=micro)


def add_seconds(moment: datetime, seconds: float) -> datetime:
    return moment + timedelta(microseconds=round(seconds * 1e6))
