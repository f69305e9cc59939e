"""Reference frames kizuna needs: RTN of an orbit, and SGP4's TEME to and from an Earth-fixed frame.

TEME -> ITRF uses the IAU-82 Greenwich mean sidereal time rotation (Vallado, *Fundamentals of
Astrodynamics*, ``teme2ecef`` without polar motion); neglecting polar motion moves a LEO position by
at most ~15 m, well inside any TLE's own error.
"""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from kizuna.space.timeutil import to_jd

F64 = NDArray[np.float64]
EARTH_ROTATION_RAD_S = 7.292115146706979e-5


def rtn_basis(r: F64, v: F64) -> F64:
    """Rows R, T, N (unit vectors) of the radial / transverse / normal frame of state ``(r, v)``."""
    r_hat = r / np.linalg.norm(r)
    h = np.cross(r, v)
    n_hat = h / np.linalg.norm(h)
    t_hat = np.cross(n_hat, r_hat)
    return np.vstack((r_hat, t_hat, n_hat))


def rtn_to_inertial_cov(r: F64, v: F64, cov_rtn: F64) -> F64:
    """Rotate a 3x3 (position) or 6x6 (position, velocity) RTN covariance to the frame of ``r, v``."""
    m = rtn_basis(r, v)
    n = cov_rtn.shape[0]
    rot = np.zeros((n, n))
    for k in range(0, n, 3):
        rot[k : k + 3, k : k + 3] = m.T
    return np.asarray(rot @ cov_rtn @ rot.T)


def gmst_rad(moment: datetime) -> float:
    """Greenwich mean sidereal time (IAU-82), radians."""
    jd, fr = to_jd(moment)
    t_ut1 = ((jd - 2451545.0) + fr) / 36525.0
    secs = 67310.54841 + (876600.0 * 3600 + 8640184.812866) * t_ut1 + 0.093104 * t_ut1**2 - 6.2e-6 * t_ut1**3
    return math.radians((secs % 86400.0) / 240.0) % (2 * math.pi)


def _r3(angle: float) -> F64:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])


def teme_to_itrf(moment: datetime, r: F64, v: F64) -> tuple[F64, F64]:
    rot = _r3(gmst_rad(moment))
    r_f = rot @ r
    v_f = rot @ v - np.cross([0.0, 0.0, EARTH_ROTATION_RAD_S], r_f)
    return r_f, v_f


def itrf_to_teme(moment: datetime, r: F64, v: F64) -> tuple[F64, F64]:
    rot = _r3(gmst_rad(moment)).T
    v_in = v + np.cross([0.0, 0.0, EARTH_ROTATION_RAD_S], r)
    return rot @ r, rot @ v_in
