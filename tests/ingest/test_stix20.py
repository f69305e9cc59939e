"""STIX 2.0 to 2.1 (issue 15, item 5): bundles of every 2.0 object type, generated with ``stix2.v20``,
upgrade to 2.1 objects that pass ``stix2-validator`` in 2.1 mode and match the OASIS ``stix_stepper``
(stix2-elevator 4.1.7) on ids, types, markings, relationships and the moved properties."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest
import stix2.v20 as v20
from stix2elevator.stix_stepper import step_bundle
from stix2validator import ValidationOptions, validate_instance

from kizuna.hub.models import Query
from kizuna.ingest.stix20 import unit_of
from kizuna.stix.markings import TLP
from tests.ingest.conftest import LocalHub, kizuna

T0 = "2026-01-05T10:00:00.000Z"


def bundle20() -> dict[str, Any]:
    ident = v20.Identity(name="Example CERT", identity_class="organization", created=T0, modified=T0)
    common = {"created_by_ref": ident.id, "created": T0, "modified": T0}
    amber = {"object_marking_refs": [v20.TLP_AMBER.id]}
    statement = v20.MarkingDefinition(
        definition_type="statement", definition={"statement": "(c) Example CERT"}
    )
    ap = v20.AttackPattern(name="Spearphishing", **common, **amber)
    campaign = v20.Campaign(name="Operation X", **common)
    coa = v20.CourseOfAction(name="Block the sender", **common)
    indicator = v20.Indicator(
        labels=["malicious-activity"],
        pattern="[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']",
        valid_from=T0,
        object_marking_refs=[v20.TLP_RED.id, statement.id],
        **common,
    )
    iset = v20.IntrusionSet(name="APT0", **common)
    malware = v20.Malware(labels=["trojan"], name="Emotet", **common, **amber)
    actor = v20.ThreatActor(labels=["nation-state"], name="Actor", **common)
    tool = v20.Tool(labels=["remote-access"], name="Cobalt Strike", **common)
    vuln = v20.Vulnerability(name="CVE-2021-44228", **common)
    observed = v20.ObservedData(
        first_observed=T0,
        last_observed=T0,
        number_observed=1,
        objects={
            "0": {"type": "ipv4-addr", "value": "198.51.100.3"},
            "1": {"type": "ipv4-addr", "value": "203.0.113.4"},
            "2": {
                "type": "network-traffic",
                "src_ref": "0",
                "dst_ref": "1",
                "dst_port": 443,
                "protocols": ["tcp"],
            },
            "3": {"type": "file", "name": "a.exe", "hashes": {"SHA-256": "a" * 64}},
            "4": {"type": "domain-name", "value": "evil.example.com"},
            "5": {"type": "url", "value": "https://evil.example.com/x"},
        },
        **common,
    )
    rel = v20.Relationship(
        source_ref=indicator.id, relationship_type="indicates", target_ref=malware.id, **common
    )
    sighting = v20.Sighting(sighting_of_ref=indicator.id, **common)
    report = v20.Report(
        labels=["threat-report"],
        name="Report",
        published=T0,
        object_refs=[indicator.id, malware.id, rel.id],
        **common,
        **amber,
    )
    objs = [
        ident,
        statement,
        ap,
        campaign,
        coa,
        indicator,
        iset,
        malware,
        actor,
        tool,
        vuln,
        observed,
        rel,
        sighting,
        report,
    ]
    bundle = v20.Bundle(objects=objs)
    return dict(orjson.loads(bundle.serialize()))


@pytest.fixture(scope="module")
def upgraded() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    b = bundle20()
    assert b["spec_version"] == "2.0"
    unit = unit_of(copy.deepcopy(b), "b.json")
    assert not unit.problems
    stepped = step_bundle(copy.deepcopy(b))["objects"]
    return [r.obj for r in unit.records], stepped


def test_every_upgraded_object_passes_stix2_validator(
    upgraded: tuple[list[dict[str, Any]], list[Any]],
) -> None:
    ours, _ = upgraded
    options = ValidationOptions(version="2.1", strict=False)
    for obj in ours:
        result = validate_instance(obj, options)
        assert result.is_valid, (obj["id"], [str(e) for e in result.errors])


def test_the_upgrade_matches_stix_stepper(
    upgraded: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    ours, stepped = upgraded
    mine = {o["id"]: o for o in ours}
    theirs = {o["id"]: o for o in stepped}
    # SCO ids: both use the spec's UUIDv5 of the id-contributing properties; the stepper computes them before
    # resolving the 2.0 local references ("0", "1"), so a network-traffic's id differs by design
    with_refs = {i for i, o in theirs.items() if o["type"] == "network-traffic"}
    assert (
        set(mine) - {i for i, o in mine.items() if o["type"] == "network-traffic"} == set(theirs) - with_refs
    )
    assert {o["type"] for o in ours} == {o["type"] for o in stepped}
    for oid, t in theirs.items():
        if oid in with_refs:
            continue
        o = mine[oid]
        assert o["spec_version"] == "2.1" and o["type"] == t["type"]
        assert o.get("object_marking_refs") == t.get("object_marking_refs")  # TLP 1.0 kept as received
        for prop in ("source_ref", "target_ref", "sighting_of_ref", "relationship_type", "created_by_ref"):
            assert o.get(prop) == t.get(prop)
        for prop in ("indicator_types", "malware_types", "tool_types", "threat_actor_types", "report_types"):
            assert o.get(prop) == t.get(prop), (oid, prop)
        assert "labels" not in o or o["type"] not in (
            "indicator",
            "malware",
            "tool",
            "threat-actor",
            "report",
        )
        if o["type"] == "indicator":
            assert o["pattern_type"] == t["pattern_type"] == "stix"
        if o["type"] == "observed-data":
            refs_ours = sorted(mine[r]["type"] for r in o["object_refs"])
            assert refs_ours == sorted(theirs[r]["type"] for r in t["object_refs"])
    # where kizuna differs on purpose: malware from 2.0 is a family unless the source says otherwise
    # (mitre/cti#157); the stepper assumes it is not
    malware = next(o for o in ours if o["type"] == "malware")
    assert malware["is_family"] is True


def test_a_21_bundle_with_a_spec_version_is_taken_as_21_with_a_warning() -> None:
    obj = {
        "type": "identity",
        "spec_version": "2.1",
        "id": "identity--311b2d2d-f010-4473-83ec-1edf84858f4c",
        "created": T0,
        "modified": T0,
        "name": "x",
    }
    unit = unit_of({"type": "bundle", "id": "bundle--1", "spec_version": "2.1", "objects": [obj]}, "b.json")
    assert [r.obj for r in unit.records] == [obj]
    assert [w.reason for w in unit.warnings] == [
        "a 2.1 bundle with a 'spec_version' property (a 2.0 trait): taken as 2.1"
    ]


def test_a_20_bundle_ingests_through_the_cli(
    tmp_path: Path, local_hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "b20.json"
    path.write_bytes(orjson.dumps(bundle20()))
    args = ["ingest", "stix", path, "--db", local_hub.db, "--collection", "shared", "--org", "uk"]
    r = kizuna(capsys, *args)
    assert r.rc == 0, r.err
    # 15 objects, and the observed-data's 6 observables as top-level SCOs
    assert r.err.strip().endswith("read 21, stored new 21, new versions 0, duplicates 0, rejected 0")
    with local_hub.store() as store:
        c = store.get_collection("shared")
        assert c is not None
        rows = {row.id: row for row in store.query(c, store.get_org("uk"), Query(limit=100)).rows}
    red = [row for row in rows.values() if row.type == "indicator"]
    assert [row.tlp for row in red] == [TLP.RED]  # TLP 1.0 RED ranked by the hub's marking table
    # an envelope of the same objects, as a TAXII server serves them: all duplicates
    envelope = tmp_path / "envelope.json"
    envelope.write_bytes(orjson.dumps({"objects": [orjson.loads(row.raw) for row in rows.values()]}))
    again = kizuna(capsys, "ingest", "stix", envelope, *args[3:])
    assert again.rc == 0 and again.err.strip().endswith("duplicates 21, rejected 0")
