"""Restriction scenarios: what each partner loses, directly and through processing, before and after
other suppliers' spare capacity is reallocated.

For a restriction by country R on HS92 codes H of mineral m, cutting a fraction ``c`` of R's exports, in
trade year Y (BACI tonnes), for partner P::

    direct_P    = c * imports(P <- R, H)
    d_X         = imports(X <- R, feed) / (imports(X, feed) + mine production of X)   for refiner X != R, P
    processed_P = c * sum_X imports(P <- X, refining codes of m) * d_X
    loss_P      = direct_P + processed_P
    share %     = loss_P / apparent consumption of P (production + imports - exports of the same codes)

``feed`` codes are the mineral's ore codes (or its intermediate codes where HS92 has no ore code); the
processing route exists only when the mineral has refining codes. Spare capacity is a headroom of
``spare_capacity_pct`` (default 10 %) on the other exporters' shipments of H in year Y; it is shared
among all importers who lose supply, pro rata to their loss (the world's loss being R's cut exports of H
plus the partners' processing losses)::

    after_P = loss_P - min(loss_P, spare * loss_P / world_loss)

A restriction that is suspended (or not yet in force, or ended) on the scenario's ``as_of`` date is
reported and skipped unless ``apply_inactive = true``.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

from kizuna.errors import InputError, NotFound
from kizuna.minerals.catalogue import mineral
from kizuna.minerals.countries import PARTNERS
from kizuna.minerals.dataset import MineralsData
from kizuna.minerals.exposure import DEFAULT_TRADE_YEAR
from kizuna.minerals.profile import profile
from kizuna.minerals.restrictions import Restriction, from_table
from kizuna.minerals.tidy import MINING, to_tonnes


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    restrictions: tuple[Restriction, ...]
    partners: tuple[str, ...] = PARTNERS
    year: int = DEFAULT_TRADE_YEAR
    spare_capacity_pct: float = 10.0
    as_of: date | None = None
    apply_inactive: bool = False


@dataclass(slots=True)
class PartnerImpact:
    partner: str
    restriction: str
    direct_t: float
    processed_t: float
    consumption_t: float
    reallocated_t: float
    via: dict[str, float] = field(default_factory=dict)  # refiner -> processed tonnes
    proxy: bool = False  # no HS92 code: tonnes are per 100 t of consumption (i.e. percent)
    imports_t: float = 0.0  # the partner's imports of the same codes (a second denominator)

    @property
    def loss_t(self) -> float:
        return self.direct_t + self.processed_t

    @property
    def after_t(self) -> float:
        return self.loss_t - self.reallocated_t

    def pct(self, tonnes: float) -> float | None:
        return None if self.consumption_t <= 0 else 100.0 * tonnes / self.consumption_t

    def as_dict(self) -> dict[str, object]:
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 4)

        return {
            "partner": self.partner,
            "restriction": self.restriction,
            "proxy": self.proxy,
            "apparent_consumption_t": None if self.proxy else r(self.consumption_t),
            "before": {
                "direct_t": r(self.direct_t),
                "through_processing_t": r(self.processed_t),
                "total_t": r(self.loss_t),
                "direct_pct": r(self.pct(self.direct_t)),
                "through_processing_pct": r(self.pct(self.processed_t)),
                "total_pct": r(self.pct(self.loss_t)),
            },
            "reallocated_t": r(self.reallocated_t),
            "after": {"total_t": r(self.after_t), "total_pct": r(self.pct(self.after_t))},
            "imports_t": None if self.proxy else r(self.imports_t),
            "before_pct_of_imports": None
            if self.proxy or self.imports_t <= 0
            else r(100.0 * self.loss_t / self.imports_t),
            "through_processing_by_refiner_t": {k: r(v) for k, v in sorted(self.via.items())},
        }


@dataclass(slots=True)
class ScenarioResult:
    scenario: Scenario
    impacts: list[PartnerImpact]
    applied: list[Restriction]
    skipped: list[tuple[Restriction, str]]
    notes: list[str]

    def as_dict(self) -> dict[str, object]:
        s = self.scenario
        return {
            "scenario": s.name,
            "year": s.year,
            "as_of": None if s.as_of is None else s.as_of.isoformat(),
            "spare_capacity_pct": s.spare_capacity_pct,
            "applied": [r.as_dict() for r in self.applied],
            "skipped": [{"id": r.id, "status": why} for r, why in self.skipped],
            "impacts": [i.as_dict() for i in self.impacts],
            "notes": self.notes,
        }


def load_scenario(path: Path, *, today: date) -> Scenario:
    """Read a scenario TOML file (see docs/minerals.md). ``today`` is the default ``as_of``."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFound(f"{path}: scenario file not found") from None
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+)", str(exc))
        line = getattr(exc, "lineno", None) or (int(m.group(1)) if m else None)
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise InputError(f"not valid TOML: {reason}", path=str(path), line=line) from None
    where = str(path)
    rows = doc.get("restriction")
    if not isinstance(rows, list) or not rows:
        raise InputError("a scenario needs at least one [[restriction]] table", path=where)
    restrictions = tuple(from_table(r, f"{where}: restriction {i + 1}") for i, r in enumerate(rows))
    partners = doc.get("partners", list(PARTNERS))
    if not isinstance(partners, list) or not all(isinstance(p, str) and len(p) == 3 for p in partners):
        raise InputError("partners must be a list of ISO3 codes", path=where)
    year = doc.get("year", DEFAULT_TRADE_YEAR)
    spare = doc.get("spare_capacity_pct", 10.0)
    if not isinstance(year, int) or not isinstance(spare, int | float) or spare < 0:
        raise InputError("year must be an integer and spare_capacity_pct a number >= 0", path=where)
    as_of = doc.get("as_of", today)
    if not isinstance(as_of, date):
        raise InputError("as_of must be a TOML date (YYYY-MM-DD)", path=where)
    return Scenario(
        str(doc.get("name", path.stem)),
        restrictions,
        tuple(p.upper() for p in partners),
        year,
        float(spare),
        as_of,
        bool(doc.get("apply_inactive", False)),
    )


