"""Seeded synthetic catalogues shaped like today's orbital population, for tests and benchmarks.

Real catalogue snapshots are often not redistributable, so kizuna screens made-up ones that have the
same crowding: constellation shells near 550 km / 53 deg and 1,200 km / 88 deg, sun-synchronous orbits
between 500 and 800 km, debris clouds near 800 km, the geostationary belt, and a random rest (LEO,
MEO navigation orbits, transfer and Molniya orbits). Objects are built with ``Satrec.sgp4init`` and
written out as TLEs with ``sgp4.exporter``, so the catalogue *is* those TLE lines.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sgp4.api import WGS72, Satrec
from sgp4.exporter import export_tle

from kizuna.errors import InputError
from kizuna.space.catalog import CatalogObject
from kizuna.space.timeutil import add_seconds, from_jd, to_jd

__all__ = ["DEFAULT_MIX", "synthetic_catalog"]

MU_KM3_S2 = 398600.8  # WGS-72, as SGP4 uses
EARTH_RADIUS_KM = 6378.135
_J2 = 1.082616e-3

#: Share of each population in a catalogue (fractions, summed and normalised).
DEFAULT_MIX: dict[str, float] = {
    "constellation_550": 0.22,
    "constellation_1200": 0.03,
    "sso": 0.16,
    "debris_800": 0.25,
    "geo": 0.05,
    "leo_random": 0.23,
    "meo_heo": 0.06,
}


@dataclass(frozen=True)
class _Elements:
    a_km: float
    ecc: float
    inc_rad: float
    raan_rad: float
    argp_rad: float
    mean_anomaly_rad: float
    bstar: float


def _sso_inclination(a_km: float) -> float:
    # nodal precession = Earth's mean motion around the Sun (0.9856 deg/day)
    n = math.sqrt(MU_KM3_S2 / a_km**3)
    target = 2 * math.pi / (365.2422 * 86400.0)
    cos_i = -target / (1.5 * n * _J2 * (EARTH_RADIUS_KM / a_km) ** 2)
    return math.acos(max(-1.0, min(1.0, cos_i)))


def _walker(
    rng: np.random.Generator, count: int, alt_km: float, inc_deg: float, planes: int, phasing: int
) -> list[_Elements]:
    """A Walker delta pattern ``planes`` x ``count/planes``, phasing factor ``phasing``, all elements at
    one common epoch (see ``synthetic_catalog``) so the pattern's spacing holds, as station-keeping does.
    """
    per_plane = max(1, math.ceil(count / planes))
    total = planes * per_plane
    out: list[_Elements] = []
    shift = rng.uniform(0, 2 * math.pi)
    for k in range(count):
        p, s = divmod(k, per_plane)
        argp = rng.uniform(0, 2 * math.pi)
        raan = (shift + 2 * math.pi * p / planes) % (2 * math.pi)
        u = (2 * math.pi * s / per_plane + 2 * math.pi * phasing * p / total) % (2 * math.pi)
        out.append(
            _Elements(
                a_km=EARTH_RADIUS_KM + alt_km + rng.normal(0, 0.2),
                ecc=abs(rng.normal(0.0001, 0.00003)),
                inc_rad=math.radians(inc_deg + rng.normal(0, 0.01)),
                raan_rad=raan,
                argp_rad=argp,
                mean_anomaly_rad=(u - argp) % (2 * math.pi),
                bstar=float(rng.uniform(1e-5, 3e-4)),
            )
        )
    return out


#: Constellation shells near 550 km: (altitude km, inclination deg, planes, phasing, share of the population)
_SHELLS_550 = (
    (540.0, 53.2, 72, 17, 0.37),
    (550.0, 53.0, 72, 11, 0.37),
    (560.0, 97.6, 6, 1, 0.08),
    (570.0, 70.0, 36, 5, 0.18),
)
_CONSTELLATIONS = ("constellation_550", "constellation_1200")


def _population(name: str, rng: np.random.Generator, count: int) -> list[_Elements]:
    two_pi = 2 * math.pi
    if name == "constellation_550":
        shells: list[_Elements] = []
        left = count
        for k, (alt, inc, planes, phasing, share) in enumerate(_SHELLS_550):
            n = left if k == len(_SHELLS_550) - 1 else round(count * share)
            shells.extend(_walker(rng, n, alt, inc, planes, phasing))
            left -= n
        return shells
    if name == "constellation_1200":
        return _walker(rng, count, 1200.0, 87.9, 18, 1)
    out: list[_Elements] = []
    for _ in range(count):
        if name == "sso":
            a = EARTH_RADIUS_KM + rng.uniform(500, 800)
            el = _Elements(
                a,
                abs(rng.normal(0.001, 0.0005)),
                _sso_inclination(a),
                rng.uniform(0, two_pi),
                rng.uniform(0, two_pi),
                rng.uniform(0, two_pi),
                float(rng.uniform(1e-5, 2e-4)),
            )
        elif name == "debris_800":
            parent_inc = float(rng.choice([74.0, 82.0, 86.4, 98.6, 99.0]))
            a = EARTH_RADIUS_KM + 800 + rng.normal(0, 40)
            el = _Elements(
                a,
                abs(rng.normal(0.004, 0.004)),
                math.radians(parent_inc + rng.normal(0, 0.3)),
                rng.uniform(0, two_pi),
                rng.uniform(0, two_pi),
                rng.uniform(0, two_pi),
                float(rng.uniform(5e-5, 1e-3)),
            )
        elif name == "geo":
            a = 42164.2 + rng.normal(0, 30)
            el = _Elements(
                a,
                abs(rng.normal(0.0002, 0.0002)),
                math.radians(abs(rng.normal(0, 4))),
                rng.uniform(0, two_pi),
                rng.uniform(0, two_pi),
                rng.uniform(0, two_pi),
                0.0,
            )
        elif name == "leo_random":
            alt = rng.uniform(300, 2000)
            el = _Elements(
                EARTH_RADIUS_KM + alt,
                abs(rng.normal(0.002, 0.003)),
                math.radians(rng.uniform(0, 105)),
                rng.uniform(0, two_pi),
                rng.uniform(0, two_pi),
                rng.uniform(0, two_pi),
                float(rng.uniform(1e-5, 5e-4)),
            )
        else:  # meo_heo: navigation shells, transfer orbits, Molniya
            kind = rng.choice(["gnss", "gto", "molniya"], p=[0.5, 0.35, 0.15])
            if kind == "gnss":
                el = _Elements(
                    EARTH_RADIUS_KM + 20200 + rng.normal(0, 300),
                    abs(rng.normal(0.005, 0.003)),
                    math.radians(55 + rng.normal(0, 1.5)),
                    rng.uniform(0, two_pi),
                    rng.uniform(0, two_pi),
                    rng.uniform(0, two_pi),
                    0.0,
                )
            elif kind == "gto":
                rp = EARTH_RADIUS_KM + rng.uniform(250, 600)
                ra = 42164.0 + rng.normal(0, 200)
                el = _Elements(
                    (rp + ra) / 2,
                    (ra - rp) / (ra + rp),
                    math.radians(rng.uniform(0, 28.5)),
                    rng.uniform(0, two_pi),
                    rng.uniform(0, two_pi),
                    rng.uniform(0, two_pi),
                    float(rng.uniform(1e-5, 1e-4)),
                )
            else:
                el = _Elements(
                    26560.0 + rng.normal(0, 50),
                    0.72 + rng.normal(0, 0.01),
                    math.radians(63.4),
                    rng.uniform(0, two_pi),
                    math.radians(270 + rng.normal(0, 2)),
                    rng.uniform(0, two_pi),
                    0.0,
                )
        out.append(el)
    return out


def synthetic_catalog(
    count: int,
    *,
    epoch: datetime,
    seed: int = 0,
    mix: Mapping[str, float] | None = None,
    first_norad: int = 10001,
) -> list[CatalogObject]:
    """``count`` objects drawn from ``mix`` (default :data:`DEFAULT_MIX`), all with epochs within the
    day before ``epoch``. The same arguments always give the same catalogue."""
    weights = dict(DEFAULT_MIX if mix is None else mix)
    unknown = set(weights) - set(DEFAULT_MIX)
    if unknown:
        raise InputError(f"unknown populations {sorted(unknown)}; known: {sorted(DEFAULT_MIX)}")
    rng = np.random.default_rng(seed)
    total = sum(weights.values())
    names = list(weights)
    counts = [round(count * weights[n] / total) for n in names]
    counts[-1] += count - sum(counts)
    elements: list[tuple[str, _Elements]] = []
    for name, c in zip(names, counts, strict=True):
        elements.extend((name, e) for e in _population(name, rng, max(c, 0)))
    objects: list[CatalogObject] = []
    for k, (pop, el) in enumerate(elements):
        norad = first_norad + k
        # constellation element sets share one epoch (their pattern holds); the rest spread over a day
        offset_s = 6 * 3600.0 if pop in _CONSTELLATIONS else float(rng.uniform(0, 86400.0))
        obj_epoch = add_seconds(epoch, -offset_s)
        jd, fr = to_jd(obj_epoch)
        epoch_days_1950 = (jd - 2433281.5) + fr
        sat = Satrec()
        n_rad_min = math.sqrt(MU_KM3_S2 / el.a_km**3) * 60.0
        sat.sgp4init(
            WGS72, "i", norad, epoch_days_1950, el.bstar, 0.0, 0.0, min(el.ecc, 0.95),
            el.argp_rad % (2 * math.pi), el.inc_rad, el.mean_anomaly_rad % (2 * math.pi),
            n_rad_min, el.raan_rad % (2 * math.pi),
        )  # fmt: skip
        sat.classification = "U"
        sat.intldesg = f"{20 + k // 1000 % 80:02d}{k % 1000:03d}A"
        line1, line2 = export_tle(sat)
        parsed = Satrec.twoline2rv(line1, line2, WGS72)
        objects.append(
            CatalogObject(
                norad_id=norad,
                name=f"SYN-{pop.upper()}-{norad}",
                epoch=from_jd(parsed.jdsatepoch, parsed.jdsatepochF),
                source=f"synthetic(seed={seed}):{k + 1}",
                tle=(str(line1), str(line2)),
            )
        )
    return objects
