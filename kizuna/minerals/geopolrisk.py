"""The GeoPolRisk supply-risk score (Gemechu et al. 2016; Koyamparambath et al. 2024), implemented from
the published method (geopolrisk-py's documentation, equation 1), not from any code::

    GeoPolRisk_Ac = HHI_A * sum_i g_i * f_Aic / (p_Ac + F_Ac)

``HHI_A`` production concentration of A on 0..1, ``g_i`` political (in)stability of exporter i on 0..1
(:meth:`kizuna.minerals.wgi.Governance.gpr_instability`), ``f_Aic`` imports of A into c from i (tonnes),
``F_Ac`` total imports, ``p_Ac`` domestic production. The sum is the *weighted trade average* (WTA).

Conventions (stated in every result's ``notes``): trade rows without a quantity take no part in the
numerator or in F; an exporter with no political-stability estimate takes ``g = 0.5`` (the neutral
midpoint, which is also how geopolrisk-py scores partners it cannot match to a WGI row).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from kizuna.errors import InputError

NEUTRAL_G = 0.5


@dataclass(slots=True)
class GeoPolRisk:
    hhi: float  # production concentration, 0..1
    numerator: float  # sum g_i f_i (tonnes)
    total_imports_t: float  # F
    domestic_t: float  # p
    wta: float
    score: float
    missing_g: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "hhi_production_0_1": round(self.hhi, 6),
            "numerator_t": round(self.numerator, 6),
            "total_imports_t": round(self.total_imports_t, 6),
            "domestic_production_t": round(self.domestic_t, 6),
            "wta": round(self.wta, 6),
            "score": round(self.score, 6),
            "exporters_without_g": self.missing_g,
        }


def geopolrisk(
    imports_t: Mapping[str, float],
    g: Mapping[str, float],
    *,
    hhi: float,
    domestic_t: float = 0.0,
    missing_g: float = NEUTRAL_G,
) -> GeoPolRisk:
    """Score from imports by exporter (tonnes), instability by exporter, HHI (0..1), domestic production."""
    if not 0.0 <= hhi <= 1.0:
        raise InputError(f"hhi must be on 0..1, got {hhi}")
    missing: list[str] = []
    terms: list[float] = []
    for iso3, f in imports_t.items():
        if f is None or math.isnan(f):
            continue
        gi = g.get(iso3)
        if gi is None:
            missing.append(iso3)
            gi = missing_g
        terms.append(gi * f)
    numerator = math.fsum(terms)
    total = math.fsum(f for f in imports_t.values() if f is not None and not math.isnan(f))
    denom = domestic_t + total
    wta = numerator / denom if denom > 0 else 0.0
    return GeoPolRisk(hhi, numerator, total, domestic_t, wta, hhi * wta, sorted(missing))
