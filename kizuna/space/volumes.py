"""Screening volumes: a sphere, or an ellipsoid in the primary's radial / in-track / cross-track frame.

Operational screening (NASA CARA, the 18th Space Defense Squadron) flags a conjunction when the secondary
enters an ellipsoid centred on the primary, thin radially (where orbits are well known) and long in-track
(where they are not). kizuna reports an event when the range between two objects has a local minimum
(the TCA) and, during that encounter, the secondary enters the primary's volume: the normalised ellipsoid
distance ``sqrt((R/a_R)^2 + (I/a_I)^2 + (C/a_C)^2)`` of the relative position, in the primary's frame at
each instant, is at most 1 somewhere in the time the pair is within the volume's largest semi-axis.

Per-regime defaults (``--volume cara``), from NASA CARA's own tools (the screening volumes in the
defaults of ``EventRate_ConjDist_default_params.m`` in github.com/nasa/CARA_Analysis_Tools):

============================  ==========  ===========  ==============  ==========================
primary's perigee altitude    radial km   in-track km  cross-track km  CARA's label
============================  ==========  ===========  ==============  ==========================
up to 500 km                  2           44           51              "LEO 1-2 Grace-1 and -2"
500 km to 2,000 km            0.5         17           20              "LEO 2-3 (A-train)"
above 2,000 km                (none)                                   the ``--threshold-km`` sphere
============================  ==========  ===========  ==============  ==========================

CARA uses the A-train volume near 700 km; kizuna applies it to every LEO perigee above 500 km. We found no
published operational volume for MEO, GEO or HEO that we could cite, so primaries there keep the sphere:
give ``--volume R,I,C`` explicitly for them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize_scalar
from sgp4.api import Satrec

from kizuna.errors import InputError
from kizuna.space.tca import SECONDS_PER_DAY

__all__ = ["REGIME_VOLUMES", "Volume", "penetration", "regime_volume"]

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class Volume:
    """Semi-axes (km) of an ellipsoid in the primary's radial, in-track and cross-track directions."""

    radial_km: float
    in_track_km: float
    cross_track_km: float

    def __post_init__(self) -> None:
        axes = (self.radial_km, self.in_track_km, self.cross_track_km)
        if not all(math.isfinite(a) and a > 0 for a in axes):
            raise InputError("volume semi-axes must be positive numbers of km")

    @property
    def bounding_km(self) -> float:
        """Radius of the smallest sphere holding the ellipsoid."""
        return max(self.radial_km, self.in_track_km, self.cross_track_km)

    @property
    def axes_km(self) -> tuple[float, float, float]:
        return (self.radial_km, self.in_track_km, self.cross_track_km)

    @classmethod
    def parse(cls, text: str) -> Volume:
        """``"2,44,51"`` (radial, in-track, cross-track km) -> Volume; InputError otherwise."""
        parts = [p.strip() for p in text.split(",")]
        try:
            values = [float(p) for p in parts]
            if len(values) != 3:
                raise ValueError
            return cls(*values)
        except ValueError:
            raise InputError(
                f"--volume {text!r}: expected three positive numbers of km R,I,C (e.g. 2,44,51) or 'cara'"
            ) from None

    def __str__(self) -> str:
        return f"{self.radial_km:g} x {self.in_track_km:g} x {self.cross_track_km:g} km (R x I x C)"


#: (upper bound of the primary's perigee altitude in km, volume, source) - see the module docstring.
REGIME_VOLUMES: tuple[tuple[float, Volume, str], ...] = (
    (500.0, Volume(2.0, 44.0, 51.0), "NASA CARA, LEO 1-2 (GRACE)"),
    (2000.0, Volume(0.5, 17.0, 20.0), "NASA CARA, LEO 2-3 (A-train)"),
)


