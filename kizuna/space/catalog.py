"""Catalogue ingest: TLE, 3LE and CCSDS OMM (KVN, XML, JSON, CSV) into :class:`CatalogObject` records.

Parsing of the element sets themselves is left to the ``sgp4`` package (``Satrec.twoline2rv`` and
``sgp4.omm``); this module finds the records in a file, reports a bad one with its file and line and
skips it, and keeps the newest epoch when a NORAD id appears twice.

>>> cat = parse_tle_text(IRIDIUM_33_TLE, source="example")
>>> cat.objects[0].norad_id
24946
"""

from __future__ import annotations

import io
import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sgp4 import omm
from sgp4.api import WGS72, Satrec
from sgp4.io import compute_checksum

from kizuna.errors import InputError, NotFound
from kizuna.space.timeutil import from_jd

__all__ = ["Catalog", "CatalogObject", "Problem", "parse_tle_text", "read_catalog"]

IRIDIUM_33_TLE = (
    "IRIDIUM 33\n"
    "1 24946U 97051C   09040.78448243  .00000153  00000-0  47668-4 0  4775\n"
    "2 24946  86.3994 121.7028 0002288  85.1644 274.9812 14.34219863597336\n"
)

_OMM_FIELDS = (
    "OBJECT_NAME",
    "OBJECT_ID",
    "EPOCH",
    "MEAN_MOTION",
    "ECCENTRICITY",
    "INCLINATION",
    "RA_OF_ASC_NODE",
    "ARG_OF_PERICENTER",
    "MEAN_ANOMALY",
    "EPHEMERIS_TYPE",
    "CLASSIFICATION_TYPE",
    "NORAD_CAT_ID",
    "ELEMENT_SET_NO",
    "REV_AT_EPOCH",
    "BSTAR",
    "MEAN_MOTION_DOT",
    "MEAN_MOTION_DDOT",
)
_OMM_DEFAULTS = {
    "OBJECT_ID": "",
    "EPHEMERIS_TYPE": "0",
    "CLASSIFICATION_TYPE": "U",
    "ELEMENT_SET_NO": "999",
    "REV_AT_EPOCH": "0",
    "MEAN_MOTION_DDOT": "0",
}


@dataclass(frozen=True)
class Problem:
    """A record that was skipped (or a note about one that was replaced), located in its file."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class CatalogObject:
    """One element set. Plain data (picklable); :meth:`satrec` builds the SGP4 model from it."""

    norad_id: int
    name: str
    epoch: datetime
    source: str
    tle: tuple[str, str] | None = None
    omm_fields: tuple[tuple[str, str], ...] | None = None

    def satrec(self) -> Satrec:
        if self.tle is not None:
            return Satrec.twoline2rv(self.tle[0], self.tle[1], WGS72)
        assert self.omm_fields is not None
        sat = Satrec()
        omm.initialize(sat, dict(self.omm_fields))
        return sat

    def international_designator(self) -> str:
        """``1997-051C`` from the TLE's ``97051C`` (``UNKNOWN`` when absent)."""
        if self.omm_fields is not None:
            oid = dict(self.omm_fields).get("OBJECT_ID", "")
            if oid:
                return oid
        raw = self.tle[0][9:17].strip() if self.tle is not None else ""
        if len(raw) < 5 or not raw[:5].isdigit():
            return "UNKNOWN"
        year = int(raw[:2])
        return f"{1900 + year if year >= 57 else 2000 + year}-{raw[2:]}"

    def tle_lines(self) -> tuple[str, str]:
        """The element set as TLE lines (exported by ``sgp4.exporter`` for OMM input)."""
        if self.tle is not None:
            return self.tle
        from sgp4.exporter import export_tle

        l1, l2 = export_tle(self.satrec())
        return str(l1), str(l2)


@dataclass
class Catalog:
    objects: list[CatalogObject] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def by_norad(self) -> dict[int, CatalogObject]:
        return {o.norad_id: o for o in self.objects}

    def satrecs(self) -> list[Satrec]:
        return [o.satrec() for o in self.objects]


def _epoch_of(sat: Satrec) -> datetime:
    return from_jd(sat.jdsatepoch, sat.jdsatepochF)


