"""Concentration metrics: the numpy path agrees with the plain reference on random inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kizuna.minerals.metrics import concentration, concentration_reference


def test_known_values() -> None:
    c = concentration({"CHN": 60.0, "AUS": 30.0, "USA": 10.0})
    assert c.hhi == pytest.approx(3600 + 900 + 100)
    assert (c.top1_iso3, c.top1_share, c.top3_share) == ("CHN", pytest.approx(0.6), pytest.approx(1.0))
    assert concentration({"CHN": 5.0}).hhi == pytest.approx(10_000)
    assert concentration({}).hhi == 0.0
    # "other countries" counts in the total, not as a supplier
    c = concentration({"CHN": 50.0, "ROW": 50.0})
    assert c.share_of("CHN") == 0.5 and c.hhi == pytest.approx(2500) and c.top1_iso3 == "CHN"


def test_fast_agrees_with_reference_on_random_inputs() -> None:
    rng = np.random.default_rng(20261123)
    names = [f"C{i:02d}" for i in range(40)] + ["ROW"]
    for _ in range(500):
        n = int(rng.integers(1, 30))
        keys = rng.choice(names, size=n, replace=False)
        vals = {str(k): float(v) for k, v in zip(keys, rng.lognormal(3, 2, size=n), strict=True)}
        if rng.random() < 0.2:
            vals[str(keys[0])] = 0.0
        a, b = concentration(vals), concentration_reference(vals)
        assert math.isclose(a.hhi, b.hhi, rel_tol=1e-12, abs_tol=1e-9)
        assert a.top1_iso3 == b.top1_iso3
        assert math.isclose(a.top3_share, b.top3_share, rel_tol=1e-12, abs_tol=1e-15)
        assert a.shares.keys() == b.shares.keys()
        assert all(math.isclose(a.shares[k], b.shares[k], rel_tol=1e-12) for k in a.shares)
