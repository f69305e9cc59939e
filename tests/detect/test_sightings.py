"""Sightings: deterministic SCO ids (checked against the OASIS stix2 library), valid STIX, TLP kept."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from itertools import count

import stix2

from kizuna.detect.indicators import select_indicators
from kizuna.detect.matcher import Event, Hit
from kizuna.detect.sightings import build_sightings, identity_for, sco_id, stix_objects_of
from kizuna.stix.markings import TLP, TLP2_IDS
from kizuna.stix.validate import validate_object

from .conftest import indicator

T0 = datetime(2026, 2, 1, 10, 0, tzinfo=UTC)


def test_sco_ids_match_the_stix2_library() -> None:
    cases = [
        ({"type": "ipv4-addr", "value": "185.225.17.44"}, stix2.v21.IPv4Address(value="185.225.17.44")),
        ({"type": "ipv6-addr", "value": "2a0b:4e07:3::9"}, stix2.v21.IPv6Address(value="2a0b:4e07:3::9")),
        ({"type": "domain-name", "value": "grid-telemetry.example"},
         stix2.v21.DomainName(value="grid-telemetry.example")),
        ({"type": "url", "value": "http://grid-telemetry.example/p"},
         stix2.v21.URL(value="http://grid-telemetry.example/p")),
        ({"type": "file", "hashes": {"SHA-256": "ca978112" * 8}, "name": "stage2.bin"},
         stix2.v21.File(hashes={"SHA-256": "ca978112" * 8}, name="stage2.bin")),
        ({"type": "file", "name": "ünï.doc"}, stix2.v21.File(name="ünï.doc")),
    ]  # fmt: skip
    for obj, oracle in cases:
        assert sco_id(obj) == oracle.id, obj


def test_stix_objects_rewrite_references() -> None:
    event = Event(
        "x.log",
        1,
        T0,
        {
            "0": {"type": "network-traffic", "src_ref": "1", "dst_ref": "2", "dst_port": 502},
            "1": {"type": "ipv4-addr", "value": "10.0.0.5"},
            "2": {"type": "ipv6-addr", "value": "2a0b:4e07:3::9"},
        },
    )
    scos = stix_objects_of(event, [TLP2_IDS[TLP.AMBER]])
    by_type = {s["type"]: s for s in scos}
    nt = by_type["network-traffic"]
    assert nt["src_ref"] == by_type["ipv4-addr"]["id"] and nt["dst_ref"] == by_type["ipv6-addr"]["id"]
    assert nt["protocols"] == ["ipv6"]  # required by STIX; filled from the address family
    oracle = stix2.v21.NetworkTraffic(
        src_ref=nt["src_ref"], dst_ref=nt["dst_ref"], dst_port=502, protocols=["ipv6"]
    )
    assert nt["id"] == oracle.id
    for s in scos:
        validate_object(s)
        assert s["object_marking_refs"] == [TLP2_IDS[TLP.AMBER]]


def test_one_sighting_per_indicator_with_counts_and_markings() -> None:
    objs = [
        indicator("[ipv4-addr:value = '185.225.17.44']", "c2", n=1, tlp=TLP.RED),
        indicator("[domain-name:value = 'grid-telemetry.example']", "dom", n=2, tlp=None),
    ]
    sel = select_indicators(objs, now=T0, warninglists=None)
    inds = {i.id: i for i in sel.active}
    c2, dom = objs[0]["id"], objs[1]["id"]
    events = [
        Event(
            "a.log",
            i + 1,
            T0 + timedelta(seconds=10 * i),
            {"0": {"type": "ipv4-addr", "value": "185.225.17.44"}},
        )
        for i in range(3)
    ]
    dom_event = Event("b.log", 7, T0, {"0": {"type": "domain-name", "value": "grid-telemetry.example"}})
    hits = [Hit(c2, [e]) for e in events] + [Hit(dom, [dom_event])]
    ids = count(1)
    identity = identity_for("Grid Operator Ltd")
    out = build_sightings(
        hits,
        inds,
        identity,
        clock=lambda: T0 + timedelta(hours=1),
        id_factory=lambda: uuid.UUID(int=next(ids), version=4),
    )
    sightings = {o["sighting_of_ref"]: o for o in out if o["type"] == "sighting"}
    assert set(sightings) == {c2, dom}
    s = sightings[c2]
    assert s["count"] == 3
    assert (s["first_seen"], s["last_seen"]) == ("2026-02-01T10:00:00.000Z", "2026-02-01T10:00:20.000Z")
    assert s["where_sighted_refs"] == [identity["id"]] and s["created_by_ref"] == identity["id"]
    assert s["object_marking_refs"] == [TLP2_IDS[TLP.RED]]
    assert "object_marking_refs" not in sightings[dom]  # the indicator was unmarked
    assert s["created"] == "2026-02-01T11:00:00.000Z"
    by_id = {o["id"]: o for o in out}
    od = by_id[s["observed_data_refs"][0]]
    assert od["number_observed"] == 3 and od["object_marking_refs"] == [TLP2_IDS[TLP.RED]]
    assert [by_id[r]["value"] for r in od["object_refs"]] == ["185.225.17.44"]
    validate_object(identity)
    for obj in out:
        validate_object(obj)
    assert identity_for("Grid Operator Ltd")["id"] == identity["id"] != identity_for("Other")["id"]
