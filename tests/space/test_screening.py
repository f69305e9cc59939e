from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kizuna.errors import InputError
from kizuna.space.catalog import CatalogObject
from kizuna.space.events import Event
from kizuna.space.reference import dense_screen
from kizuna.space.screening import ScreenSettings, screen, stale_element_sets
from kizuna.space.synthetic import synthetic_catalog

from .conftest import CROWDED, EPOCH

#: Acceptance tolerances between the fast screen and the dense reference (issue 4).
TCA_TOL_S = 0.010
MISS_TOL_KM = 0.001


def _match(fast: list[Event], ref: list[Event]) -> list[Event]:
    """Reference events that the fast screen missed (same pair, TCA within TCA_TOL_S, miss within 1 m)."""
    missed = []
    for r in ref:
        hits = [
            f
            for f in fast
            if (f.norad_1, f.norad_2) == (r.norad_1, r.norad_2)
            and abs((f.tca_utc - r.tca_utc).total_seconds()) <= TCA_TOL_S
            and abs(f.miss_km - r.miss_km) <= MISS_TOL_KM
        ]
        if not hits:
            missed.append(r)
    return missed


def test_iridium_33_cosmos_2251_collision_is_found(iridium_cosmos: list[CatalogObject]) -> None:
    start = datetime(2009, 2, 10, tzinfo=UTC)
    result = screen(iridium_cosmos, start, 86400.0, ScreenSettings(threshold_km=5.0), workers=1)
    (event,) = result.events
    assert (event.norad_1, event.norad_2) == (22675, 24946)
    # the published reconstruction gives TCA to 0.1 s and the miss to 1 m; compare within half of that
    published_tca = datetime(2009, 2, 10, 16, 55, 59, 800000, tzinfo=UTC)
    assert abs((event.tca_utc - published_tca).total_seconds()) <= 0.05
    assert event.miss_km == pytest.approx(0.698, abs=0.0005)
    assert event.rel_speed_km_s == pytest.approx(11.65, abs=0.01)


@pytest.mark.parametrize("seed", [3, 4])
def test_fast_screen_misses_nothing_the_dense_reference_finds(seed: int) -> None:
    objs = synthetic_catalog(100, epoch=EPOCH, seed=seed, mix=CROWDED)
    threshold_km = 60.0
    duration_s = 6 * 3600.0
    fast = screen(
        objs, EPOCH, duration_s, ScreenSettings(threshold_km=threshold_km, chunk_s=3600.0), workers=1
    )
    ref = dense_screen(objs, EPOCH, duration_s, threshold_km, step_s=2.0)
    assert len(ref) >= 20  # the crowded mix gives the comparison something to bite on
    assert _match(fast.events, ref) == []
    assert _match(ref, fast.events) == []  # and the fast screen invents nothing
    assert all(e.miss_km <= threshold_km for e in fast.events)


def test_primaries_screen_equals_all_vs_all_restricted(crowded_catalog: list[CatalogObject]) -> None:
    settings = ScreenSettings(threshold_km=40.0, chunk_s=3600.0)
    every = screen(crowded_catalog, EPOCH, 3 * 3600.0, settings, workers=1).events
    busiest = max(
        {e.norad_1 for e in every} | {e.norad_2 for e in every},
        key=lambda n: sum(n in (e.norad_1, e.norad_2) for e in every),
    )
    some = screen(crowded_catalog, EPOCH, 3 * 3600.0, settings, primaries=[busiest], workers=1).events
    expected = [e for e in every if busiest in (e.norad_1, e.norad_2)]
    assert len(expected) >= 2
    assert [(e.norad_1, e.norad_2, e.tca_utc) for e in some] == [
        (e.norad_1, e.norad_2, e.tca_utc) for e in expected
    ]


def test_unknown_primary_is_an_input_error(crowded_catalog: list[CatalogObject]) -> None:
    with pytest.raises(InputError, match="99999"):
        screen(crowded_catalog, EPOCH, 600.0, primaries=[99999], workers=1)


def test_process_pool_gives_the_serial_answer(crowded_catalog: list[CatalogObject]) -> None:
    settings = ScreenSettings(threshold_km=30.0, chunk_s=1800.0)
    serial = screen(crowded_catalog, EPOCH, 2 * 3600.0, settings, workers=1)
    seen: list[float] = []
    pooled = screen(
        crowded_catalog, EPOCH, 2 * 3600.0, settings, workers=2, progress=lambda d, t: seen.append(d)
    )
    assert pooled.events == serial.events
    assert seen[-1] == pytest.approx(2 * 3600.0)
    assert len(seen) == 4


def test_a_two_worker_dask_cluster_gives_the_process_pools_events(
    crowded_catalog: list[CatalogObject],
) -> None:
    from dask.distributed import Client, LocalCluster

    settings = ScreenSettings(threshold_km=30.0, chunk_s=1800.0)
    pooled = screen(crowded_catalog, EPOCH, 3 * 3600.0, settings, workers=2)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        seen: list[float] = []
        distributed = screen(
            crowded_catalog, EPOCH, 3 * 3600.0, settings, client=client, progress=lambda d, t: seen.append(d)
        )
    assert distributed.events == pooled.events
    assert len(pooled.events) > 0
    assert seen == sorted(seen) and seen[-1] == pytest.approx(3 * 3600.0)


