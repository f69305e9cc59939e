"""BACI trade: the country-code traps mapped explicitly, every row accounted for."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from kizuna.errors import InputError
from kizuna.minerals.baci import load_country_codes, load_trade
from kizuna.minerals.dataset import MineralsData
from kizuna.minerals.provenance import data_dir

TRAPS = {842: "USA", 699: "IND", 251: "FRA", 757: "CHE", 490: "TWN"}


def test_codes_table_traps() -> None:
    codes = load_country_codes(data_dir() / "baci_country_codes.csv")
    for code, iso3 in TRAPS.items():
        assert codes[code].iso3 == iso3
        assert codes[code].flag == f"baci{code}"
    # the ISO numeric codes of those countries are not BACI codes at all
    assert not {840, 356, 250, 756} & set(codes)
    assert codes[490].name == "Other Asia, nes"
    assert codes[531].name == "Curaçao"  # mojibake in the table ("CuraÃ§ao") undone
    assert codes[697].iso3 is None  # "Europe EFTA, nes" is not a country


@pytest.mark.parametrize(("code", "iso3"), sorted(TRAPS.items()))
def test_trap_rows_land_on_the_right_country(data: MineralsData, code: int, iso3: str) -> None:
    """The first real row with the code as exporter and as importer maps to the right ISO3."""
    path = data_dir() / "baci_minerals_2015_2024.csv"
    exp_line = imp_line = None
    with path.open(encoding="utf-8", newline="") as fh:
        for line, rec in enumerate(csv.reader(fh), start=1):
            if line == 1:
                continue
            if exp_line is None and rec[1] == str(code):
                exp_line = line
            if imp_line is None and rec[2] == str(code):
                imp_line = line
            if exp_line and imp_line:
                break
    t = data.trade
    for line, col in ((exp_line, t.exporter), (imp_line, t.importer)):
        idx = int((t.line == line).nonzero()[0][0])
        assert t.iso3[int(col[idx])] == iso3
        assert bool(t.via_490[idx]) == (code == 490)


def test_no_trade_row_dropped(data: MineralsData) -> None:
    path = data_dir() / "baci_minerals_2015_2024.csv"
    with path.open(encoding="utf-8") as fh:
        n_lines = sum(1 for _ in fh) - 1
    table, report = load_trade(path, data.baci_countries)
    assert report.rows_read == n_lines == 504_683
    assert report.rows_kept + len(report.rejected) == report.rows_read
    assert len(table) == report.rows_kept
    assert report.rejected == []  # every partner in 2015-2024 is a country
    assert len(set(table.line.tolist())) == len(table)
    # missing quantities are kept as NaN (value still known), not dropped
    assert int(sum(table.qty_t != table.qty_t)) == 24_388


def test_non_country_and_malformed_rows_are_reported(data: MineralsData, tmp_path: Path) -> None:
    f = tmp_path / "baci.csv"
    f.write_text(
        "t,i,j,k,v,q\n2024,697,826,250410,1.5,2\n2024,156,826,250410,x,1\n2024,156,826,250410,2.5,\n"
    )
    table, report = load_trade(f, data.baci_countries)
    assert report.rows_read == 3 and report.rows_kept == 1 and len(table) == 1
    assert [(r.line, r.reason) for r in report.rejected] == [
        (2, "BACI code 697 (Europe EFTA, nes) is not a country"),
        (3, "malformed trade row: could not convert string to float: 'x'"),
    ]
    assert table.qty_t[0] != table.qty_t[0]  # NaN quantity kept
    f.write_text("year,exporter\n")
    with pytest.raises(InputError) as exc:
        load_trade(f, data.baci_countries)
    assert exc.value.line == 1
