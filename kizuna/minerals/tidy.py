"""The tidy row every loader produces, the report of what was kept and what was not, value parsing.

One row per measured value: ``(mineral, stage, country_iso3, year, value, unit, basis, flag)`` plus where it
came from (``source`` file role and 1-based ``line``). ``flag`` keeps what the source said about the value
(``W`` withheld, ``E`` net exporter, ``>`` lower bound, ``<`` upper bound, a range, ``estimated``...), so
that nothing the publisher wrote is lost; several flags are joined with ``;``.

Every input row ends up either kept (one or more tidy rows) or *rejected* with a reason in the
:class:`LoadReport`; ``report.rows_read == report.rows_kept + len(report.rejected)`` always holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kizuna.minerals.provenance import FileCheck

#: Stages kizuna uses. ``mining`` = extraction, ``refining`` = processing/refining/smelting.
MINING = "mining"
REFINING = "refining"
STAGES = (MINING, REFINING)


@dataclass(frozen=True, slots=True)
class Row:
    mineral: str
    stage: str
    country_iso3: str
    year: int
    value: float | None
    unit: str
    basis: str
    flag: str
    source: str
    line: int

    def as_dict(self) -> dict[str, object]:
        return {
            "mineral": self.mineral,
            "stage": self.stage,
            "country_iso3": self.country_iso3,
            "year": self.year,
            "value": self.value,
            "unit": self.unit,
            "basis": self.basis,
            "flag": self.flag,
            "source": self.source,
            "line": self.line,
        }


@dataclass(frozen=True, slots=True)
class Rejected:
    """An input row that produced no tidy row, and why."""

    source: str
    line: int
    reason: str
    raw: str


@dataclass(slots=True)
class LoadReport:
    rows_read: int = 0
    rows_kept: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    checks: list[FileCheck] = field(default_factory=list)

    def merge(self, other: LoadReport) -> None:
        self.rows_read += other.rows_read
        self.rows_kept += other.rows_kept
        self.rejected.extend(other.rejected)
        self.checks.extend(other.checks)

    def as_dict(self) -> dict[str, object]:
        return {
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "rejected": [
                {"source": r.source, "line": r.line, "reason": r.reason, "raw": r.raw} for r in self.rejected
            ],
            "files": [
                {"role": c.role, "path": c.path, "status": c.status, "sha256": c.sha256} for c in self.checks
            ],
        }


def slug(name: str) -> str:
    """``"Graphite (Natural)"`` -> ``"graphite_natural"``; the mineral key used everywhere."""
    s = re.sub(r"[^a-z0-9]+", "_", name.strip().lower().replace("\xa0", " "))
    return s.strip("_")


_NUM = r"\d[\d,]*(?:\.\d+)?|\.\d+"
_NUM_RE = re.compile(rf"^(?:{_NUM})$")
_BOUND_RE = re.compile(rf"^(?P<op>[<>])\s*(?P<n>{_NUM})$")
_RANGE_RE = re.compile(rf"^(?P<a>{_NUM})\s*[-–—]\s*(?P<b>{_NUM})$")
_QUERY_RE = re.compile(rf"^\?(?P<n>{_NUM})$")
_DASHES = {"—", "–", "-", "--"}


def _num(text: str) -> float:
    return float(text.replace(",", ""))


@dataclass(frozen=True, slots=True)
class ParsedValue:
    value: float | None
    flag: str


def parse_usgs_value(raw: str) -> ParsedValue:
    """Parse a USGS MCS value cell. Never fails: what is not a number is kept as a flag.

    =================  ===========  ==============================================
    cell               value        flag
    =================  ===========  ==============================================
    ``"10,000"``       10000.0      ``""``
    ``"—"``            0.0          ``zero`` (USGS: zero)
    ``"W"``            None         ``W`` (withheld to avoid disclosing company data)
    ``"E"``            None         ``E`` (net exporter, in net import reliance)
    ``"NA"``           None         ``NA`` (not available)
    ``"XX"``           None         ``XX`` (not applicable)
    ``"s"``            0.0          ``s`` (less than 1/2 unit)
    ``">50"``          50.0         ``>`` (lower bound)
    ``"<1,000"``       1000.0       ``<`` (upper bound)
    ``"50–300"``       175.0        ``range:50-300`` (midpoint)
    ``"?1"``           1.0          ``uncertain`` (a ``?`` before the number)
    ``"Large"``        None         ``text:Large``
    ``""``             None         ``blank``
    =================  ===========  ==============================================
    """
    text = raw.replace("\xa0", " ").strip()
    if text == "":
        return ParsedValue(None, "blank")
    if _NUM_RE.match(text):
        return ParsedValue(_num(text), "")
    if text in _DASHES:
        return ParsedValue(0.0, "zero")
    if text in ("W", "E", "NA", "XX"):
        return ParsedValue(None, text)
    if text == "s":
        return ParsedValue(0.0, "s")
    m = _BOUND_RE.match(text)
    if m:
        return ParsedValue(_num(m.group("n")), m.group("op"))
    m = _RANGE_RE.match(text)
    if m:
        a, b = _num(m.group("a")), _num(m.group("b"))
        return ParsedValue((a + b) / 2.0, f"range:{m.group('a')}-{m.group('b')}")
    m = _QUERY_RE.match(text)
    if m:
        return ParsedValue(_num(m.group("n")), "uncertain")
    return ParsedValue(None, f"text:{text}")


def parse_percent(raw: str) -> ParsedValue:
    """EU CRM share cells: ``"62.8%"`` -> 62.8; ``"<0.1%"`` -> 0.1 flagged ``<``; otherwise ``text:``."""
    text = raw.strip()
    op = ""
    if text.startswith("<"):
        op, text = "<", text[1:].strip()
    if text.endswith("%"):
        text = text[:-1].strip()
    if _NUM_RE.match(text):
        return ParsedValue(_num(text), op)
    return ParsedValue(None, f"text:{raw.strip()}")


#: Mass units of the USGS file and their factor to metric tonnes.
TONNES_PER_UNIT: dict[str, float] = {
    "metric tons": 1.0,
    "tons": 1.0,
    "thousand metric tons": 1e3,
    "thousand metric dry tons": 1e3,
    "million metric tons": 1e6,
    "kilograms": 1e-3,
}


def to_tonnes(value: float | None, unit: str) -> float | None:
    """``value`` in metric tonnes, or None when the unit is not a mass (or the value is missing)."""
    factor = TONNES_PER_UNIT.get(unit.strip())
    if value is None or factor is None:
        return None
    return value * factor
