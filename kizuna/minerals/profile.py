"""Supply profile of one mineral: per stage, who supplies what share, HHI, top-1/top-3, China's share.

Each *series* is one source's view of one stage: USGS MCS mine or refinery production for a year (tonnes),
or the EU CRM 2023 global supply shares (extraction = mining, processing = refining). ``stages`` picks one
series per stage for the headline figures: USGS where it has the stage, else the EU CRM series.
"""

from __future__ import annotations

import difflib
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from kizuna.errors import NotFound
from kizuna.minerals.catalogue import ALIASES, WATCHED, Mineral, mineral, resolve_key
from kizuna.minerals.countries import OTHER, WORLD
from kizuna.minerals.dataset import MineralsData
from kizuna.minerals.metrics import Concentration, concentration
from kizuna.minerals.tidy import MINING, REFINING, STAGES, Row, to_tonnes


@dataclass(slots=True)
class Series:
    stage: str
    source: str
    basis: str
    year: int
    unit: str
    values: dict[str, float]
    conc: Concentration
    withheld: dict[str, str] = field(default_factory=dict)  # iso3 -> flag (W, NA...) not in the shares
    world_total: float | None = None

    def as_dict(self) -> dict[str, object]:
        c = self.conc
        return {
            "stage": self.stage,
            "source": self.source,
            "basis": self.basis,
            "year": self.year,
            "unit": self.unit,
            "total": round(c.total, 6),
            "world_total_reported": self.world_total,
            "shares_pct": {k: round(100.0 * v, 4) for k, v in c.shares.items()},
            "hhi": round(c.hhi, 2),
            "top1": {"iso3": c.top1_iso3, "share_pct": round(100.0 * c.top1_share, 4)},
            "top3_share_pct": round(100.0 * c.top3_share, 4),
            "china_share_pct": round(100.0 * c.share_of("CHN"), 4),
            "not_in_shares": self.withheld,
        }


@dataclass(slots=True)
class Profile:
    mineral: Mineral
    series: list[Series]
    notes: list[str]

    def headline(self, stage: str) -> Series | None:
        usgs = [s for s in self.series if s.stage == stage and s.source == "usgs"]
        if usgs:
            return usgs[0]
        eu = [s for s in self.series if s.stage == stage]
        return eu[0] if eu else None

    def as_dict(self) -> dict[str, object]:
        stages: dict[str, object] = {}
        for st in STAGES:
            h = self.headline(st)
            if h is not None:
                d = h.as_dict()
                stages[st] = {
                    "source": h.source,
                    "basis": h.basis,
                    "year": h.year,
                    "shares_pct": d["shares_pct"],
                    "hhi": d["hhi"],
                    "top1": d["top1"],
                    "top3_share_pct": d["top3_share_pct"],
                    "china_share_pct": d["china_share_pct"],
                }
        return {
            "mineral": self.mineral.key,
            "name": self.mineral.name,
            "stages": stages,
            "series": [s.as_dict() for s in self.series],
            "notes": self.notes,
        }


def _usgs_series(rows: list[Row], stage: str, year: int | None) -> Series | None:
    stage_rows = [r for r in rows if r.stage == stage]
    if not stage_rows:
        return None
    years = sorted({r.year for r in stage_rows})
    y = year if year is not None and year in years else years[-1]
    in_year = [r for r in stage_rows if r.year == y]
    # the basis (statistic) with the most country rows is the series; others stay in the tidy table
    counts = Counter(r.basis for r in in_year if r.country_iso3 not in (WORLD,) and "rounded" not in r.flag)
    if not counts:
        return None
    basis = counts.most_common(1)[0][0]
    values: dict[str, float] = {}
    withheld: dict[str, str] = {}
    world: float | None = None
    unit = ""
    for r in in_year:
        if r.country_iso3 == WORLD:
            world = to_tonnes(r.value, r.unit) if world is None else world
            continue
        if r.basis != basis:
            continue
        unit = r.unit
        t = to_tonnes(r.value, r.unit)
        v = t if t is not None else r.value
        if v is None:
            withheld[r.country_iso3] = r.flag or "missing"
        else:
            values[r.country_iso3] = values.get(r.country_iso3, 0.0) + v
    out_unit = "t" if unit and to_tonnes(1.0, unit) is not None else unit
    return Series(
        stage, "usgs", f"USGS MCS 2026: {basis}", y, out_unit, values, concentration(values), withheld, world
    )


