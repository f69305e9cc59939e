"""The apogee/perigee prefilter is exact: shells hold the true radius, and nothing it drops was an event."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from kizuna.space.catalog import CatalogObject
from kizuna.space.prefilter import colocated_sets, radial_shells
from kizuna.space.propagation import propagate
from kizuna.space.screening import ScreenSettings, screen
from kizuna.space.synthetic import synthetic_catalog
from kizuna.space.timeutil import to_jd

from .conftest import EPOCH

#: A week of every regime (GEO, navigation MEO, transfer and Molniya orbits) and objects that decay.
DECAYING = {"leo_random": 1.0}


def _decaying(count: int) -> list[CatalogObject]:
    """LEO objects pushed down to 160-250 km with heavy drag: most come down within the week."""
    from sgp4.api import WGS72, Satrec
    from sgp4.exporter import export_tle

    rng = np.random.default_rng(7)
    out = []
    for k in range(count):
        sat = Satrec()
        alt = rng.uniform(160, 250)
        a = 6378.135 + alt
        n = np.sqrt(398600.8 / a**3) * 60.0
        jd, fr = to_jd(EPOCH - timedelta(hours=3))
        sat.sgp4init(
            WGS72, "i", 90000 + k, (jd - 2433281.5) + fr, float(rng.uniform(5e-4, 3e-3)), 0.0, 0.0,
            float(rng.uniform(1e-4, 2e-3)), float(rng.uniform(0, 6.28)), float(rng.uniform(0.5, 1.7)),
            float(rng.uniform(0, 6.28)), n, float(rng.uniform(0, 6.28)),
        )  # fmt: skip
        l1, l2 = export_tle(sat)
        out.append(CatalogObject(90000 + k, f"DECAY-{k}", EPOCH, "test", (str(l1), str(l2))))
    return out


def test_shells_hold_the_exact_radius_all_week() -> None:
    objs = synthetic_catalog(240, epoch=EPOCH, seed=3) + _decaying(12)
    sats = [o.satrec() for o in objs]
    duration_s = 7 * 86400.0
    jd0, fr0 = to_jd(EPOCH)
    shells = radial_shells(sats, jd0, fr0, duration_s)
    times = np.arange(0.0, duration_s, 60.0)
    err, r, _v = propagate(sats, EPOCH, times)
    radius = np.linalg.norm(r, axis=2)
    ok = err == 0
    below = ok & (radius < shells.lo_km[None, :])
    above = ok & (radius > shells.hi_km[None, :])
    assert not below.any() and not above.any(), (np.nonzero(below.any(axis=0)), np.nonzero(above.any(axis=0)))
    # objects that decay are found, with the time of the first failing sample
    failing = np.nonzero(~ok.all(axis=0))[0]
    assert len(failing) >= 3
    assert set(np.nonzero(~np.isnan(shells.fail_t_s))[0]) <= set(failing)


def test_the_prefilter_drops_no_event_of_the_unfiltered_screen() -> None:
    objs = synthetic_catalog(260, epoch=EPOCH, seed=8) + _decaying(6)
    duration_s = 3 * 3600.0
    leo = [o.norad_id for o in objs if "CONSTELLATION_550" in o.name][:12]
    for primaries in (None, leo):
        filtered = screen(
            objs, EPOCH, duration_s, ScreenSettings(threshold_km=80.0), primaries=primaries, workers=1
        )
        unfiltered = screen(
            objs,
            EPOCH,
            duration_s,
            ScreenSettings(threshold_km=80.0, prefilter=False),
            primaries=primaries,
            workers=1,
        )
        assert len(unfiltered.events) >= 10
        assert filtered.events == unfiltered.events
    # with LEO primaries, the shells keep MEO and GEO out of the propagation altogether
    assert filtered.stats.objects_prefiltered > len(objs) // 10


def test_objects_sharing_an_element_set_are_not_paired() -> None:
    objs = synthetic_catalog(30, epoch=EPOCH, seed=4)
    first = objs[0]
    docked = CatalogObject(99001, "DOCKED VEHICLE", first.epoch, "test", first.tle)
    catalogue = [*objs, docked]
    assert colocated_sets([o.satrec() for o in catalogue]) == [[0, len(objs)]]
    result = screen(catalogue, EPOCH, 3600.0, ScreenSettings(threshold_km=20.0), workers=1)
    assert result.colocated == [[first.norad_id, 99001]]
    assert not any({e.norad_1, e.norad_2} == {first.norad_id, 99001} for e in result.events)
    # the docked vehicle still meets everything its host meets
    host = sorted((e.norad_1 if e.norad_2 == first.norad_id else e.norad_2, e.tca_utc) for e in result.events
                  if first.norad_id in (e.norad_1, e.norad_2))  # fmt: skip
    guest = sorted((e.norad_1 if e.norad_2 == 99001 else e.norad_2, e.tca_utc) for e in result.events
                   if 99001 in (e.norad_1, e.norad_2))  # fmt: skip
    assert host == guest
