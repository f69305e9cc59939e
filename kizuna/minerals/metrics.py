"""Concentration metrics: shares, top-1/top-3, HHI (0-10,000), a country's share.

Two implementations that must agree (tests check them on random inputs): :func:`concentration`, a
numpy path used for every profile, and :func:`concentration_reference`, a plain-Python one written to
be read against the definitions::

    share_i = x_i / sum_j x_j                      (only countries; aggregates such as "World" excluded)
    HHI     = sum_i (100 * share_i)^2              (0 .. 10,000; 10,000 = one supplier)
    top_k   = sum of the k largest shares
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

HHI_MAX = 10_000.0
#: Keys that are aggregates, not suppliers ("Other countries").
AGGREGATES: frozenset[str] = frozenset({"ROW"})


@dataclass(frozen=True, slots=True)
class Concentration:
    shares: dict[str, float]  # ISO3 -> share (fraction), largest first
    hhi: float  # 0 .. 10,000
    top1_iso3: str | None
    top1_share: float
    top3_share: float
    total: float

    def share_of(self, iso3: str) -> float:
        return self.shares.get(iso3, 0.0)


def concentration_reference(
    values: Mapping[str, float], aggregates: frozenset[str] = AGGREGATES
) -> Concentration:
    """Plain definition-by-definition implementation (the reference).

    Keys in ``aggregates`` ("other countries") count in the total but are not a supplier: they take no
    part in HHI or the top-k (their HHI contribution is taken as zero, i.e. fully fragmented).
    """
    positive = {k: v for k, v in values.items() if v is not None and v > 0}
    total = math.fsum(positive.values())
    if total <= 0:
        return Concentration({}, 0.0, None, 0.0, 0.0, 0.0)
    ordered = sorted(positive.items(), key=lambda kv: (-kv[1], kv[0]))
    shares = {k: v / total for k, v in ordered}
    countries = [s for k, s in shares.items() if k not in aggregates]
    first = next((k for k in shares if k not in aggregates), None)
    hhi = math.fsum((100.0 * s) ** 2 for s in countries)
    return Concentration(
        shares, hhi, first, countries[0] if countries else 0.0, math.fsum(countries[:3]), total
    )


def concentration(values: Mapping[str, float], aggregates: frozenset[str] = AGGREGATES) -> Concentration:
    """Vectorised implementation (numpy); agrees with :func:`concentration_reference`."""
    keys = [k for k, v in values.items() if v is not None and v > 0]
    if not keys:
        return Concentration({}, 0.0, None, 0.0, 0.0, 0.0)
    x = np.fromiter((values[k] for k in keys), dtype=np.float64, count=len(keys))
    total = float(x.sum())
    s = x / total
    order = np.lexsort((np.array(keys), -s))
    shares = {keys[i]: float(s[i]) for i in order}
    is_country = np.fromiter((k not in aggregates for k in keys), dtype=bool, count=len(keys))
    c_sorted = s[order][is_country[order]]
    hhi = float(np.dot(s[is_country], s[is_country])) * HHI_MAX
    first_idx = order[is_country[order]]
    return Concentration(
        shares,
        hhi,
        keys[int(first_idx[0])] if first_idx.size else None,
        float(c_sorted[0]) if c_sorted.size else 0.0,
        float(c_sorted[:3].sum()),
        total,
    )
