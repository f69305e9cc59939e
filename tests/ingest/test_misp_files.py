"""PyMISP's test events ingest into a local hub with the counts read from each file (not from a run)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import pytest

from kizuna.hub.models import Query
from kizuna.stix.markings import TLP, TLP2_IDS
from tests.ingest.conftest import DATA, LocalHub, kizuna

# PyMISP's small files are hand-written test events without a uuid: kizuna refuses each (it could not
# recognise the event when it came again), one record read and rejected, nothing stored.
NO_UUID = [
    "attribute.json",
    "def_param.json",
    "event.json",
    "event_obj_attr_tag.json",
    "event_obj_tag.json",
    "event_tags.json",
    "proposals.json",
]


@pytest.mark.parametrize("name", NO_UUID)
def test_an_event_without_uuid_is_refused_whole(
    name: str, local_hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    before = local_hub.counts()
    r = kizuna(
        capsys,
        "ingest",
        "misp",
        DATA / "misp" / name,
        "--db",
        local_hub.db,
        "--collection",
        "shared",
        "--org",
        "uk",
    )
    assert r.rc == 3
    assert "/uuid: the event has no uuid" in r.err
    assert r.err.strip().endswith("read 1, stored new 0, new versions 0, duplicates 0, rejected 1")
    assert local_hub.counts() == before


def test_existing_event_stores_every_record(local_hub: LocalHub, capsys: pytest.CaptureFixture[str]) -> None:
    # existing_event.json (a bare event: CIRCL OSINT, distribution 3, tag tlp:white, unpublished):
    # 9 attributes: 7 domain with to_ids -> 7 indicators; 1 link without -> observed-data + url;
    #   1 text -> note;
    # 49 objects (37 file, 12 domain-ip), each with a to_ids attribute -> 49 indicators;
    # 20 ObjectReferences -> 20 relationships;
    # 4 galaxies, 14 clusters: threat-actor Sofacy, 2 exploit-kit and 4 tool -> 6 tools, 7 mitre-malware ->
    #   7 malware; Sofacy "uses" each of the other 13 -> 13 relationships;
    # the grouping, the Orgc identity, kizuna's identity and the MISP extension-definition.
    expected = Counter(
        {
            "indicator": 7 + 49,
            "observed-data": 1,
            "url": 1,
            "note": 1,
            "relationship": 20 + 13,
            "threat-actor": 1,
            "tool": 6,
            "malware": 7,
            "grouping": 1,
            "identity": 2,
            "extension-definition": 1,
        }
    )
    path = DATA / "misp" / "existing_event.json"
    r = kizuna(capsys, "ingest", "misp", path, "--db", local_hub.db, "--collection", "shared", "--org", "uk")
    assert r.rc == 0, r.err
    n = sum(expected.values())
    assert r.err.strip().endswith(f"read {n}, stored new {n}, new versions 0, duplicates 0, rejected 0")
    with local_hub.store() as store:
        c = store.get_collection("shared")
        assert c is not None
        rows = store.query(c, store.get_org("uk"), Query(limit=1000)).rows
        assert Counter(r.type for r in rows) == expected
        clear = [r for r in rows if r.type == "indicator"]
        assert all(r.tlp == TLP.CLEAR and r.marked for r in clear)  # tlp:white -> TLP 2.0 CLEAR
        link = next(r for r in rows if r.id == "observed-data--5a3c2fda-78f4-44b7-8366-46da02de0b81")
        assert orjson.loads(link.raw)["object_marking_refs"] == [TLP2_IDS[TLP.CLEAR]]
        prov = store.provenance(c, "observed-data--5a3c2fda-78f4-44b7-8366-46da02de0b81")
        assert [(p.format, p.locator, p.event_uuid, p.org) for p in prov] == [
            ("misp", "/Attribute/0", "5a3c2fcd-8328-42bb-a95e-4f4402de0b81", "uk")
        ]
        assert prov[0].source.endswith("existing_event.json") and prov[0].converter.startswith("kizuna ")
        records = list(store.audit_records())
        unit = [r for r in records if r.action == "objects.add"]
        run = [orjson.loads(r.detail) for r in records if r.action == "ingest.run"]
        assert len(unit) == 1 and '"ingest"' in unit[0].detail  # one audit record for the one unit
        assert run == [
            {
                "command": "misp",
                "read": n,
                "stored_new": n,
                "new_versions": 0,
                "duplicates": 0,
                "rejected": 0,
                "units_stored": 1,
                "units_refused": 0,
            }
        ]
        assert unit[0].actor == "org:uk" and records[-1].actor == "org:uk"
    # the same file again: every object a duplicate
    r = kizuna(capsys, "ingest", "misp", path, "--db", local_hub.db, "--collection", "shared", "--org", "uk")
    assert r.rc == 0 and r.err.strip().endswith(
        f"read {n}, stored new 0, new versions 0, duplicates {n}, rejected 0"
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # response wrapper, bare event, distribution 0; one file object (malware-sample, filename, md5, sha1,
        # sha256, size-in-bytes; to_ids on the hashes) -> one indicator; the grouping; Orgc and kizuna
        # identities; the extension-definition
        ("malware_exist.json", {"indicator": 1, "grouping": 1, "identity": 2, "extension-definition": 1}),
        # one attribute (filename, no to_ids) -> observed-data + file; one file object (to_ids) -> indicator;
        # two proposals skipped; grouping, identities, extension-definition
        (
            "shadow.json",
            {
                "observed-data": 1,
                "file": 1,
                "indicator": 1,
                "grouping": 1,
                "identity": 2,
                "extension-definition": 1,
            },
        ),
    ],
)
def test_events_for_the_organisation_only(
    name: str, expected: dict[str, int], local_hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    path = DATA / "misp" / name
    args = ["ingest", "misp", path, "--db", local_hub.db, "--org", "uk", "--collection"]
    before = local_hub.counts()
    refused = kizuna(capsys, *args, "shared")
    assert (
        refused.rc == 3 and "your organisation only" in refused.err and "--accept-distribution" in refused.err
    )
    assert local_hub.counts() == before
    n = sum(expected.values())
    for collection, extra in (("private", []), ("shared", ["--accept-distribution"])):
        r = kizuna(capsys, *args, collection, *extra)
        assert r.rc == 0, r.err
        assert r.err.strip().endswith(f"read {n}, stored new {n}, new versions 0, duplicates 0, rejected 0")
        with local_hub.store() as store:
            c = store.get_collection(collection)
            assert c is not None
            rows = store.query(c, store.get_org("uk"), Query(limit=100)).rows
        assert Counter(r.type for r in rows) == expected
        # "your organisation only" reads as AMBER+STRICT: it never leaves the hub
        assert {r.tlp for r in rows if r.type in ("indicator", "observed-data")} == {TLP.AMBER_STRICT}


def test_a_run_gives_the_garbage_collectors_thresholds_back(
    local_hub: LocalHub, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ingest run collects garbage rarely (RUN_GC_THRESHOLDS); the caller gets its thresholds back."""
    import gc

    from kizuna.ingest import cli

    seen: list[tuple[int, int, int]] = []
    read_json = cli.read_json

    def spy(path: Path) -> object:
        seen.append(gc.get_threshold())
        return read_json(path)

    monkeypatch.setattr(cli, "read_json", spy)
    before = gc.get_threshold()
    event = DATA / "misp" / "existing_event.json"
    r = kizuna(
        capsys, "ingest", "misp", event, "--db", local_hub.db, "--collection", "private", "--org", "uk"
    )
    assert r.rc == 0, r.err
    assert seen == [cli.RUN_GC_THRESHOLDS]
    assert gc.get_threshold() == before