def regime_volume(perigee_altitude_km: float) -> Volume | None:
    """The default volume for a primary with this perigee altitude; None where kizuna has no sourced one."""
    for upper, volume, _source in REGIME_VOLUMES:
        if perigee_altitude_km <= upper:
            return volume
    return None


def ric_components(r_p: F64, v_p: F64, rel: F64) -> F64:
    """``rel`` (km, inertial) in the radial / in-track / cross-track frame of the state ``(r_p, v_p)``."""
    r_hat = r_p / np.linalg.norm(r_p)
    h = np.cross(r_p, v_p)
    c_hat = h / np.linalg.norm(h)
    i_hat = np.cross(c_hat, r_hat)
    return np.array([rel @ r_hat, rel @ i_hat, rel @ c_hat])


def normalised_distance(r_p: F64, v_p: F64, r_s: F64, volume: Volume) -> float:
    """``sqrt(sum((component / axis)^2))``: at most 1 when the secondary is inside the primary's volume."""
    ric = ric_components(r_p, v_p, r_s - r_p)
    return float(np.sqrt(np.sum((ric / np.array(volume.axes_km)) ** 2)))


#: Samples of the normalised distance across an encounter before the local refinement.
_SAMPLES = 48
#: The longest encounter followed on either side of TCA (a slow, co-orbiting pair).
_MAX_HALF_S = 3600.0


def penetration(
    primary: Satrec, secondary: Satrec, jd0: float, fr0: float, tca_s: float, volume: Volume
) -> float | None:
    """The smallest normalised distance of ``secondary`` in ``primary``'s volume during the encounter
    around ``tca_s`` (seconds after ``jd0 + fr0``): the interval around TCA where the range is within
    the volume's bounding radius. None when SGP4 fails there. At most 1 means the volume was entered."""

    def state(t_s: float) -> tuple[F64, F64, F64] | None:
        fr = fr0 + t_s / SECONDS_PER_DAY
        e1, r1, v1 = primary.sgp4(jd0, fr)
        e2, r2, _v2 = secondary.sgp4(jd0, fr)
        if e1 or e2:
            return None
        return np.array(r1), np.array(v1), np.array(r2)

    def metric(t_s: float) -> float:
        s = state(t_s)
        if s is None:
            return math.inf
        return normalised_distance(s[0], s[1], s[2], volume)

    def rng(t_s: float) -> float:
        s = state(t_s)
        return math.inf if s is None else float(np.linalg.norm(s[2] - s[0]))

    at_tca = state(tca_s)
    if at_tca is None:
        return None
    bound = volume.bounding_km
    miss = float(np.linalg.norm(at_tca[2] - at_tca[0]))
    if miss > bound:
        return metric(tca_s)
    # the encounter: walk out from TCA until the range exceeds the bounding radius on each side
    fr = fr0 + tca_s / SECONDS_PER_DAY
    _e1, _r1, v1 = primary.sgp4(jd0, fr)
    _e2, _r2, v2 = secondary.sgp4(jd0, fr)
    speed = max(float(np.linalg.norm(np.subtract(v2, v1))), 1e-6)
    step = max(math.sqrt(max(bound * bound - miss * miss, 0.0)) / speed, 0.05)
    ends = []
    for direction in (-1.0, 1.0):
        width = step
        while width < _MAX_HALF_S and rng(tca_s + direction * width) <= bound:
            width *= 2.0
        ends.append(tca_s + direction * min(width, _MAX_HALF_S))
    lo, hi = ends
    ts = np.linspace(lo, hi, _SAMPLES + 1)
    values = np.array([metric(float(t)) for t in ts])
    best = min(float(values.min()), metric(tca_s))
    k = int(np.argmin(values))
    a, b = float(ts[max(k - 1, 0)]), float(ts[min(k + 1, len(ts) - 1)])
    if b > a:
        found = minimize_scalar(metric, bounds=(a, b), method="bounded", options={"xatol": 1e-3})
        best = min(best, float(found.fun))
    return best
