"""Restriction scenarios: one answer recomputed by hand from the raw BACI and USGS rows."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from datetime import date
from pathlib import Path

import pytest

from kizuna.errors import InputError
from kizuna.minerals.dataset import MineralsData
from kizuna.minerals.provenance import data_dir
from kizuna.minerals.restrictions import SEEDED, seeded
from kizuna.minerals.scenario import Scenario, load_scenario, run_scenario

BACI_ISO = {"180": "COD", "826": "GBR", "392": "JPN", "156": "CHN"}


def _baci_rows(year: int, codes: set[str]) -> list[tuple[str, str, str, float]]:
    """(exporter code, importer code, hs, tonnes) straight from the CSV; rows without quantity skipped."""
    out = []
    with (data_dir() / "baci_minerals_2015_2024.csv").open(encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            if r["t"] == str(year) and r["k"] in codes and r["q"] != "":
                out.append((r["i"], r["j"], r["k"], float(r["q"])))
    return out


def _usgs_cobalt_mine_2025() -> dict[str, float]:
    """Country -> 2025 cobalt mine production (t) from the raw USGS lines."""
    raw = (data_dir() / "usgs_mcs2026_commodities_data.csv").read_bytes().decode("cp1252")
    out: dict[str, float] = {}
    for r in csv.DictReader(raw.splitlines()):
        if (r["Commodity"], r["Statistics_detail"], r["Year"]) == ("Cobalt", "Mine production", "2025"):
            out[r["Country"]] = float(r["Value"].replace(",", ""))
    return out


def test_drc_cobalt_suspension_by_hand(data: MineralsData) -> None:
    """DRC suspends cobalt exports (HS 810510, 282200): the UK's shortfall in 2024 trade, by hand.

    Direct: the UK's imports from the DRC. Through processing: for every other refiner X, its dependency
    on DRC feed d_X = X's imports of 810510/282200 from COD / (X's imports of those codes + X's 2025 mine
    output), times the UK's imports from X. Reallocation: 10 % of the other exporters' shipments, shared
    pro rata to loss over the world loss (all DRC exports of the codes + the partners' processing loss).
    """
    codes = {"810510", "282200"}
    rows = _baci_rows(2024, codes)
    mine = _usgs_cobalt_mine_2025()
    # BACI codes of the USGS cobalt miners (USA is 842 in BACI, not ISO 840)
    mine_iso = {
        "United States": "842", "Australia": "36", "Canada": "124", "China": "156", "Congo (Kinshasa)": "180",
        "Cuba": "192", "Indonesia": "360", "Madagascar": "450", "Papua New Guinea": "598",
        "Philippines": "608", "Russia": "643", "Turkey": "792",
    }  # fmt: skip
    assert set(mine) - set(mine_iso) == {"Other countries"}
    feed_from_cod: dict[str, float] = defaultdict(float)
    feed_total: dict[str, float] = defaultdict(float)
    for i, j, _k, q in rows:
        feed_total[j] += q
        if i == "180":
            feed_from_cod[j] += q
    dep = {}
    for x, from_cod in feed_from_cod.items():
        supply = feed_total[x] + next((mine[n] for n, c in mine_iso.items() if c == x), 0.0)
        dep[x] = from_cod / supply
    assert 0.5 < dep["156"] < 1.0  # China refines mostly DRC feed

    def partner(code: str) -> tuple[float, float, float]:
        direct = sum(q for i, j, _k, q in rows if i == "180" and j == code)
        processed = sum(q * dep[i] for i, j, _k, q in rows if j == code and i in dep and i != code)
        cons = sum(q for _i, j, _k, q in rows if j == code) - sum(q for i, _j, _k, q in rows if i == code)
        return direct, processed, cons

    gbr, jpn = partner("826"), partner("392")
    world_loss = sum(q for i, _j, _k, q in rows if i == "180") + gbr[1] + jpn[1]
    spare = 0.10 * sum(q for i, _j, _k, q in rows if i != "180")

    res = run_scenario(
        data,
        Scenario(
            "drc", (seeded("COD-cobalt-2025-suspension"),), ("GBR", "JPN"), 2024, 10.0, date(2025, 6, 1)
        ),
    )
    uk = next(i for i in res.impacts if i.partner == "GBR")
    assert uk.direct_t == pytest.approx(gbr[0], abs=1e-9)
    assert uk.processed_t == pytest.approx(gbr[1], rel=1e-9)
    assert uk.consumption_t == pytest.approx(gbr[2], rel=1e-9)
    assert uk.pct(uk.loss_t) == pytest.approx(100 * (gbr[0] + gbr[1]) / gbr[2], rel=1e-9)
    loss = gbr[0] + gbr[1]
    assert uk.reallocated_t == pytest.approx(min(loss, spare * loss / world_loss), rel=1e-9)
    assert uk.after_t == pytest.approx(loss - uk.reallocated_t, rel=1e-12)
    assert uk.via["CHN"] == pytest.approx(
        sum(q for i, j, _k, q in rows if i == "156" and j == "826") * dep["156"], rel=1e-9
    )
    assert uk.processed_t > 100  # the UK's exposure to the DRC is through Chinese refineries


def test_graphite_direct_share_by_hand(data: MineralsData) -> None:
    rows = _baci_rows(2024, {"250410", "250490"})
    direct = sum(q for i, j, _k, q in rows if i == "156" and j == "392")
    cons = sum(q for _i, j, _k, q in rows if j == "392") - sum(q for i, _j, _k, q in rows if i == "392")
    res = run_scenario(
        data, Scenario("g", (seeded("CHN-graphite-2023"),), ("JPN",), 2024, 0.0, date(2026, 1, 1))
    )
    (jp,) = res.impacts
    assert jp.direct_t == pytest.approx(direct, rel=1e-12)
    assert jp.pct(jp.direct_t) == pytest.approx(100 * direct / cons, rel=1e-12)
    assert jp.processed_t == 0.0 and jp.reallocated_t == 0.0  # no refining code; no spare capacity
    assert math.isclose(jp.after_t, direct)


def test_suspended_restriction_is_skipped_unless_asked(data: MineralsData) -> None:
    r = seeded("CHN-ree-2025-10")
    assert r.status(date(2026, 1, 1)) == "suspended" and r.status(date(2026, 11, 11)) == "in force"
    res = run_scenario(data, Scenario("s", (r,), as_of=date(2026, 1, 1)))
    assert res.impacts == [] and res.skipped == [(r, "suspended")]
    res = run_scenario(data, Scenario("s", (r,), as_of=date(2026, 1, 1), apply_inactive=True))
    assert {i.partner for i in res.impacts} == {"GBR", "JPN"}


def test_seeded_table_is_complete_and_sourced() -> None:
    ids = {r.id for r in SEEDED}
    assert ids == {
        "CHN-gallium-2023", "CHN-germanium-2023", "CHN-graphite-2023", "CHN-antimony-2024",
        "CHN-ree-2025-04", "CHN-ree-2025-10", "COD-cobalt-2025-suspension", "COD-cobalt-2025-quota",
        "IDN-nickel-ore-2020",
    }  # fmt: skip
    for r in SEEDED:
        assert len(r.source) > 40 and (
            "Announcement" in r.source or "ARECOMS" in r.source or "Regulation" in r.source
        )
    assert seeded("CHN-ree-2025-10").suspended_until == date(2026, 11, 10)
    assert seeded("IDN-nickel-ore-2020").effective == date(2020, 1, 1)


def test_scenario_file_round_trip_and_errors(data: MineralsData, tmp_path: Path) -> None:
    f = tmp_path / "s.toml"
    f.write_text(
        'name = "two"\nyear = 2023\nas_of = 2026-01-01\nspare_capacity_pct = 5\n'
        '[[restriction]]\nid = "CHN-graphite-2023"\n'
        '[[restriction]]\ncountry = "IDN"\nmineral = "nickel"\nmeasure = "ban"\neffective = 2020-01-01\n'
        'source = "Permen ESDM 11/2019"\ncut_pct = 50\n'
    )
    sc = load_scenario(f, today=date(2030, 1, 1))
    assert (sc.name, sc.year, sc.as_of, sc.spare_capacity_pct) == ("two", 2023, date(2026, 1, 1), 5.0)
    assert [r.id for r in sc.restrictions] == ["CHN-graphite-2023", "IDN-nickel"]
    assert sc.restrictions[1].hs == (260400,) and sc.restrictions[1].cut_pct == 50.0
    f.write_text('name = "x"\n[[restriction]]\nid = "CHN-graphite-2023"\ncut_pct = 120\n')
    with pytest.raises(InputError, match="cut_pct"):
        load_scenario(f, today=date(2030, 1, 1))
    f.write_text('name = "x"\nyear = \n')
    with pytest.raises(InputError) as exc:
        load_scenario(f, today=date(2030, 1, 1))
    assert exc.value.path == str(f) and exc.value.line == 2
    f.write_text('name = "x"\n')
    with pytest.raises(InputError, match="at least one"):
        load_scenario(f, today=date(2030, 1, 1))
    f.write_text('[[restriction]]\nid = "nope"\n')
    with pytest.raises(InputError, match="unknown restriction"):
        load_scenario(f, today=date(2030, 1, 1))


def test_gallium_proxy_by_hand(data: MineralsData) -> None:
    """Gallium has no HS92 code: % of consumption from USGS 2025 primary production and capacity (kg)."""
    # USGS MCS 2026, primary low-purity gallium, 2025: China 900,000 kg, Japan 3,000, Russia 6,000,
    # other countries 0 ("—"); capacity: Japan 10,000, Russia 10,000, other countries 100,000
    share_chn = 900_000 / (900_000 + 3_000 + 6_000)
    spare_t = (10_000 - 3_000 + 10_000 - 6_000 + 100_000) / 1000
    res = run_scenario(data, Scenario("ga", (seeded("CHN-gallium-2023"),), ("JPN",), as_of=date(2026, 1, 1)))
    (jp,) = res.impacts
    assert jp.proxy and jp.pct(jp.loss_t) == pytest.approx(100 * share_chn, rel=1e-12)
    assert jp.reallocated_t == pytest.approx(100 * share_chn * spare_t / 900.0, rel=1e-12)
    assert jp.as_dict()["apparent_consumption_t"] is None
