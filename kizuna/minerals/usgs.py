"""USGS Mineral Commodity Summaries data release (MCS 2026) -> tidy rows.

The file is Windows-1252 with CRLF line ends (not UTF-8: em dashes and curly quotes are single bytes).
Each input line becomes exactly one tidy row, or one :class:`~kizuna.minerals.tidy.Rejected` entry.

Stage: ``mining`` for mine production, ``refining`` for refinery/smelter/primary/plant production,
``capacity`` for capacities, ``reserves``, ``us_import_sources`` (shares of US imports, 2021-24),
``us_salient`` (United States salient statistics) and ``production`` for world production rows whose
stage the release does not say.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from kizuna.errors import InputError
from kizuna.minerals.countries import iso3_of_name
from kizuna.minerals.tidy import MINING, REFINING, LoadReport, Rejected, Row, parse_usgs_value, slug

HEADER = [
    "MCS chapter",
    "Section",
    "Commodity",
    "Country",
    "Statistics",
    "Statistics_detail",
    "Unit",
    "Year",
    "Value",
    "Notes",
    "Is critical mineral 2025",
    "Other notes",
]

_REFINING_WORDS = (
    "refinery",
    "smelter",
    "primary production",
    "plant production",
    "alumina, refinery",
    "sponge metal production",
    "silicon metal",
    "ferrosilicon",
    "raw steel",
    "pig iron",
)


def stage_of(section: str, statistic: str, detail: str) -> str:
    """The kizuna stage of one USGS row (see the module docstring)."""
    s, st, d = section.lower(), statistic.lower(), detail.lower()
    if s.startswith("salient"):
        return "us_salient"
    if s.startswith("import sources"):
        return "us_import_sources"
    if st == "reserves":
        return "reserves"
    if st == "capacity":
        return "capacity"
    if st == "production":
        if any(w in d for w in _REFINING_WORDS):
            return REFINING
        if "mine" in d or ("mine" in s and "refinery" not in s and "smelter" not in s):
            return MINING
        return "production"
    return st.replace(" ", "_")


def _year(text: str) -> tuple[int, str] | None:
    """``"2024"`` -> (2024, ""); ``"2021–24"`` -> (2024, "2021-24")."""
    t = text.strip()
    if t.isdigit() and len(t) == 4:
        return int(t), ""
    for dash in ("–", "-", "—"):
        if dash in t:
            a, _, b = t.partition(dash)
            a, b = a.strip(), b.strip()
            if a.isdigit() and len(a) == 4 and b.isdigit() and len(b) in (2, 4):
                end = int(a[:2] + b) if len(b) == 2 else int(b)
                return end, f"{a}-{b}"
    return None


def load_usgs(path: Path, *, role: str = "usgs", encoding: str = "cp1252") -> tuple[list[Row], LoadReport]:
    """Parse the USGS MCS data release at ``path``. InputError (file, line) when it cannot be read."""
    data = path.read_bytes()
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(f"not {encoding} text ({exc.reason})", path=str(path), line=line) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise InputError("empty file", path=str(path), line=1) from None
    header = [h.lstrip("\ufeff").strip() for h in header]
    if header[: len(HEADER)] != HEADER:
        raise InputError(f"unexpected header {header!r}; expected {HEADER!r}", path=str(path), line=1)
    rows: list[Row] = []
    report = LoadReport()
    prev_end = reader.line_num
    for rec in reader:
        line = prev_end + 1
        prev_end = reader.line_num
        if not rec or all(c.strip() == "" for c in rec):
            continue  # a blank line is not a record
        report.rows_read += 1
        raw = ",".join(rec)
        if len(rec) < len(HEADER):
            report.rejected.append(Rejected(role, line, f"{len(rec)} columns, expected {len(HEADER)}", raw))
            continue
        f = dict(zip(HEADER, rec, strict=False))
        iso3 = iso3_of_name(f["Country"])
        if iso3 is None:
            report.rejected.append(Rejected(role, line, f"country {f['Country']!r} has no ISO3 mapping", raw))
            continue
        yr = _year(f["Year"])
        if yr is None:
            report.rejected.append(Rejected(role, line, f"year {f['Year']!r} is not a year", raw))
            continue
        year, span = yr
        parsed = parse_usgs_value(f["Value"])
        flags = [parsed.flag] if parsed.flag else []
        notes = f["Notes"].strip()
        if notes.lower().startswith("estimated"):
            flags.append("estimated")
        if "rounded" in f["Statistics_detail"].lower():
            flags.append("rounded")
        basis = f["Statistics_detail"].strip().replace("\xa0", " ")
        if span:
            basis = f"{basis} ({span})"
        rows.append(
            Row(
                mineral=slug(f["Commodity"]),
                stage=stage_of(f["Section"], f["Statistics"], f["Statistics_detail"]),
                country_iso3=iso3,
                year=year,
                value=parsed.value,
                unit=f["Unit"].strip(),
                basis=basis,
                flag=";".join(flags),
                source=role,
                line=line,
            )
        )
        report.rows_kept += 1
    return rows, report
