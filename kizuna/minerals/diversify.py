"""Diversified sourcing for the partners jointly: a linear programme solved with HiGHS.

Variables ``x[p, s]`` = tonnes partner p buys from supplier s. Minimise::

    sum_p,s x[p,s] * (cost_s + risk_weight * g_s)

subject to::

    sum_s x[p,s]            = demand_p                       (each partner's demand is met)
    sum_p x[p,s]           <= capacity_s                     (suppliers' capacity is shared)
    x[p,s]                 <= cap_share * demand_p           (no supplier above the cap per partner)
    sum_{s allied} x[p,s]  >= allied_share * demand_p        (minimum share from allied suppliers)
    x[p,s] >= 0;  x[p,p] = 0                                 (a partner does not import from itself)

From BACI for the trade year: ``cost_s`` = supplier s's export unit value of the codes (USD per tonne);
``g_s`` = GeoPolRisk political instability (0..1); ``risk_weight`` defaults to the world average unit value
(a supplier with g = 1 costs one average tonne more per tonne); ``demand_p`` = partner p's imports today;
``capacity_s`` = what the partners buy from s today plus ``headroom_pct`` of s's exports to everyone.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from kizuna.errors import InputError
from kizuna.minerals.catalogue import mineral
from kizuna.minerals.countries import ALLIED, PARTNERS
from kizuna.minerals.dataset import MineralsData
from kizuna.minerals.exposure import DEFAULT_TRADE_YEAR, instability_by_iso3
from kizuna.minerals.geopolrisk import NEUTRAL_G
from kizuna.minerals.metrics import concentration


@dataclass(slots=True)
class LpSolution:
    allocation: dict[str, dict[str, float]]  # partner -> supplier -> tonnes
    unmet: dict[str, float]  # partner -> tonnes of demand left unmet (0 when the demand is hard)
    objective: float


def solve_allocation(
    partners: Sequence[str],
    suppliers: Sequence[str],
    demand: dict[str, float],
    capacity: dict[str, float],
    unit_cost: dict[str, float],
    *,
    cap_share: float = 1.0,
    allied: frozenset[str] = frozenset(),
    allied_share: float = 0.0,
    unmet_penalty: float | None = None,
) -> LpSolution:
    """Solve the allocation LP (``unit_cost`` already includes any risk term).

    With ``unmet_penalty`` (cost per tonne) each partner may leave demand unmet at that price, so the
    programme is always feasible and the answer says how much cannot be sourced; the allied share then
    applies to what is sourced. Without it demand is a hard constraint and an infeasible programme raises
    InputError.
    """
    from scipy.optimize import linprog  # imported here: the CLI should not pay for scipy at start-up

    np_, ns = len(partners), len(suppliers)
    soft = unmet_penalty is not None
    n = np_ * ns + (np_ if soft else 0)

    def var(pi: int, si: int) -> int:
        return pi * ns + si

    c = np.zeros(n)
    bounds: list[tuple[float, float | None]] = []
    for pi, p in enumerate(partners):
        for si, s in enumerate(suppliers):
            c[var(pi, si)] = unit_cost[s]
            bounds.append((0.0, 0.0 if s == p else cap_share * demand[p]))
    if soft:
        for pi in range(np_):
            c[np_ * ns + pi] = float(unmet_penalty)  # type: ignore[arg-type]
            bounds.append((0.0, None))
    a_eq = np.zeros((np_, n))
    b_eq = np.zeros(np_)
    for pi, p in enumerate(partners):
        for si in range(ns):
            a_eq[pi, var(pi, si)] = 1.0
        if soft:
            a_eq[pi, np_ * ns + pi] = 1.0
        b_eq[pi] = demand[p]
    rows: list[npt.NDArray[np.float64]] = []
    b_ub: list[float] = []
    for si, s in enumerate(suppliers):
        row = np.zeros(n)
        for pi in range(np_):
            row[var(pi, si)] = 1.0
        rows.append(row)
        b_ub.append(capacity[s])
    if allied_share > 0:
        for pi in range(np_):
            # allied_share * sum_s x - sum_{allied} x <= 0
            row = np.zeros(n)
            for si, s in enumerate(suppliers):
                row[var(pi, si)] = allied_share - (1.0 if s in allied else 0.0)
            rows.append(row)
            b_ub.append(0.0)
    res = linprog(
        c,
        A_ub=np.vstack(rows) if rows else None,
        b_ub=np.array(b_ub) if b_ub else None,
        A_eq=a_eq,
        b_eq=b_eq,
        bounds=bounds,
        method="highs",
    )
    if res.status != 0:
        raise InputError(
            f"the sourcing LP has no solution ({res.message.strip()}): demand cannot be met within the "
            "suppliers' capacity, the per-supplier cap and the minimum allied share; relax one of them"
        )
    x = res.x
    alloc: dict[str, dict[str, float]] = {}
    unmet: dict[str, float] = {}
    for pi, p in enumerate(partners):
        alloc[p] = {s: float(x[var(pi, si)]) for si, s in enumerate(suppliers) if x[var(pi, si)] > 1e-9}
        unmet[p] = float(x[np_ * ns + pi]) if soft else 0.0
    return LpSolution(alloc, unmet, float(res.fun))


@dataclass(slots=True)
class PartnerPlan:
    partner: str
    demand_t: float
    today_t: dict[str, float]
    optimal_t: dict[str, float]
    cost_today_usd: float
    cost_optimal_usd: float
    risk_today: float  # demand-weighted mean g
    risk_optimal: float
    allied_today_pct: float
    allied_optimal_pct: float
    hhi_today: float
    hhi_optimal: float
    unmet_t: float = 0.0

    def as_dict(self) -> dict[str, object]:
        def rd(d: dict[str, float]) -> dict[str, float]:
            return {k: round(v, 3) for k, v in sorted(d.items(), key=lambda kv: -kv[1])}

        return {
            "partner": self.partner,
            "demand_t": round(self.demand_t, 3),
            "today_t": rd(self.today_t),
            "optimal_t": rd(self.optimal_t),
            "cost_today_usd": round(self.cost_today_usd, 2),
            "cost_optimal_usd": round(self.cost_optimal_usd, 2),
            "cost_change_usd": round(self.cost_optimal_usd - self.cost_today_usd, 2),
            "mean_instability_today": round(self.risk_today, 4),
            "mean_instability_optimal": round(self.risk_optimal, 4),
            "allied_share_today_pct": round(self.allied_today_pct, 3),
            "allied_share_optimal_pct": round(self.allied_optimal_pct, 3),
            "import_hhi_today": round(self.hhi_today, 2),
            "import_hhi_optimal": round(self.hhi_optimal, 2),
            "unmet_t": round(self.unmet_t, 3),
        }


@dataclass(slots=True)
class DiversifyResult:
    mineral: str
    hs: list[int]
    year: int
    parameters: dict[str, object]
    plans: list[PartnerPlan]
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "mineral": self.mineral,
            "hs92": self.hs,
            "year": self.year,
            "parameters": self.parameters,
            "partners": [p.as_dict() for p in self.plans],
            "notes": self.notes,
        }


def diversify(
    data: MineralsData,
    key: str,
    *,
    partners: Sequence[str] = PARTNERS,
    year: int = DEFAULT_TRADE_YEAR,
    cap_pct: float = 40.0,
    allied_pct: float = 50.0,
    headroom_pct: float = 20.0,
    risk_weight_usd_per_t: float | None = None,
    exclude: Sequence[str] = (),
    min_supplier_share_pct: float = 0.5,
) -> DiversifyResult:
    m = mineral(key)
    hs = list(m.hs_refining or m.hs_mining)
    if not hs:
        raise InputError(f"{m.key}: no HS92 code in BACI, so there is no trade to re-allocate")
    trade = data.trade
    mask = trade.select(years=year, hs=hs)
    q = trade.qty_t[mask]
    v = trade.value_kusd[mask]
    ok = ~np.isnan(q) & (q > 0)
    exp_q: dict[str, float] = defaultdict(float)
    exp_v: dict[str, float] = defaultdict(float)
    today: dict[str, dict[str, float]] = {p: defaultdict(float) for p in partners}
    for e, i, qq, vv in zip(trade.exporter[mask][ok], trade.importer[mask][ok], q[ok], v[ok], strict=True):
        s, d = trade.iso3[int(e)], trade.iso3[int(i)]
        exp_q[s] += float(qq)
        exp_v[s] += float(vv) * 1000.0
        if d in today:
            today[d][s] += float(qq)
    world_q = math.fsum(exp_q.values())
    bought = {s for p in partners for s in today[p]}
    suppliers = sorted(
        s
        for s in exp_q
        if s not in set(exclude) and (exp_q[s] >= min_supplier_share_pct / 100.0 * world_q or s in bought)
    )
    price = {s: exp_v[s] / exp_q[s] for s in exp_q if exp_q[s] > 0}  # today's costs use every exporter
    world_price = math.fsum(exp_v.values()) / math.fsum(exp_q.values())
    lam = world_price if risk_weight_usd_per_t is None else risk_weight_usd_per_t
    g, wgi_year = instability_by_iso3(data, year)
    notes = [f"political stability (WGI PV) of {wgi_year} used for trade year {year}"]
    notes.append(
        f"suppliers: exporters with at least {min_supplier_share_pct:g} % of world shipments, plus today's "
        "suppliers of each partner (small flows have erratic unit values)"
    )
    notes.append(
        "unit values are BACI value/quantity of each supplier's shipments of the codes: product mix within "
        "an HS code (e.g. cobalt intermediates vs metal in 810510) makes them differ by supplier"
    )
    gs = {s: g.get(s, NEUTRAL_G) for s in suppliers}
    missing = [s for s in suppliers if s not in g]
    if missing:
        notes.append(f"no WGI PV for {', '.join(missing)}: g = 0.5 assumed")
    demand = {p: math.fsum(today[p].values()) for p in partners}
    for p in partners:
        if demand[p] <= 0:
            raise InputError(
                f"{p} imported no {m.key} (HS {hs}) with a quantity in {year}; nothing to allocate"
            )
    to_partners = {s: math.fsum(today[p].get(s, 0.0) for p in partners) for s in suppliers}
    capacity = {s: to_partners[s] + headroom_pct / 100.0 * exp_q[s] for s in suppliers}
    unit = {s: price[s] + lam * gs[s] for s in suppliers}
    sol = solve_allocation(
        list(partners),
        suppliers,
        demand,
        capacity,
        unit,
        cap_share=cap_pct / 100.0,
        allied=ALLIED,
        allied_share=allied_pct / 100.0,
        unmet_penalty=10.0 * (world_price + lam),
    )
    plans: list[PartnerPlan] = []
    for p in partners:
        now = {s: t for s, t in today[p].items() if t > 0}
        opt = sol.allocation[p]

        def cost(alloc: dict[str, float]) -> float:
            return math.fsum(t * price.get(s, world_price) for s, t in alloc.items())

        def risk(alloc: dict[str, float]) -> float:
            tot = math.fsum(alloc.values())
            return math.fsum(t * g.get(s, NEUTRAL_G) for s, t in alloc.items()) / tot if tot else 0.0

        def allied_pct_of(alloc: dict[str, float]) -> float:
            tot = math.fsum(alloc.values())
            return 100.0 * math.fsum(t for s, t in alloc.items() if s in ALLIED) / tot if tot else 0.0

        plans.append(
            PartnerPlan(
                p,
                demand[p],
                now,
                opt,
                cost(now),
                cost(opt),
                risk(now),
                risk(opt),
                allied_pct_of(now),
                allied_pct_of(opt),
                concentration(now).hhi,
                concentration(opt).hhi,
                sol.unmet[p],
            )
        )
    for p in partners:
        if sol.unmet[p] > 1e-6:
            notes.append(
                f"{p}: {sol.unmet[p]:,.1f} t cannot be sourced within capacity, cap and allied share "
                "(unmet demand is priced at 10x the world unit value plus the risk weight)"
            )
    if exclude:
        notes.append(f"excluded suppliers: {', '.join(exclude)}")
    notes.extend(data.file_notes())
    params: dict[str, object] = {
        "cap_pct": cap_pct,
        "allied_pct": allied_pct,
        "headroom_pct": headroom_pct,
        "risk_weight_usd_per_t": round(lam, 2),
        "allied_suppliers": sorted(ALLIED),
        "exclude": list(exclude),
    }
    return DiversifyResult(m.key, hs, year, params, plans, notes)
