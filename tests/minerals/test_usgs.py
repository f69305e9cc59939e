"""USGS MCS 2026 parsing: every special value with a real row of the shipped file, and no row dropped."""

from __future__ import annotations

from pathlib import Path

import pytest

from kizuna.errors import InputError
from kizuna.minerals.dataset import MineralsData
from kizuna.minerals.tidy import Row, parse_usgs_value
from kizuna.minerals.usgs import load_usgs


def _row_for(data: MineralsData, usgs_lines: list[str], needle: str) -> tuple[int, Row]:
    """The tidy row made from the first physical line of the shipped file containing ``needle``."""
    line = next(i + 1 for i, text in enumerate(usgs_lines) if needle in text)
    rows = [r for r in data.usgs if r.line == line]
    assert len(rows) == 1, f"line {line} gave {len(rows)} rows"
    return line, rows[0]


# (a substring identifying a real line, expected value, expected flag) - one per special value
CASES = [
    ('Production: Fused aluminum oxide, crude",metric tons,2021,"10,000"', 10000.0, ""),
    ("Production: Mine (recoverable antimony),metric tons,2025,W,", None, "W"),
    (
        "Net import reliance as a percentage of apparent consumption: Metallic abrasives,percent,2022,E,",
        None,
        "E",
    ),
    ("Mexico,Capacity,Fused aluminum oxide,metric tons,2024,—,", 0.0, "zero"),
    ("Guatemala,Reserves,Reserves,metric tons,2025,NA,", None, "NA"),
    ("Imports for consumption: Cadmium sulfide,metric tons,2022,s,", 0.0, "s"),
    ("Production—All forms,thousand metric tons,2024,XX,", None, "XX"),
    ("estimated consumption,percent,2021,>50,", 50.0, ">"),
    ("Copper content of ore and concentrate,percent,2021–24,<1,", 1.0, "<"),
    ("Shipments from Government stockpile,metric tons,2021,?1,", 1.0, "uncertain"),
    ("Israel,Reserves,Reserves,metric tons,2025,Large,", None, "text:Large"),
]


@pytest.mark.parametrize(("needle", "value", "flag"), CASES, ids=[c[2] or "thousands" for c in CASES])
def test_special_values_of_real_rows(
    data: MineralsData, usgs_lines: list[str], needle: str, value: float | None, flag: str
) -> None:
    _line, row = _row_for(data, usgs_lines, needle)
    assert row.value == value
    assert row.flag == flag


def test_range_thin_space_and_cp1252_rows(data: MineralsData, usgs_lines: list[str]) -> None:
    _, zeolite = _row_for(data, usgs_lines, "50–300")  # en dash (0x96 in cp1252)
    assert zeolite.value == 175.0 and zeolite.flag.startswith("range:50-300")
    _, slag = _row_for(data, usgs_lines, ",330 - 390,")
    assert slag.value == 360.0 and slag.flag.startswith("range:330-390")
    _, wollastonite = _row_for(data, usgs_lines, "68\xa0")  # no-break space after the number
    assert wollastonite.value == 68.0 and "text" not in wollastonite.flag
    line, civ = _row_for(
        data, usgs_lines, "Côte d’Ivoire,Production,Mine production,thousand metric tons,2024"
    )
    assert civ.country_iso3 == "CIV" and civ.value == 340.0 and civ.unit == "thousand metric tons"
    assert civ.mineral == "manganese" and civ.stage == "mining" and civ.line == line


def test_estimated_flag_years_and_stage(data: MineralsData) -> None:
    chn = [
        r for r in data.usgs if r.mineral == "rare_earths" and r.stage == "mining" and r.country_iso3 == "CHN"
    ]
    assert {(r.year, r.value) for r in chn} == {(2024, 270000.0), (2025, 270000.0)}
    assert all("estimated" in r.flag for r in chn)
    shares = [r for r in data.usgs if r.stage == "us_import_sources" and r.mineral == "gallium"]
    assert shares and all(r.year == 2024 and r.basis.endswith("(2021-24)") for r in shares)
    ga = [r for r in data.usgs if r.mineral == "gallium" and r.stage == "refining" and r.year == 2025]
    assert {r.country_iso3 for r in ga} >= {"CHN", "JPN", "RUS", "WLD"}


def test_no_row_dropped(usgs_lines: list[str]) -> None:
    """Every data line is kept (one tidy row) or reported with its line and a reason."""
    rows, report = load_usgs(_shipped())
    data_lines = [i + 1 for i, t in enumerate(usgs_lines) if t and i > 0]
    assert report.rows_read == len(data_lines) == 8886
    assert report.rows_kept == len(rows)
    assert report.rows_kept + len(report.rejected) == report.rows_read
    kept_lines = {r.line for r in rows}
    rejected_lines = {r.line for r in report.rejected}
    assert kept_lines | rejected_lines == set(data_lines)
    assert not kept_lines & rejected_lines
    # the one line that names three countries at once is reported, not guessed
    assert [(r.line, r.reason) for r in report.rejected] == [
        (6277, "country 'China, Germany, and Russia' has no ISO3 mapping")
    ]
    assert "RUBIDIUM" in usgs_lines[6276]


def _shipped() -> Path:
    from kizuna.minerals.provenance import data_dir

    return data_dir() / "usgs_mcs2026_commodities_data.csv"


def test_every_country_maps_to_iso3(data: MineralsData) -> None:
    codes = {r.country_iso3 for r in data.usgs}
    assert all(len(c) == 3 and c.isupper() for c in codes)
    assert {"WLD", "ROW", "COD", "MMR", "KOR", "PRK", "TUR", "LAO"} <= codes


def test_not_cp1252_names_file_and_line(tmp_path: Path) -> None:
    good = _shipped().read_bytes().split(b"\r\n")
    bad = tmp_path / "mcs.csv"
    bad.write_bytes(b"\r\n".join([*good[:3], b"X,\x81bad", *good[3:5]]))
    with pytest.raises(InputError) as exc:
        load_usgs(bad)
    assert exc.value.path == str(bad) and exc.value.line == 4


def test_wrong_header_and_short_rows(tmp_path: Path) -> None:
    f = tmp_path / "mcs.csv"
    f.write_text("a,b,c\r\n1,2,3\r\n", encoding="cp1252")
    with pytest.raises(InputError) as exc:
        load_usgs(f)
    assert exc.value.line == 1
    header = _shipped().read_bytes().split(b"\r\n")[0]
    f.write_bytes(header + b"\r\nCOBALT,World Mine Production,Cobalt,China\r\n")
    rows, report = load_usgs(f)
    assert rows == [] and report.rejected[0].line == 2 and "columns" in report.rejected[0].reason


@pytest.mark.parametrize(
    ("cell", "value", "flag"),
    [
        ("1,234.5", 1234.5, ""),
        ("<0.5", 0.5, "<"),
        ("10,000 - 15,000", 12500.0, "range:10,000-15,000"),
        ("", None, "blank"),
        ("Variable, depending on type of product", None, "text:Variable, depending on type of product"),
    ],
)
def test_value_parser_table(cell: str, value: float | None, flag: str) -> None:
    parsed = parse_usgs_value(cell)
    assert (parsed.value, parsed.flag) == (value, flag)