class _Flows:
    """Tonnes by (exporter, importer, hs) for one year and a set of codes (rows without quantity skipped)."""

    def __init__(self, data: MineralsData, year: int, codes: set[int]) -> None:
        t = data.trade
        mask = t.select(years=year, hs=sorted(codes))
        q = t.qty_t[mask]
        ok = ~np.isnan(q)
        self.q: dict[tuple[str, str, int], float] = defaultdict(float)
        for e, i, h, v in zip(t.exporter[mask][ok], t.importer[mask][ok], t.hs[mask][ok], q[ok], strict=True):
            self.q[(t.iso3[int(e)], t.iso3[int(i)], int(h))] += float(v)

    def total(self, hs: Sequence[int], *, exporter: str | None = None, importer: str | None = None) -> float:
        codes = set(hs)
        return math.fsum(
            v
            for (e, i, h), v in self.q.items()
            if h in codes and (exporter is None or e == exporter) and (importer is None or i == importer)
        )

    def importers_from(self, exporter: str, hs: Sequence[int]) -> set[str]:
        codes = set(hs)
        return {i for (e, i, h), v in self.q.items() if e == exporter and h in codes and v > 0}

    def others_total(self, hs: Sequence[int], excluded: str) -> float:
        codes = set(hs)
        return math.fsum(v for (e, _i, h), v in self.q.items() if h in codes and e != excluded)


def _mine_production(data: MineralsData, key: str) -> dict[str, float]:
    try:
        s = profile(data, key).headline(MINING)
    except NotFound:
        return {}
    if s is None or s.source != "usgs" or s.unit != "t":
        return {}
    return dict(s.values)


