"""kizuna's propagation path against the Vallado verification vectors shipped in the sgp4 wheel."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import sgp4

from kizuna.space.catalog import parse_tle_text
from kizuna.space.propagation import (
    hermite,
    interpolation_error_bound_km,
    perigee_apogee_km,
    propagate,
    propagate_jd,
)
from kizuna.space.synthetic import synthetic_catalog

from .conftest import EPOCH

SGP4_DIR = Path(sgp4.__file__).parent
#: tcppver.out prints positions to 1e-8 km and velocities to 1e-9 km/s; allow a few units of the last digit
POSITION_TOL_KM = 2e-7  # 0.2 mm (the tolerance sgp4 itself uses on this file)
VELOCITY_TOL_KM_S = 2e-9  # 2 micrometres per second


def _tcppver_blocks() -> list[tuple[int, list[list[float]]]]:
    blocks: list[tuple[int, list[list[float]]]] = []
    for line in (SGP4_DIR / "tcppver.out").read_text().splitlines():
        if line.strip().endswith("xx"):
            blocks.append((int(line.split()[0]), []))
        elif line.strip():
            blocks[-1][1].append([float(x) for x in line.split()[:7]])
    return blocks


def test_vallado_verification_vectors() -> None:
    text = (SGP4_DIR / "SGP4-VER.TLE").read_text()
    # the verification file carries deliberate bad checksums and repeated objects; read them all
    cat = parse_tle_text(text, source="SGP4-VER.TLE", verify_checksums=False, dedupe=False)
    strict = parse_tle_text(text, source="SGP4-VER.TLE")
    assert sum("checksum" in p.message for p in strict.problems) == 3
    blocks = _tcppver_blocks()
    assert len(blocks) == 33
    objects = list(cat.objects)
    checked = 0
    for satnum, rows in blocks:
        if objects and objects[0].norad_id == satnum:
            obj = objects.pop(0)
        else:
            # SGP4 refused the element set at initialisation (kizuna reports and skips it); the C++
            # driver prints at most the t=0 state it had before failing
            assert len(rows) <= 1, satnum
            assert any(f"error {satnum}" in p.message or p.line is not None for p in cat.problems)
            continue
        sat = obj.satrec()
        tsince = np.array([row[0] for row in rows])
        whole, frac = np.divmod(tsince / 1440.0, 1.0)
        err, r, v = propagate_jd([sat], sat.jdsatepoch + whole, sat.jdsatepochF + frac)
        for k, row in enumerate(rows):
            assert err[k, 0] == 0, (satnum, row[0])
            assert np.max(np.abs(r[k, 0] - row[1:4])) < POSITION_TOL_KM, (satnum, row[0])
            assert np.max(np.abs(v[k, 0] - row[4:7])) < VELOCITY_TOL_KM_S, (satnum, row[0])
            checked += 1
    assert objects == []
    assert checked > 500


def test_decayed_object_reports_error_not_numbers() -> None:
    text = (SGP4_DIR / "SGP4-VER.TLE").read_text()
    cat = parse_tle_text(text, verify_checksums=False, dedupe=False)
    (decaying,) = [o for o in cat.objects if o.norad_id == 33333]  # "check error code 4"
    err, r, _v = propagate([decaying.satrec()], decaying.epoch, np.array([0.0, 150.0 * 60]))
    assert err[-1, 0] != 0
    assert math.isnan(r[-1, 0, 0])


def test_hermite_interpolation_stays_within_its_bound() -> None:
    objs = synthetic_catalog(400, epoch=EPOCH, seed=2)
    sats = [o.satrec() for o in objs]
    step = 120.0
    knots = np.arange(0.0, 6 * 3600.0 + 1, step)
    _e, r, v = propagate(sats, EPOCH, knots)
    bounds = np.array(
        [interpolation_error_bound_km(*perigee_apogee_km(s), step, deep_space=s.method == "d") for s in sats]
    )
    worst_ratio = 0.0
    for frac in (0.25, 0.5, 0.75):
        _e2, r_exact, v_exact = propagate(sats, EPOCH, knots[:-1] + frac * step)
        p, w = hermite(r[:-1], v[:-1], r[1:], v[1:], step, frac)
        pos_err = np.nanmax(np.linalg.norm(p - r_exact, axis=2), axis=0)
        vel_err = np.nanmax(np.linalg.norm(w - v_exact, axis=2), axis=0)
        assert np.all(pos_err <= bounds[:, 0]), np.max(pos_err / bounds[:, 0])
        assert np.all(vel_err <= bounds[:, 1]), np.max(vel_err / bounds[:, 1])
        worst_ratio = max(worst_ratio, float(np.max(pos_err / bounds[:, 0])))
    # the bound is not vacuous: the worst object uses a real share of it
    assert worst_ratio > 0.01
