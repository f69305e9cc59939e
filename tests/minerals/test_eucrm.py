"""EU CRM 2023 inputs and the 2017 methodology's HHI_WGI,t, SR and EI, recomputed by hand from raw rows."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from kizuna.minerals.dataset import MineralsData
from kizuna.minerals.eucrm import Assumptions, compute_crm, load_supply_shares, load_use_shares
from kizuna.minerals.provenance import data_dir

NAME_FIX = {
    "Congo, D.R.": "COD", "Korea, South": "KOR", "Türkiye": "TUR", "Russia": "RUS", "China": "CHN",
    "Germany": "DEU", "Japan": "JPN", "Hong Kong": "HKG", "Taiwan": "TWN", "Ukraine": "UKR",
    "Hungary": "HUN", "Slovakia": "SVK", "United Kingdom": "GBR", "United States": "USA", "Kazakhstan": "KAZ",
}  # fmt: skip


def _raw(name: str) -> list[dict[str, str]]:
    with (data_dir() / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _wgi_scaled(iso3: str, years: range) -> float:
    vals = [
        float(r["estimate"]) for r in _raw("wgi_2023.csv") if r["iso3"] == iso3 and int(r["year"]) in years
    ]
    assert len(vals) == 6 * len(years)
    mean = sum(vals) / len(vals)
    return min(10.0, max(0.0, 10 * (2.5 - mean) / 5))


def _hhi_wgi_t(rows: list[dict[str, str]]) -> float:
    total = 0.0
    for r in rows:
        share = float(r["Share"].lstrip("<").rstrip("%")) / 100
        total += share * share * _wgi_scaled(NAME_FIX[r["Country"]], range(2016, 2021)) * float(r["t"])
    return total


def test_gallium_sr_by_hand(data: MineralsData) -> None:
    gs = [
        r
        for r in _raw("eu_crm_2023_global_supply_shares.csv")
        if r["Material"] == "Gallium" and r["Stage"] == "P"
    ]
    eu = [
        r
        for r in _raw("eu_crm_2023_eu_supply_shares.csv")
        if r["Material"] == "Gallium" and r["Stage"] == "P"
    ]
    assert gs and eu
    h_gs, h_eu = _hhi_wgi_t(gs), _hhi_wgi_t(eu)
    a = Assumptions(import_reliance=0.6, eol_rir=0.1, si_sr=0.9)
    res = {
        r.material: r for r in compute_crm(data.eu_global, data.eu_sourcing, data.eu_use, data.governance, a)
    }
    ga = res["gallium"]
    (stage,) = ga.stages
    assert stage.stage == "refining"
    assert stage.hhi_wgi_t_global == pytest.approx(h_gs, rel=1e-12)
    assert stage.hhi_wgi_t_eu == pytest.approx(h_eu, rel=1e-12)
    expected_sr = (h_gs * 0.6 / 2 + h_eu * (1 - 0.6 / 2)) * (1 - 0.1) * 0.9
    assert ga.sr == pytest.approx(expected_sr, rel=1e-12)
    assert ga.sr_stage == "refining"


def test_gallium_ei_by_hand(data: MineralsData) -> None:
    use = _raw("eu_crm_2023_material_use_shares.csv")
    va_col = "VA in million €"
    max_va = max(float(r[va_col]) for r in use if r[va_col])
    pairs = [
        (float(r["Share"].rstrip("%")) / 100, float(r[va_col]))
        for r in use
        if r["Material"] == "Gallium" and r[va_col]
    ]
    expected = sum(s * q for s, q in pairs) / max_va * 10
    out = compute_crm(data.eu_global, data.eu_sourcing, data.eu_use, data.governance)
    res = {r.material: r for r in out}
    assert res["gallium"].ei == pytest.approx(expected, rel=1e-12)
    assert 0 < expected < 10


def test_assumptions_are_stated(data: MineralsData) -> None:
    a = Assumptions()
    text = " ".join(a.statements())
    for word in ("IR", "EoL-RIR", "SI_SR", "SI_EI", "WGI"):
        assert word in text
    res = compute_crm(data.eu_global, data.eu_sourcing, data.eu_use, data.governance, a)
    materials = {r["Material"] for r in _raw("eu_crm_2023_global_supply_shares.csv")}
    assert len(res) == len(materials) == 85
    lithium = next(r for r in res if r.material == "lithium")
    assert lithium.ei is None and any("EI not computed" in n for n in lithium.notes)


def test_supply_share_rows_and_special_cells() -> None:
    path = data_dir() / "eu_crm_2023_global_supply_shares.csv"
    rows, report = load_supply_shares(path, role="eu_global", basis="g")
    assert report.rows_read == 2561 == report.rows_kept and report.rejected == []
    assert len(rows) == 2 * 2561  # share and trade variable t per input line
    afg = next(r for r in rows if r.mineral == "gypsum" and r.country_iso3 == "AFG" and r.unit == "percent")
    assert (afg.value, afg.flag) == (0.1, "<")  # "<0.1%"
    names = {r["Country"] for r in _raw("eu_crm_2023_global_supply_shares.csv")}
    assert {"Brasilia", "Turkyie", "Türkiye"} <= names  # spelling variants in the source
    isos = {r.country_iso3 for r in rows}
    assert "BRA" in isos and "TUR" in isos


def test_use_shares_keep_rows_without_a_sector(tmp_path: Path) -> None:
    rows, report = load_use_shares(data_dir() / "eu_crm_2023_material_use_shares.csv")
    assert report.rows_read == report.rows_kept == 339
    other = [r for r in rows if r.stage == "value_added" and r.flag == "blank"]
    assert other and all(r.value is None for r in other)
    # a quoted cell with a bare LF inside (a NACE name) is one row, not two
    automotive = [r for r in rows if r.stage == "value_added" and r.basis.startswith("C29")]
    assert automotive and all("\n" not in r.basis for r in automotive)


def test_hhi_wgi_t_is_zero_free() -> None:
    from kizuna.minerals.eucrm import hhi_wgi_t

    assert hhi_wgi_t([(1.0, 5.0, 1.0)]) == 5.0
    assert math.isclose(hhi_wgi_t([(0.5, 2.0, 0.8), (0.5, 4.0, 1.2)]), 0.25 * 2 * 0.8 + 0.25 * 4 * 1.2)


def test_wgi_rows_all_kept_and_scalings() -> None:
    from kizuna.minerals.wgi import load_wgi

    gov, report = load_wgi(data_dir() / "wgi_2023.csv")
    assert report.rows_read == report.rows_kept == 11_378 and report.rejected == []
    pv = gov.estimate("CHN", 2023, "pv")
    assert pv is not None and gov.gpr_instability("CHN", 2023) == pytest.approx((2.5 - pv) / 5)
    assert gov.gpr_instability("XXX", 2023) is None
    assert gov.eu_scaled("CHN", range(2016, 2021)) == pytest.approx(_wgi_scaled("CHN", range(2016, 2021)))
