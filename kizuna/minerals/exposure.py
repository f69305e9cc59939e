"""A partner's exposure for one mineral: import reliance, import shares by supplier, import HHI, GeoPolRisk.

Per stage with HS92 codes (see :mod:`kizuna.minerals.catalogue`), from BACI quantities (tonnes, gross
weight) for the trade year::

    apparent consumption = domestic production + imports - exports
    import reliance      = (imports - exports) / apparent consumption     (clipped to 0..100 %)
    import shares        = imports by supplier / imports
    import HHI           = sum (100 * share)^2                            (0 .. 10,000)

Domestic production is the partner's row in the USGS series for the stage (tonnes of content) when the
release lists the partner, else 0 (stated). A mineral with no HS92 code (gallium) gets a *proxy*
exposure: import shares taken equal to world production shares (stated; import reliance not computed).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from kizuna.errors import InputError
from kizuna.minerals.catalogue import Mineral, mineral
from kizuna.minerals.countries import PARTNERS
from kizuna.minerals.dataset import MineralsData
from kizuna.minerals.geopolrisk import GeoPolRisk, geopolrisk
from kizuna.minerals.metrics import Concentration, concentration
from kizuna.minerals.profile import Profile, Series, profile
from kizuna.minerals.tidy import MINING, REFINING

DEFAULT_TRADE_YEAR = 2024


@dataclass(slots=True)
class StageExposure:
    stage: str
    hs: list[int]
    year: int
    imports_t: float
    exports_t: float
    production_t: float
    import_reliance_pct: float | None
    imports_by_supplier_t: dict[str, float]
    shares: Concentration
    gpr: GeoPolRisk
    proxy: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def apparent_consumption_t(self) -> float:
        return self.production_t + self.imports_t - self.exports_t

    def as_dict(self) -> dict[str, object]:
        return {
            "stage": self.stage,
            "hs92": self.hs,
            "year": self.year,
            "proxy": self.proxy,
            "imports_t": round(self.imports_t, 3),
            "exports_t": round(self.exports_t, 3),
            "domestic_production_t": round(self.production_t, 3),
            "apparent_consumption_t": round(self.apparent_consumption_t, 3),
            "import_reliance_pct": None
            if self.import_reliance_pct is None
            else round(self.import_reliance_pct, 3),
            "import_shares_pct": {k: round(100.0 * v, 4) for k, v in self.shares.shares.items()},
            "import_hhi": round(self.shares.hhi, 2),
            "top_supplier": self.shares.top1_iso3,
            "china_share_pct": round(100.0 * self.shares.share_of("CHN"), 4),
            "geopolrisk": self.gpr.as_dict(),
            "notes": self.notes,
        }


@dataclass(slots=True)
class Exposure:
    partner: str
    mineral: Mineral
    stages: list[StageExposure]
    notes: list[str]

    def as_dict(self) -> dict[str, object]:
        return {
            "partner": self.partner,
            "mineral": self.mineral.key,
            "name": self.mineral.name,
            "stages": [s.as_dict() for s in self.stages],
            "notes": self.notes,
        }


def instability_by_iso3(data: MineralsData, year: int) -> tuple[dict[str, float], int]:
    """GeoPolRisk g per country for ``year`` (or the latest WGI year before it) and the year used."""
    gov = data.governance
    years = gov.years()
    y = year if year in years else max(v for v in years if v <= year) if min(years) <= year else min(years)
    out: dict[str, float] = {}
    for iso3, yy, ind in gov.estimates:
        if yy == y and ind == "pv":
            g = gov.gpr_instability(iso3, y)
            if g is not None:
                out[iso3] = g
    return out, y


def _production_series(p: Profile, stage: str) -> Series | None:
    return p.headline(stage) or p.headline(MINING) or p.headline(REFINING)


def _domestic_t(series: Series | None, partner: str) -> float:
    if series is None or series.source != "usgs" or series.unit != "t":
        return 0.0
    return series.values.get(partner, 0.0)


def exposure(data: MineralsData, partner: str, key: str, *, year: int = DEFAULT_TRADE_YEAR) -> Exposure:
    partner = partner.upper()
    if len(partner) != 3 or not partner.isalpha():
        raise InputError(f"partner must be an ISO3 code such as {' or '.join(PARTNERS)}, got {partner!r}")
    m = mineral(key)
    prof = profile(data, m.key)
    g, wgi_year = instability_by_iso3(data, year)
    notes: list[str] = []
    if wgi_year != year:
        notes.append(f"political stability (WGI PV) of {wgi_year} used for trade year {year}")
    stages: list[StageExposure] = []
    trade = data.trade
    for stage, hs in ((MINING, m.hs_mining), (REFINING, m.hs_refining)):
        if not hs:
            continue
        series = _production_series(prof, stage)
        hhi01 = series.conc.hhi / 10_000.0 if series is not None else 0.0
        imp = trade.select(years=year, hs=list(hs), importer=partner)
        exp = trade.select(years=year, hs=list(hs), exporter=partner)
        q_imp = trade.qty_t[imp]
        by_supplier: dict[str, float] = defaultdict(float)
        known = ~np.isnan(q_imp)
        for e, q in zip(trade.exporter[imp][known], q_imp[known], strict=True):
            by_supplier[trade.iso3[int(e)]] += float(q)
        imports_t = float(q_imp[known].sum())
        exports_t = float(np.nansum(trade.qty_t[exp]))
        prod_t = _domestic_t(series, partner)
        st_notes: list[str] = []
        v_imp = trade.value_kusd[imp]
        pct = 100.0 * float(v_imp[~known].sum() / v_imp.sum()) if v_imp.sum() > 0 else 0.0
        if pct >= 0.005:
            st_notes.append(f"{pct:.2f} % of import value has no quantity in BACI and is left out of tonnes")
        if prod_t == 0.0:
            st_notes.append(f"no {partner} production listed for this stage in USGS MCS 2026; taken as 0")
        if series is not None:
            st_notes.append(f"production HHI from {series.basis} ({series.year})")
        cons = prod_t + imports_t - exports_t
        ir = None
        if cons > 0:
            ir = max(0.0, min(100.0, 100.0 * (imports_t - exports_t) / cons))
        else:
            st_notes.append("apparent consumption not positive (net exporter or no trade); IR not computed")
        gpr = geopolrisk(by_supplier, g, hhi=hhi01, domestic_t=prod_t)
        if gpr.missing_g:
            st_notes.append(f"no WGI PV for {', '.join(gpr.missing_g)}: g = 0.5 (neutral) assumed")
        stages.append(
            StageExposure(
                stage,
                list(hs),
                year,
                imports_t,
                exports_t,
                prod_t,
                ir,
                dict(by_supplier),
                concentration(by_supplier),
                gpr,
                notes=st_notes,
            )
        )
    if not stages:
        series = _production_series(prof, REFINING)
        if series is None:
            raise InputError(f"{m.key}: no HS92 code and no production series; cannot assess exposure")
        shares = {k: v for k, v in series.conc.shares.items() if k != partner}
        gpr = geopolrisk(shares, g, hhi=series.conc.hhi / 10_000.0)
        stages.append(
            StageExposure(
                series.stage,
                [],
                series.year,
                0.0,
                0.0,
                _domestic_t(series, partner),
                None,
                shares,
                concentration(shares),
                gpr,
                proxy=True,
                notes=[
                    "no HS92 code in BACI: import shares assumed equal to world production shares "
                    f"({series.basis}, {series.year}); import reliance not computed",
                ],
            )
        )
    notes.extend(prof.notes)
    return Exposure(partner, m, stages, notes)
