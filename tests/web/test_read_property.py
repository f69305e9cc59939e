"""The UI's read paths against the plain read rule, on random corpora (hypothesis: 200 examples on SQLite, 60
on PostgreSQL): search by value, the sightings dashboard's counts, the disagreements list and the object page
each show a reader exactly what ``policy.may_read`` lets it read, and nothing that depends on what it may
not."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from kizuna.hub import intake, policy
from kizuna.hub.app import create_app
from kizuna.hub.auth import hash_token, new_token
from kizuna.hub.index import encode_key
from kizuna.hub.settings import HubSettings
from kizuna.stix.ids import format_timestamp
from kizuna.stix.markings import TLP, TLP2_IDS
from tests.hub.conftest import FrozenClock
from tests.web.conftest import BACKENDS, ORIGIN, new_store

ORGS = {"p1": TLP.RED, "p2": TLP.RED, "amber": TLP.AMBER, "green": TLP.GREEN, "red": TLP.RED}
PRODUCERS = ("p1", "p2")
READERS = {"c1": tuple(ORGS), "c2": ("p1", "p2", "amber")}
VALUES = ("192.0.2.10", "192.0.2.11", "192.0.2.12")
NOW = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)

a_level = st.one_of(st.none(), st.sampled_from(list(TLP)))
an_indicator = st.fixed_dictionaries(
    {
        "producer": st.sampled_from(PRODUCERS),
        "collection": st.sampled_from(sorted(READERS)),
        "tlp": a_level,
        "recipients": st.lists(st.sampled_from(sorted(ORGS)), max_size=2, unique=True),
        "value": st.sampled_from(VALUES),
    }
)
a_sighting = st.fixed_dictionaries(
    {
        "producer": st.sampled_from(PRODUCERS),
        "target": st.integers(min_value=0, max_value=20),
        "tlp": a_level,
        "recipients": st.lists(st.sampled_from(sorted(ORGS)), max_size=2, unique=True),
        "count": st.integers(min_value=1, max_value=5),
        "days_ago": st.integers(min_value=0, max_value=40),
    }
)


@dataclass
class Held:
    obj: dict[str, Any]
    producer: str
    collection: str
    tlp: TLP
    recipients: tuple[str, ...]


def _readable(h: Held, org: Any, orgs: dict[str, Any], grants: dict[tuple[str, str], Any]) -> bool:
    named = {orgs[r].id for r in h.recipients}
    return policy.may_read(org, grants.get((org.name, h.collection)), h.tlp, orgs[h.producer].id, named)


#: Examples per backend: PostgreSQL's round trips and a new schema per example cost about five times
#: SQLite's (measured with ``--durations``), so it runs fewer.
EXAMPLES = {"sqlite": 200, "postgres": 60}


@pytest.mark.parametrize("backend", BACKENDS)
def test_ui_read_paths_show_exactly_what_the_rule_allows(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    new_dsn = request.getfixturevalue("new_pg_dsn") if backend == "postgres" else None

    @settings(max_examples=EXAMPLES[backend], deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        indicators=st.lists(an_indicator, min_size=1, max_size=8),
        sightings=st.lists(a_sighting, max_size=6),
        readers=st.lists(st.sampled_from(sorted(ORGS)), min_size=1, max_size=3, unique=True),
        probe=st.integers(min_value=0, max_value=100),
    )
    def run(
        indicators: list[dict[str, Any]], sightings: list[dict[str, Any]], readers: list[str], probe: int
    ) -> None:
        dsn = None if new_dsn is None else new_dsn()
        _read_paths_match(tmp_path, dsn, indicators, sightings, readers, probe)

    run()


def _read_paths_match(
    tmp_path: Path,
    dsn: str | None,
    indicators: list[dict[str, Any]],
    sightings: list[dict[str, Any]],
    readers: list[str],
    probe: int,
) -> None:
    clock = FrozenClock(NOW)
    store = new_store(tmp_path, dsn, clock, name=str(uuid.uuid4()), durable=False)
    try:
        orgs, tokens = {}, {}
        for name, ceiling in ORGS.items():
            orgs[name] = store.add_org(name, ceiling=ceiling)
            tokens[name] = new_token()
            store.add_token(name, hash_token(tokens[name]))
        cols = {
            a: store.add_collection(a, alias=a, readers=list(r), writers=list(PRODUCERS))
            for a, r in READERS.items()
        }
        grants = {(o, a): store.grant(c, orgs[o]) for a, c in cols.items() for o in ORGS}
        held: list[Held] = []

        def post(spec: dict[str, Any], obj: dict[str, Any], alias: str) -> None:
            if spec["tlp"] is not None:
                obj["object_marking_refs"] = [TLP2_IDS[spec["tlp"]]]
            if spec["recipients"]:
                obj["x_kizuna_recipients"] = spec["recipients"]
            result = intake.accept(
                store, cols[alias], intake.Sender.local(orgs[spec["producer"]]), [obj], clock=clock
            )
            assert not result.refused, result.refused
            level = cols[alias].default_tlp if spec["tlp"] is None else spec["tlp"]
            held.append(Held(obj, spec["producer"], alias, level, tuple(spec["recipients"])))

        stamp = format_timestamp(NOW - timedelta(days=60))
        for n, spec in enumerate(indicators):
            obj = {
                "type": "indicator",
                "spec_version": "2.1",
                "id": f"indicator--{uuid.uuid4()}",
                "created": stamp,
                "modified": stamp,
                "name": f"report {n}",
                "pattern": f"[ipv4-addr:value = '{spec['value']}']",
                "pattern_type": "stix",
                "valid_from": stamp,
            }
            post(spec, obj, spec["collection"])
        targets = list(held)
        for spec in sightings:
            target = targets[spec["target"] % len(targets)]
            seen = format_timestamp(NOW - timedelta(days=spec["days_ago"], hours=1))
            obj = {
                "type": "sighting",
                "spec_version": "2.1",
                "id": f"sighting--{uuid.uuid4()}",
                "created": seen,
                "modified": seen,
                "sighting_of_ref": target.obj["id"],
                "count": spec["count"],
                "first_seen": seen,
                "last_seen": seen,
            }
            post(spec, obj, target.collection)  # beside its indicator: nothing is routed
        app = create_app(HubSettings(), store, clock=clock)
        for name in readers:
            org = orgs[name]
            readable = [h for h in held if _readable(h, org, orgs, grants)]
            with TestClient(app, base_url=ORIGIN, follow_redirects=False) as ui:
                assert ui.post("/ui/login", data={"token": tokens[name]}).status_code == 303
                # search by one observable value: the readable indicators comparing it
                value = VALUES[probe % len(VALUES)]
                r = ui.get("/ui/search", params={"q": value, "size": "500"})
                expected = {h.obj["id"] for h in readable if value in h.obj.get("pattern", "")}
                assert set(re.findall(r'<tr data-stix-id="([^"]+)"', r.text)) == expected, name
                # the sightings dashboard: counts of readable sightings within 30 days only
                r = ui.get("/ui/sightings/", params={"window": "30", "size": "500"})
                counts: dict[str, int] = {}
                for h in readable:
                    if h.obj["type"] == "sighting" and h.obj["last_seen"] >= format_timestamp(
                        NOW - timedelta(days=30)
                    ):
                        counts[h.obj["sighting_of_ref"]] = (
                            counts.get(h.obj["sighting_of_ref"], 0) + h.obj["count"]
                        )
                shown = {
                    ref: int(nums[1])
                    for ref, row in re.findall(r'<tr data-stix-id="([^"]+)">(.*?)</tr>', r.text, re.S)
                    for nums in [re.findall(r'<td class="num">(\d+)</td>', row)]
                }
                assert shown == counts, name
                # disagreements: values compared by readable indicators of both producers
                r = ui.get("/ui/disagreements/", params={"size": "500"})
                groups = set(re.findall(r'data-same-key="([^"]+)"', r.text))
                by_value: dict[str, set[str]] = {}
                for h in readable:
                    if h.obj["type"] == "indicator":
                        by_value.setdefault(h.obj["pattern"].split("'")[1], set()).add(h.producer)
                assert groups == {f"value:{v}" for v, who in by_value.items() if len(who) > 1}, name
                for key in groups:
                    assert ui.get(f"/ui/disagreements/{encode_key(key)}").status_code == 200
                # one object page: 200 exactly when readable, else the 404 of a missing id
                h = held[probe % len(held)]
                r = ui.get(f"/ui/objects/{h.obj['id']}/")
                assert r.status_code == (200 if h in readable else 404), name
    finally:
        store.close()
