"""The sourcing LP: hand-built instances whose optimum is known, and the joint run on shipped data."""

from __future__ import annotations

import pytest

from kizuna.errors import InputError
from kizuna.minerals.countries import ALLIED
from kizuna.minerals.dataset import MineralsData
from kizuna.minerals.diversify import diversify, solve_allocation

PARTNERS = ["A", "B"]
SUPPLIERS = ["X", "Y", "Z"]
DEMAND = {"A": 100.0, "B": 50.0}
CAPACITY = {"X": 80.0, "Y": 100.0, "Z": 100.0}
COST = {"X": 1.0, "Y": 2.0, "Z": 3.0}


def test_known_optimum_shared_capacity_and_allied_share() -> None:
    """X is cheapest but holds 80 t for both; 20 % must come from allied Z (the dearest).

    Optimum: Z gives exactly 20 (A) and 10 (B), X its full 80 t, Y the remaining 40 t:
    cost = 80*1 + 40*2 + 30*3 = 250.
    """
    sol = solve_allocation(
        PARTNERS, SUPPLIERS, DEMAND, CAPACITY, COST, allied=frozenset({"Z"}), allied_share=0.2
    )
    assert sol.objective == pytest.approx(250.0)
    assert sol.allocation["A"]["Z"] == pytest.approx(20.0)
    assert sol.allocation["B"]["Z"] == pytest.approx(10.0)
    assert sol.allocation["A"].get("X", 0) + sol.allocation["B"].get("X", 0) == pytest.approx(80.0)
    for p in PARTNERS:
        assert sum(sol.allocation[p].values()) == pytest.approx(DEMAND[p])


def test_known_optimum_with_per_supplier_cap() -> None:
    """No supplier above 50 % of a partner's demand: X gives 50 (A) + 25 (B) = 75 < its capacity.

    cost = 75*1 + (30 + 15)*2 + (20 + 10)*3 = 75 + 90 + 90 = 255.
    """
    sol = solve_allocation(
        PARTNERS, SUPPLIERS, DEMAND, CAPACITY, COST, cap_share=0.5, allied=frozenset({"Z"}), allied_share=0.2
    )
    assert sol.objective == pytest.approx(255.0)
    assert sol.allocation["A"] == pytest.approx({"X": 50.0, "Y": 30.0, "Z": 20.0})
    assert sol.allocation["B"] == pytest.approx({"X": 25.0, "Y": 15.0, "Z": 10.0})


def test_infeasible_hard_demand_and_soft_unmet() -> None:
    small = {"X": 10.0, "Y": 10.0, "Z": 10.0}
    with pytest.raises(InputError, match="no solution"):
        solve_allocation(PARTNERS, SUPPLIERS, DEMAND, small, COST)
    sol = solve_allocation(PARTNERS, SUPPLIERS, DEMAND, small, COST, unmet_penalty=100.0)
    assert sum(sol.unmet.values()) == pytest.approx(150.0 - 30.0)
    assert sol.objective == pytest.approx(10 * 1 + 10 * 2 + 10 * 3 + 120 * 100)


def test_partner_does_not_buy_from_itself() -> None:
    sol = solve_allocation(
        ["A", "X"], ["X", "Y"], {"A": 10.0, "X": 10.0}, {"X": 100.0, "Y": 100.0}, {"X": 1.0, "Y": 5.0}
    )
    assert sol.allocation["X"] == pytest.approx({"Y": 10.0})
    assert sol.allocation["A"] == pytest.approx({"X": 10.0})


def test_joint_rare_earths_on_shipped_data(data: MineralsData) -> None:
    res = diversify(data, "rare_earths", cap_pct=40, allied_pct=50, headroom_pct=20)
    assert [p.partner for p in res.plans] == ["GBR", "JPN"]
    for p in res.plans:
        sourced = sum(p.optimal_t.values())
        assert sourced + p.unmet_t == pytest.approx(p.demand_t, rel=1e-9)
        assert max(p.optimal_t.values()) <= 0.4 * p.demand_t * (1 + 1e-9)
        allied = sum(t for s, t in p.optimal_t.items() if s in ALLIED)
        assert allied >= 0.5 * sourced * (1 - 1e-9)
        assert p.optimal_t.get("CHN", 0.0) <= 0.4 * p.demand_t * (1 + 1e-9)
    assert res.plans[1].allied_today_pct < 50  # Japan today sources mostly outside the allied group
    with pytest.raises(InputError, match="no HS92 code"):
        diversify(data, "gallium")


def _greedy_cost(demand_total: float, capacity: dict[str, float], cost: dict[str, float]) -> float:
    """Plain reference: with only shared capacity, fill the cheapest suppliers first (optimal)."""
    left, total = demand_total, 0.0
    for s in sorted(cost, key=lambda k: cost[k]):
        take = min(left, capacity[s])
        total += take * cost[s]
        left -= take
    assert left <= 1e-9
    return total


def test_lp_agrees_with_greedy_reference_on_random_instances() -> None:
    import numpy as np

    rng = np.random.default_rng(7)
    for _ in range(200):
        ns = int(rng.integers(1, 8))
        suppliers = [f"S{i}" for i in range(ns)]
        demand = {"A": float(rng.uniform(1, 100)), "B": float(rng.uniform(1, 100))}
        capacity = {s: float(rng.uniform(1, 120)) for s in suppliers}
        if sum(capacity.values()) < sum(demand.values()):
            capacity[suppliers[0]] += sum(demand.values())
        cost = {s: float(rng.uniform(0.5, 10)) for s in suppliers}
        sol = solve_allocation(["A", "B"], suppliers, demand, capacity, cost)
        assert sol.objective == pytest.approx(_greedy_cost(sum(demand.values()), capacity, cost), rel=1e-7)