def _dedupe(objs: Iterable[CatalogObject], problems: list[Problem]) -> list[CatalogObject]:
    best: dict[int, CatalogObject] = {}
    for o in objs:
        prev = best.get(o.norad_id)
        if prev is None:
            best[o.norad_id] = o
            continue
        newer, older = (o, prev) if o.epoch > prev.epoch else (prev, o)
        best[o.norad_id] = newer
        problems.append(
            Problem(
                older.source.rsplit(":", 1)[0],
                _line_of(older.source),
                f"duplicate NORAD {o.norad_id}: kept epoch {newer.epoch.isoformat()} "
                f"from {newer.source}, dropped older epoch {older.epoch.isoformat()}",
            )
        )
    return sorted(best.values(), key=lambda x: x.norad_id)


def _line_of(source: str) -> int | None:
    tail = source.rsplit(":", 1)
    if len(tail) == 2 and tail[1].isdigit():
        return int(tail[1])
    return None


def _check_tle_line(line: str, number: str, verify_checksum: bool = True) -> str | None:
    if not line.startswith(number + " "):
        return f"expected TLE line {number}"
    body = line[:69]
    if len(body) < 69:
        return f"TLE line {number} is {len(body)} characters long, expected 69"
    if verify_checksum and body[68].isdigit() and int(body[68]) != compute_checksum(body):
        return f"TLE line {number} checksum is {body[68]}, computed {compute_checksum(body)}"
    return None


def parse_tle_text(
    text: str, *, source: str = "<text>", verify_checksums: bool = True, dedupe: bool = True
) -> Catalog:
    """Parse TLE or 3LE text (``#`` comments and blank lines are ignored).

    A line whose checksum digit disagrees is reported and its element set skipped unless
    ``verify_checksums`` is false; with ``dedupe`` false every element set is kept, in file order.
    """
    problems: list[Problem] = []
    found: list[CatalogObject] = []
    lines = text.splitlines()
    name = ""
    name_line = 0
    i = 0
    while i < len(lines):
        raw = lines[i].rstrip()
        lineno = i + 1
        if not raw.strip() or raw.lstrip().startswith("#"):
            i += 1
            continue
        line2 = lines[i + 1].rstrip() if i + 1 < len(lines) else ""
        if raw.startswith("1 ") and (len(raw) >= 60 or line2.startswith("2 ")):
            msg = _check_tle_line(raw, "1", verify_checksums)
            bad_line = lineno
            if msg is None:
                msg = _check_tle_line(line2, "2", verify_checksums)
                bad_line = lineno + 1
            if msg is None and raw[2:7] != line2[2:7]:
                msg = f"TLE lines 1 and 2 name different objects ({raw[2:7]!r}, {line2[2:7]!r})"
                bad_line = lineno
            if msg is not None:
                problems.append(Problem(source, bad_line, msg))
                i += 2 if line2.startswith("2 ") else 1
                name = ""
                continue
            l1, l2 = raw[:69], line2[:69]
            try:
                sat = Satrec.twoline2rv(l1, l2, WGS72)
            except (ValueError, IndexError) as exc:
                problems.append(Problem(source, lineno, f"bad TLE: {exc}"))
                i += 2
                name = ""
                continue
            if sat.error:
                problems.append(Problem(source, lineno, f"SGP4 rejects this element set (error {sat.error})"))
            else:
                found.append(
                    CatalogObject(
                        norad_id=int(sat.satnum),
                        name=name or str(sat.satnum),
                        epoch=_epoch_of(sat),
                        source=f"{source}:{lineno}",
                        tle=(l1, l2),
                    )
                )
            name = ""
            i += 2
            continue
        if raw.startswith("2 ") and len(raw) >= 60:
            if name:
                problems.append(Problem(source, name_line, f"title line {name!r} is not followed by a TLE"))
            problems.append(Problem(source, lineno, "TLE line 2 without a line 1 before it"))
            i += 1
            name = ""
            continue
        # a title line (3LE); "0 NAME" is the Space-Track form
        if name:
            problems.append(Problem(source, name_line, f"title line {name!r} is not followed by a TLE"))
        name = raw[2:].strip() if raw.startswith("0 ") else raw.strip()
        name_line = lineno
        i += 1
    if name:
        problems.append(Problem(source, name_line, f"title line {name!r} is not followed by a TLE"))
    return Catalog(_dedupe(found, problems) if dedupe else found, problems)


