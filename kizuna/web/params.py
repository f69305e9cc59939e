"""Query parameters and form fields, checked: a value the UI cannot use answers 400 naming the parameter."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from kizuna.stix.ids import to_us
from kizuna.web.errors import BadParameter

#: Longest value of any one parameter.
MAX_PARAM_CHARS = 1000
#: Values of a repeatable parameter, at most.
MAX_VALUES = 20

_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,249}$")
_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?Z?)?$")


class Params:
    """The query string (or form) of one request, read with checks."""

    def __init__(self, multi: Mapping[str, Sequence[str]]) -> None:
        self._multi = multi

    @classmethod
    def of(cls, items: Sequence[tuple[str, str]]) -> Params:
        multi: dict[str, list[str]] = {}
        for k, v in items:
            multi.setdefault(k, []).append(v)
        return cls(multi)

    def all(self, name: str) -> list[str]:
        values = [v for v in self._multi.get(name, ()) if v != ""]
        if len(values) > MAX_VALUES:
            raise BadParameter(name, f"at most {MAX_VALUES} values")
        for v in values:
            if len(v) > MAX_PARAM_CHARS:
                raise BadParameter(name, f"longer than {MAX_PARAM_CHARS} characters")
            if any(ord(c) < 0x20 and c not in "\t\r\n" for c in v):
                raise BadParameter(name, "control characters are not allowed")
        return values

    def one(self, name: str) -> str | None:
        values = self.all(name)
        if len(values) > 1:
            raise BadParameter(name, "give it once")
        return values[0] if values else None

    def text(self, name: str, default: str = "") -> str:
        value = self.one(name)
        return default if value is None else value.strip()

    def choice(self, name: str, allowed: Sequence[str], default: str) -> str:
        value = self.one(name)
        if value is None:
            return default
        if value not in allowed:
            raise BadParameter(name, f"{value!r} is not one of {', '.join(allowed)}")
        return value

    def choices(self, name: str, allowed: Sequence[str]) -> tuple[str, ...]:
        values = self.all(name)
        bad = [v for v in values if v not in allowed]
        if bad:
            raise BadParameter(name, f"{bad[0]!r} is not one of {', '.join(allowed)}")
        return tuple(dict.fromkeys(values))

    def integer(self, name: str, *, lo: int, hi: int, default: int | None = None) -> int | None:
        value = self.one(name)
        if value is None:
            return default
        if not re.fullmatch(r"-?\d{1,18}", value.strip()):
            raise BadParameter(name, f"{value!r} is not a whole number")
        n = int(value)
        if not lo <= n <= hi:
            raise BadParameter(name, f"must be between {lo} and {hi}")
        return n

    def number(self, name: str, *, lo: float, hi: float) -> float | None:
        value = self.one(name)
        if value is None:
            return None
        try:
            x = float(value)
        except ValueError:
            raise BadParameter(name, f"{value!r} is not a number") from None
        if not lo <= x <= hi:  # also refuses NaN
            raise BadParameter(name, f"must be between {lo:g} and {hi:g}")
        return x

    def types(self, name: str = "type") -> tuple[str, ...]:
        values = self.all(name)
        bad = [t for t in values if not _TYPE_RE.match(t)]
        if bad:
            raise BadParameter(name, f"{bad[0]!r} is not a STIX object type")
        return tuple(sorted(set(values)))

    def moment_us(self, name: str) -> int | None:
        """A date (``2026-02-01``), a date and time (``2026-02-01T09:30``, as a browser's
        ``datetime-local`` field sends it) or a STIX timestamp, in UTC; microseconds since the epoch."""
        value = self.one(name)
        if value is None:
            return None
        return parse_moment_us(name, value)

    def boolean(self, name: str) -> bool | None:
        value = self.one(name)
        if value is None or value == "any":
            return None
        if value in ("yes", "true", "1"):
            return True
        if value in ("no", "false", "0"):
            return False
        raise BadParameter(name, f"{value!r} is not yes, no or any")


def parse_moment_us(name: str, value: str) -> int:
    m = _DATE_RE.fullmatch(value.strip())
    if m is None:
        raise BadParameter(name, f"{value!r} is not a date (YYYY-MM-DD) or date and time (YYYY-MM-DDTHH:MM)")
    y, mo, d, h, mi, s, frac = m.groups()
    try:
        moment = datetime(
            int(y),
            int(mo),
            int(d),
            int(h or 0),
            int(mi or 0),
            int(s or 0),
            int(((frac or "") + "000000")[:6]),
            tzinfo=UTC,
        )
    except ValueError:
        raise BadParameter(name, f"{value!r} is not a valid date") from None
    if moment.year < 1970:
        raise BadParameter(name, "dates before 1970 are not stored here")
    return to_us(moment)