def _eu_series(rows: list[Row], material: str, stage: str) -> Series | None:
    values: dict[str, float] = defaultdict(float)
    withheld: dict[str, str] = {}
    found = False
    for r in rows:
        if r.mineral != material or r.stage != stage or r.unit != "percent":
            continue
        found = True
        if r.value is None:
            withheld[r.country_iso3] = r.flag
        else:
            values[r.country_iso3] += r.value
    if not found:
        return None
    return Series(
        stage,
        "eu_crm_2023",
        f"EU CRM 2023 global supply share: {material}",
        2023,
        "percent",
        dict(values),
        concentration(values),
        withheld,
    )


def profile(data: MineralsData, key: str, *, year: int | None = None) -> Profile:
    """The profile of ``key`` (a mineral key or alias). NotFound when no file has it."""
    m = mineral(key)
    rows = [r for r in data.usgs if r.mineral == m.key]
    series: list[Series] = []
    notes = list(m.notes)
    for stage in (MINING, REFINING):
        s = _usgs_series(rows, stage, year)
        if s is not None:
            series.append(s)
            if s.withheld:
                notes.append(
                    f"{stage} {s.year}: not in the shares: "
                    + ", ".join(f"{k} ({v})" for k, v in sorted(s.withheld.items()))
                )
    for material in m.eu_materials:
        for stage in (MINING, REFINING):
            s = _eu_series(data.eu_global, material, stage)
            if s is not None:
                series.append(s)
    if not series:
        raise NotFound(f"no production data for mineral {key!r} (key {m.key!r}) in the USGS or EU CRM files")
    for stage in (MINING, REFINING):
        if not any(s.stage == stage for s in series):
            notes.append(f"no {stage} series for {m.key} in the USGS or EU CRM files")
    if any(OTHER in s.values for s in series):
        notes.append(
            "'Other countries' (ROW) counts in the total but not in HHI or top-k (no single supplier)"
        )
    notes.extend(data.file_notes())
    return Profile(m, series, notes)


def known_minerals(data: MineralsData) -> list[str]:
    """Every mineral key kizuna knows: those with production data and those of the watched list."""
    return sorted({*all_minerals(data), *WATCHED})


def require_known(data: MineralsData, name: str) -> str:
    """The key of mineral ``name``; NotFound naming it and the closest known names when there is none
    (``lithum`` -> ``did you mean lithium?``)."""
    key = resolve_key(name)
    if key in WATCHED:
        return key
    known = known_minerals(data)
    if key in known:
        return key
    raise NotFound(f"unknown mineral {name!r}; {suggest(key, [*known, *ALIASES])}")


def suggest(key: str, candidates: Sequence[str]) -> str:
    """``did you mean a, b?`` for the candidates closest to ``key``, or a pointer to the full list."""
    close = difflib.get_close_matches(key, sorted(set(candidates)), n=4, cutoff=0.7)
    if close:
        return f"did you mean {', '.join(close)}?"
    return "no known name is close ('kizuna minerals profile all --json' lists every mineral with data)"


def all_minerals(data: MineralsData) -> list[str]:
    """Every mineral key with mining or refining production in the USGS file or shares in the EU file."""
    keys = {r.mineral for r in data.usgs if r.stage in (MINING, REFINING)}
    keys |= {r.mineral for r in data.eu_global}
    return sorted(keys)