def _omm_object(
    fields: Mapping[str, Any], source: str, lineno: int | None, problems: list[Problem]
) -> CatalogObject | None:
    values: dict[str, str] = {}
    for key in _OMM_FIELDS:
        raw = fields.get(key)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if key in _OMM_DEFAULTS:
                values[key] = _OMM_DEFAULTS[key]
                continue
            problems.append(Problem(source, lineno, f"OMM record lacks {key}"))
            return None
        values[key] = str(raw).strip()
    epoch = values["EPOCH"].rstrip("Z")
    if "." not in epoch:
        epoch += ".000000"
    values["EPOCH"] = epoch
    sat = Satrec()
    try:
        omm.initialize(sat, values)
    except (ValueError, KeyError) as exc:
        problems.append(Problem(source, lineno, f"bad OMM record: {exc}"))
        return None
    if sat.error or not math.isfinite(sat.no_kozai):
        problems.append(Problem(source, lineno, f"SGP4 rejects this element set (error {sat.error})"))
        return None
    return CatalogObject(
        norad_id=int(values["NORAD_CAT_ID"]),
        name=values["OBJECT_NAME"],
        epoch=_epoch_of(sat),
        source=f"{source}:{lineno}" if lineno is not None else source,
        omm_fields=tuple(sorted(values.items())),
    )


def _parse_omm_records(records: Iterable[tuple[Mapping[str, Any], int | None]], source: str) -> Catalog:
    problems: list[Problem] = []
    found = [o for rec, ln in records if (o := _omm_object(rec, source, ln, problems)) is not None]
    return Catalog(_dedupe(found, problems), problems)


def _kvn_records(text: str) -> Iterator[tuple[dict[str, str], int]]:
    record: dict[str, str] = {}
    start = 1
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("COMMENT"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        key = key.strip()
        value = value.split("[", 1)[0].strip()
        if key == "CCSDS_OMM_VERS":
            if record:
                yield record, start
            record, start = {}, lineno
        record[key] = value
    if record:
        yield record, start


def _xml_records(text: str, source: str) -> Iterator[tuple[dict[str, str], int | None]]:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise InputError(f"not well-formed XML: {exc}", path=source, line=exc.position[0]) from None
    for elem in root.iter():
        if elem.tag.rsplit("}", 1)[-1] == "segment":
            fields: dict[str, str] = {}
            for sub in elem.iter():
                tag = sub.tag.rsplit("}", 1)[-1]
                if sub.text and sub.text.strip() and len(sub) == 0:
                    fields[tag] = sub.text.strip()
            yield fields, None


def read_catalog(path: str | Path) -> Catalog:
    """Read a catalogue file of any supported format; bad records land in ``Catalog.problems``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise NotFound(f"{p}: catalogue file not found") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text: {exc.reason}", path=str(p)) from None
    return parse_catalog_text(text, source=str(p), suffix=p.suffix.lower())


def parse_catalog_text(text: str, *, source: str = "<text>", suffix: str = "") -> Catalog:
    """Parse catalogue text; the format comes from ``suffix`` (``.xml``, ``.json``, ``.csv``) or content."""
    head = text.lstrip()[:200]
    if suffix == ".xml" or head.startswith("<"):
        return _parse_omm_records(_xml_records(text, source), source)
    if suffix == ".json" or head.startswith(("[", "{")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON: {exc.msg}", path=source, line=exc.lineno) from None
        items: Sequence[Any] = data if isinstance(data, list) else [data]
        recs = [(d, None) for d in items if isinstance(d, Mapping)]
        cat = _parse_omm_records(recs, source)
        skipped = len(items) - len(recs)
        if skipped:
            cat.problems.append(Problem(source, None, f"{skipped} JSON entries are not objects"))
        return cat
    if head.startswith("CCSDS_OMM_VERS"):
        return _parse_omm_records(_kvn_records(text), source)
    if suffix == ".csv" or head.startswith(("OBJECT_NAME", "CCSDS_OMM_VERS,", "\ufeffOBJECT_NAME")):
        reader = omm.parse_csv(io.StringIO(text))
        rows = ((row, reader.line_num) for row in reader)
        return _parse_omm_records(rows, source)
    return parse_tle_text(text, source=source)


def write_tle(objects: Iterable[CatalogObject], out: io.TextIOBase | Any) -> None:
    """Write objects as 3LE (name line, then the two TLE lines)."""
    for o in objects:
        l1, l2 = o.tle_lines()
        out.write(f"0 {o.name}\n{l1}\n{l2}\n")