def test_events_are_streamed_in_tca_order_and_not_kept(crowded_catalog: list[CatalogObject]) -> None:
    settings = ScreenSettings(threshold_km=40.0, chunk_s=600.0)
    kept = screen(crowded_catalog, EPOCH, 3 * 3600.0, settings, workers=1).events
    batches: list[list[Event]] = []
    streamed = screen(
        crowded_catalog, EPOCH, 3 * 3600.0, settings, workers=2, on_events=lambda ev: batches.append(list(ev))
    )
    assert streamed.events == []
    flat = [e for batch in batches for e in batch]
    assert flat == kept and len(batches) > 3
    assert [e.tca_utc for e in flat] == sorted(e.tca_utc for e in flat)
    # chunks own the TCAs nearest their steps: one event per minimum, however small the chunks
    assert len({(e.norad_1, e.norad_2, e.tca_utc) for e in flat}) == len(flat)


def test_same_group_pairs_can_be_left_out(crowded_catalog: list[CatalogObject]) -> None:
    settings = ScreenSettings(threshold_km=40.0, chunk_s=3600.0)
    groups = {o.norad_id: "CONSTELLATION" for o in crowded_catalog if "CONSTELLATION" in o.name}
    every = screen(crowded_catalog, EPOCH, 3 * 3600.0, settings, groups=groups, workers=1).events
    apart = screen(
        crowded_catalog,
        EPOCH,
        3 * 3600.0,
        ScreenSettings(threshold_km=40.0, chunk_s=3600.0, exclude_same_group=True),
        groups=groups,
        workers=1,
    ).events
    within = [e for e in every if e.norad_1 in groups and e.norad_2 in groups]
    assert within, "the crowded shells have constellation-internal approaches"
    assert apart == [e for e in every if e not in within]


def test_an_object_that_decays_in_the_window_is_reported(crowded_catalog: list[CatalogObject]) -> None:
    from .test_prefilter import _decaying

    objs = [*crowded_catalog[:20], *_decaying(6)]
    result = screen(objs, EPOCH, 3 * 86400.0, ScreenSettings(threshold_km=5.0, chunk_s=6 * 3600.0), workers=1)
    decayed = {f.norad_id: f for f in result.failures}
    assert len(decayed) >= 2
    for f in decayed.values():
        assert f.name.startswith("DECAY-") and 0.0 <= f.t_s <= 3 * 86400.0 and f.reason


def test_stale_element_sets_are_counted(crowded_catalog: list[CatalogObject]) -> None:
    later = EPOCH + timedelta(days=30)
    before, after = stale_element_sets(crowded_catalog, later, 86400.0, 7.0)
    assert len(before) == len(crowded_catalog) and after == []
    before, after = stale_element_sets(crowded_catalog, EPOCH - timedelta(days=20), 86400.0, 7.0)
    assert before == [] and len(after) == len(crowded_catalog)
    assert stale_element_sets(crowded_catalog, EPOCH, 86400.0, 7.0) == ([], [])


def test_events_stay_inside_the_window_and_are_unique(crowded_catalog: list[CatalogObject]) -> None:
    duration_s = 2 * 3600.0
    result = screen(
        crowded_catalog, EPOCH, duration_s, ScreenSettings(threshold_km=40.0, chunk_s=1800.0), workers=1
    )
    keys = [(e.norad_1, e.norad_2, round(e.tca_utc.timestamp(), 3)) for e in result.events]
    assert len(keys) == len(set(keys))
    end = EPOCH + timedelta(seconds=duration_s)
    assert all(EPOCH <= e.tca_utc <= end and e.norad_1 < e.norad_2 for e in result.events)


def test_settings_reject_steps_that_do_not_divide() -> None:
    with pytest.raises(ValueError, match="whole number"):
        ScreenSettings(step_s=25.0, knot_step_s=120.0)


@pytest.mark.parametrize("seconds_before_end", [0.5, 2.0, 19.0])
def test_an_approach_just_before_the_window_end_is_found(
    iridium_cosmos: list[CatalogObject], seconds_before_end: float
) -> None:
    tca = datetime(2009, 2, 10, 16, 55, 59, 795784, tzinfo=UTC)
    duration_s = 1000.0  # not a multiple of the step or knot spacing
    start = tca - timedelta(seconds=duration_s - seconds_before_end)
    (event,) = screen(iridium_cosmos, start, duration_s, ScreenSettings(threshold_km=5.0), workers=1).events
    assert abs((event.tca_utc - tca).total_seconds()) < 1e-3
    # and one that falls just after the window is not reported
    later = start - timedelta(seconds=seconds_before_end + 0.5)
    assert screen(iridium_cosmos, later, duration_s, ScreenSettings(threshold_km=5.0), workers=1).events == []


def test_step_size_does_not_change_the_answer(crowded_catalog: list[CatalogObject]) -> None:
    answers = []
    for step in (10.0, 40.0, 120.0):
        settings = ScreenSettings(threshold_km=40.0, step_s=step, chunk_s=3600.0)
        events = screen(crowded_catalog, EPOCH, 7000.0, settings, workers=1).events
        answers.append([(e.norad_1, e.norad_2, round(e.tca_utc.timestamp(), 3)) for e in events])
    assert answers[0] == answers[1] == answers[2]
    assert len(answers[0]) > 5