def run_scenario(data: MineralsData, scenario: Scenario) -> ScenarioResult:
    y = scenario.year
    notes: list[str] = []
    applied: list[Restriction] = []
    skipped: list[tuple[Restriction, str]] = []
    impacts: list[PartnerImpact] = []
    for r in scenario.restrictions:
        status = r.status(scenario.as_of) if scenario.as_of is not None else "in force"
        if status != "in force" and not scenario.apply_inactive:
            skipped.append((r, status))
            continue
        applied.append(r)
        m = mineral(r.mineral)
        cut = r.cut_pct / 100.0
        hs = list(r.hs)
        if not hs:
            impacts.extend(_proxy_impacts(data, scenario, r, notes))
            continue
        refined = list(m.hs_refining)
        feed = list(m.hs_feed)
        flows = _Flows(data, y, set(hs) | set(refined) | set(feed))
        mine = _mine_production(data, m.key)
        # each refiner's dependency on R's feed
        dep: dict[str, float] = {}
        if refined:
            for x in flows.importers_from(r.country_iso3, feed):
                if x == r.country_iso3:
                    continue
                from_r = flows.total(feed, exporter=r.country_iso3, importer=x)
                supply = flows.total(feed, importer=x) + mine.get(x, 0.0)
                if supply > 0 and from_r > 0:
                    dep[x] = from_r / supply
        else:
            notes.append(f"{r.id}: {m.key} has no refining HS92 code; processing route not computed")
        losses: list[PartnerImpact] = []
        for p in scenario.partners:
            direct = cut * flows.total(hs, exporter=r.country_iso3, importer=p)
            via: dict[str, float] = {}
            for x, d in dep.items():
                if x == p:
                    continue
                q = flows.total(refined, exporter=x, importer=p)
                if q > 0:
                    via[x] = cut * q * d
            codes = sorted(set(hs) | (set(refined) if via else set()))
            imports = flows.total(codes, importer=p)
            cons = imports - flows.total(codes, exporter=p) + mine.get(p, 0.0)
            if cons <= 0:
                notes.append(
                    f"{r.id} {p}: apparent consumption of HS {codes} is not positive in {y}; % not computed"
                )
            impact = PartnerImpact(
                p, r.id, direct, math.fsum(via.values()), cons, 0.0, via, imports_t=imports
            )
            if cons > 0 and impact.loss_t > cons:
                notes.append(
                    f"{r.id} {p}: loss exceeds apparent consumption ({p} re-exports much of what it imports)"
                )
            losses.append(impact)
        r_exports = flows.total(hs, exporter=r.country_iso3)
        spare = scenario.spare_capacity_pct / 100.0 * flows.others_total(hs, r.country_iso3)
        world_loss = cut * r_exports + math.fsum(i.processed_t for i in losses)
        for i in losses:
            if world_loss > 0:
                i.reallocated_t = min(i.loss_t, spare * i.loss_t / world_loss)
        notes.append(
            f"{r.id}: spare capacity {spare:,.0f} t ({scenario.spare_capacity_pct:g} % of other exporters' "
            f"{y} shipments of HS {hs}); world loss {world_loss:,.0f} t"
        )
        impacts.extend(losses)
    for r, why in skipped:
        notes.append(f"{r.id} is {why} on {scenario.as_of}; skipped (set apply_inactive = true to apply it)")
    notes.extend(data.file_notes())
    return ScenarioResult(scenario, impacts, applied, skipped, notes)


def _proxy_impacts(
    data: MineralsData, scenario: Scenario, r: Restriction, notes: list[str]
) -> list[PartnerImpact]:
    """A mineral without an HS92 code (gallium): shortfall in % of consumption from world shares.

    Each partner is assumed to source like the world (its imports follow world production shares), so
    the loss is ``cut * share_R``. Spare capacity comes from USGS capacity rows where the release has
    them (capacity - production of the other producers), else ``spare_capacity_pct`` of their output.
    """
    p = profile(data, r.mineral)
    stage = next((s for s in (p.headline("refining"), p.headline(MINING)) if s is not None), None)
    if stage is None or stage.conc.total <= 0:
        notes.append(f"{r.id}: no HS92 code and no production series; shortfall not computed")
        return []
    cut = r.cut_pct / 100.0
    share = stage.conc.share_of(r.country_iso3)
    capacity: dict[str, float] = {}
    for row in data.usgs:
        if (
            row.mineral == p.mineral.key
            and row.stage == "capacity"
            and row.year == stage.year
            and row.country_iso3 not in (r.country_iso3, "WLD")
        ):
            t = to_tonnes(row.value, row.unit)
            if t is not None:
                capacity[row.country_iso3] = t
    others = {k: v for k, v in stage.values.items() if k != r.country_iso3}
    if capacity and stage.unit == "t":
        spare_units = sum(
            max(0.0, capacity.get(k, 0.0) - others.get(k, 0.0)) for k in set(capacity) | set(others)
        )
        how = f"USGS capacity minus production of the other producers ({stage.year})"
    else:
        spare_units = scenario.spare_capacity_pct / 100.0 * sum(others.values())
        how = f"{scenario.spare_capacity_pct:g} % of the other producers' output"
    world_loss = cut * stage.values.get(r.country_iso3, 0.0)
    spare_frac = min(1.0, spare_units / world_loss) if world_loss > 0 else 0.0
    notes.append(
        f"{r.id}: no HS92 code; each partner assumed to source like the world ({stage.basis}, {stage.year}): "
        f"loss = {100 * cut:g} % x {r.country_iso3} share {100 * share:.1f} %; spare capacity from {how} "
        f"covers {100 * spare_frac:.1f} % of the world's loss; figures are per 100 t of consumption"
    )
    out = []
    for partner in scenario.partners:
        direct = 100.0 * cut * share
        out.append(PartnerImpact(partner, r.id, direct, 0.0, 100.0, direct * spare_frac, proxy=True))
    return out


def scenario_of(restrictions: Sequence[Restriction], **kwargs: object) -> Scenario:
    """Convenience for code and tests: a scenario from restriction objects."""
    return Scenario("ad hoc", tuple(restrictions), **kwargs)  # type: ignore[arg-type]
