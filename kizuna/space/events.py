"""Conjunction events and the ``events.csv`` they are written to."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TextIO

from kizuna.errors import InputError
from kizuna.space.timeutil import format_utc, parse_utc

__all__ = ["CSV_COLUMNS", "Event", "iter_events_csv", "read_events_csv", "write_events_csv"]

Vec3 = tuple[float, float, float]

CSV_COLUMNS = (
    "norad_1",
    "norad_2",
    "tca_utc",
    "miss_km",
    "rel_speed_km_s",
    "pc",
    "pc_method",
    "name_1",
    "name_2",
    "hbr_m",
    "r1_x_km",
    "r1_y_km",
    "r1_z_km",
    "v1_x_km_s",
    "v1_y_km_s",
    "v1_z_km_s",
    "r2_x_km",
    "r2_y_km",
    "r2_z_km",
    "v2_x_km_s",
    "v2_y_km_s",
    "v2_z_km_s",
)


@dataclass(frozen=True)
class Event:
    """A local minimum of the range between two objects, at or under the screening threshold.

    States are SGP4's TEME frame at TCA. ``norad_1 < norad_2``.
    """

    norad_1: int
    norad_2: int
    tca_utc: datetime
    miss_km: float
    rel_speed_km_s: float
    r1_km: Vec3
    v1_km_s: Vec3
    r2_km: Vec3
    v2_km_s: Vec3
    name_1: str = ""
    name_2: str = ""
    pc: float | None = None
    pc_method: str = ""
    hbr_m: float | None = None

    def with_pc(self, pc: float, method: str, hbr_m: float) -> Event:
        return replace(self, pc=pc, pc_method=method, hbr_m=hbr_m)

    @property
    def key(self) -> str:
        """A stable name: ``24946-22675-20090210T165559.796Z`` style (lower NORAD first)."""
        return f"{self.norad_1}-{self.norad_2}-{format_utc(self.tca_utc).replace('-', '').replace(':', '')}"


def _fmt(x: float | None, digits: int = 6) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return f"{x:.{digits}f}"


def write_events_csv(events: Iterable[Event], out: TextIO, *, header: bool = True) -> int:
    """Write ``events.csv`` (:data:`CSV_COLUMNS`, TCA in ISO 8601 UTC with ms); returns the row count.
    ``header=False`` appends rows to a file already begun."""
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(CSV_COLUMNS)
    n = 0
    for e in events:
        writer.writerow(
            [
                e.norad_1,
                e.norad_2,
                format_utc(e.tca_utc),
                _fmt(e.miss_km),
                _fmt(e.rel_speed_km_s),
                "" if e.pc is None else f"{e.pc:.6e}",
                e.pc_method,
                e.name_1,
                e.name_2,
                _fmt(e.hbr_m, 3),
                *(_fmt(x) for x in (*e.r1_km, *e.v1_km_s, *e.r2_km, *e.v2_km_s)),
            ]
        )
        n += 1
    return n


def _vec(row: dict[str, str], prefix: str, unit: str) -> Vec3:
    return (
        float(row[f"{prefix}_x_{unit}"]),
        float(row[f"{prefix}_y_{unit}"]),
        float(row[f"{prefix}_z_{unit}"]),
    )


def read_events_csv(path: str | Path) -> list[Event]:
    """Read an ``events.csv`` written by ``kizuna space screen``; InputError names the bad line."""
    return list(iter_events_csv(path))


def iter_events_csv(path: str | Path) -> Iterator[Event]:
    """The events of an ``events.csv`` one at a time (memory stays flat however long the file)."""
    p = Path(path)
    try:
        handle = p.open(encoding="utf-8", newline="")
    except FileNotFoundError:
        raise InputError("events file not found", path=str(p)) from None
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"missing columns {', '.join(missing)}", path=str(p), line=1)
        for row in reader:
            try:
                event = Event(
                    norad_1=int(row["norad_1"]),
                    norad_2=int(row["norad_2"]),
                    tca_utc=parse_utc(row["tca_utc"]),
                    miss_km=float(row["miss_km"]),
                    rel_speed_km_s=float(row["rel_speed_km_s"]),
                    r1_km=_vec(row, "r1", "km"),
                    v1_km_s=_vec(row, "v1", "km_s"),
                    r2_km=_vec(row, "r2", "km"),
                    v2_km_s=_vec(row, "v2", "km_s"),
                    name_1=row.get("name_1", ""),
                    name_2=row.get("name_2", ""),
                    pc=float(row["pc"]) if row.get("pc") else None,
                    pc_method=row.get("pc_method", ""),
                    hbr_m=float(row["hbr_m"]) if row.get("hbr_m") else None,
                )
            except (ValueError, KeyError, TypeError, InputError) as exc:
                raise InputError(f"bad event row: {exc}", path=str(p), line=reader.line_num) from None
            yield event


def find_event(events: Sequence[Event], selector: str) -> Event:
    """An event by 1-based row number, by ``key``, or by ``NORAD1-NORAD2`` (the closest one)."""
    if selector.isdigit() and 1 <= int(selector) <= len(events):
        return events[int(selector) - 1]
    for e in events:
        if e.key == selector:
            return e
    parts = selector.split("-")
    if len(parts) == 2 and all(x.isdigit() for x in parts):
        a, b = sorted(int(x) for x in parts)
        hits = [e for e in events if (e.norad_1, e.norad_2) == (a, b)]
        if hits:
            return min(hits, key=lambda e: e.miss_km)
    raise InputError(
        f"no event {selector!r}; give a row number (1..{len(events)}), an event key or NORAD1-NORAD2"
    )
