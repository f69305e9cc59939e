"""Ellipsoidal screening volumes against the plain reference: exact SGP4 every half second, every pair."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kizuna.errors import InputError
from kizuna.space.reference import dense_screen, dense_volume_entries
from kizuna.space.screening import ScreenSettings, screen
from kizuna.space.synthetic import synthetic_catalog
from kizuna.space.volumes import REGIME_VOLUMES, Volume, normalised_distance, regime_volume

from .conftest import CROWDED, EPOCH


def test_volume_parse_and_regimes() -> None:
    assert Volume.parse("2, 44,51") == Volume(2.0, 44.0, 51.0)
    assert Volume(2, 44, 51).bounding_km == 51.0
    for bad in ("2,44", "a,b,c", "0,1,1", "-1,2,3", "1,2,3,4"):
        with pytest.raises(InputError, match="--volume"):
            Volume.parse(bad)
    assert regime_volume(400.0) == Volume(2.0, 44.0, 51.0)
    assert regime_volume(700.0) == Volume(0.5, 17.0, 20.0)
    assert regime_volume(20_000.0) is None
    assert all(source.startswith("NASA CARA") for _u, _v, source in REGIME_VOLUMES)


@settings(max_examples=200, deadline=None)
@given(
    st.tuples(*[st.floats(-60, 60) for _ in range(3)]),
    st.tuples(*[st.floats(0.1, 50) for _ in range(3)]),
)
def test_normalised_distance_is_the_ellipsoid_in_the_ric_frame(
    offset: tuple[float, float, float], axes: tuple[float, float, float]
) -> None:
    # a primary on the x axis moving along y: R = x, I = y, C = z
    r_p = np.array([7000.0, 0.0, 0.0])
    v_p = np.array([0.0, 7.5, 0.0])
    vol = Volume(*axes)
    d = normalised_distance(r_p, v_p, r_p + np.array(offset), vol)
    expected = math.sqrt(sum((o / a) ** 2 for o, a in zip(offset, axes, strict=True)))
    # positions near 7,000 km carry about 1e-12 km of rounding: compare within a micrometre of the axes
    assert d == pytest.approx(expected, rel=1e-9, abs=1e-9 / min(axes))


def test_every_volume_entry_the_reference_finds_is_an_event() -> None:
    objs = synthetic_catalog(90, epoch=EPOCH, seed=21, mix=CROWDED)
    volume = Volume(20.0, 150.0, 100.0)
    duration_s = 2 * 3600.0
    fast = screen(objs, EPOCH, duration_s, ScreenSettings(volume=volume, chunk_s=3600.0), workers=1).events
    # the reference: pairs that come within the bounding sphere (dense sampling, every pair), then every
    # half second of exact SGP4 in each primary's frame
    near = dense_screen(objs, EPOCH, duration_s, volume.bounding_km, step_s=2.0)
    pairs = {(e.norad_1, e.norad_2) for e in near}
    ordered = [p for a, b in pairs for p in ((a, b), (b, a))]
    entries = dense_volume_entries(objs, EPOCH, duration_s, ordered, volume, step_s=0.5)
    ref_pairs = {tuple(sorted(p)) for p in entries}
    fast_pairs = {(e.norad_1, e.norad_2) for e in fast}
    assert len(near) >= 40 and len(ref_pairs) >= 5  # the sample has something to bite on
    assert ref_pairs <= fast_pairs, ref_pairs - fast_pairs
    # and every reported event is a real entry (or a graze shorter than the reference's half second)
    for e in fast:
        if (e.norad_1, e.norad_2) not in ref_pairs:
            assert e.miss_km <= volume.bounding_km
    assert len(fast_pairs - ref_pairs) <= max(1, len(ref_pairs) // 5)


def test_a_thin_volume_reports_fewer_events_than_its_bounding_sphere() -> None:
    objs = synthetic_catalog(70, epoch=EPOCH, seed=21, mix=CROWDED)
    volume = Volume(0.5, 17.0, 20.0)
    sphere = screen(objs, EPOCH, 3600.0, ScreenSettings(threshold_km=20.0), workers=1).events
    ellipsoid = screen(objs, EPOCH, 3600.0, ScreenSettings(volume=volume), workers=1).events
    keys = {(e.norad_1, e.norad_2, e.tca_utc) for e in sphere}
    assert {(e.norad_1, e.norad_2, e.tca_utc) for e in ellipsoid} <= keys
    assert len(ellipsoid) < len(sphere)


def test_regime_volumes_use_each_primarys_perigee() -> None:
    from kizuna.space.propagation import EARTH_RADIUS_KM, perigee_apogee_km
    from kizuna.space.screening import Selection, _build_plan

    objs = synthetic_catalog(200, epoch=EPOCH, seed=5)  # every regime, GEO and HEO included
    sats = [o.satrec() for o in objs]
    settings = ScreenSettings(threshold_km=7.0, regime_volumes=True, prefilter=False)
    plan, _coloc, _failed = _build_plan(objs, sats, EPOCH, 3600.0, settings, Selection())
    for k, s in enumerate(sats):
        perigee = perigee_apogee_km(s)[0] - EARTH_RADIUS_KM
        expected = regime_volume(perigee)
        if expected is None:
            assert plan.reach_km[k] == 7.0 and np.isnan(plan.axes_km[k]).all()
        else:
            assert plan.reach_km[k] == expected.bounding_km
            assert tuple(plan.axes_km[k]) == expected.axes_km
    assert np.isnan(plan.axes_km[:, 0]).any() and not np.isnan(plan.axes_km[:, 0]).all()


def test_pairs_in_the_dense_reference_are_ordered_both_ways() -> None:
    objs = synthetic_catalog(3, epoch=EPOCH, seed=2, mix=CROWDED)
    a, b, _c = (o.norad_id for o in objs)
    huge = Volume(20000.0, 20000.0, 20000.0)
    out = dense_volume_entries(objs, EPOCH, 60.0, list(itertools.permutations([a, b])), huge, step_s=30.0)
    assert set(out) == {(a, b), (b, a)} and all(len(t) == 3 for t in out.values())
