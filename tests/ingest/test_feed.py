"""MISP feeds (issue 15, item 6): incremental and resumable, over HTTP from 127.0.0.1 and from a directory;
a missing or oversized event, or one whose uuid differs from its manifest key, is reported and the others
go on; an unreadable manifest is one clear error."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from kizuna.hub.models import Query, VersionFilter
from tests.ingest.conftest import LocalHub, kizuna
from tests.ingest.feeds import feed_event, serve, write_feed


def _args(hub: LocalHub, *extra: str) -> list[str | Path]:
    return ["--db", hub.db, "--collection", "shared", "--org", "uk", *extra]


def test_a_feed_over_http_is_pulled_incrementally(
    tmp_path: Path, local_hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_feed(tmp_path / "feed", [feed_event(n) for n in range(4)])
    with serve(root) as url:
        first = kizuna(capsys, "ingest", "misp-feed", url, *_args(local_hub))
        assert first.rc == 0, first.err
        assert "events: 4 new, 0 updated, 0 unchanged, 0 refused" in first.err
        # each event: its report, 5 attributes (to_ids on 0, 1 and 4: 3 indicators; 2 and 3: observed-data
        # and an SCO each), the Orgc identity, kizuna's identity and the extension-definition: 11 objects; the
        # last three are stored with the first event and are duplicates after
        assert first.err.strip().endswith("read 44, stored new 35, new versions 0, duplicates 9, rejected 0")
        again = kizuna(capsys, "ingest", "misp-feed", url, *_args(local_hub))
        assert "events: 0 new, 0 updated, 4 unchanged, 0 refused" in again.err
        assert again.err.strip().endswith("read 0, stored new 0, new versions 0, duplicates 0, rejected 0")
        # event 2 edited (attribute 0 changed, its timestamp and the event's moved on)
        write_feed(root, [feed_event(n, edit=7 if n == 2 else 0) for n in range(4)])
        edited = kizuna(capsys, "ingest", "misp-feed", url, *_args(local_hub))
        assert "events: 0 new, 1 updated, 3 unchanged, 0 refused" in edited.err
        # new versions of the changed records only: the attribute and the report that lists it
        assert "new versions 2," in edited.err and "stored new 0," in edited.err
    with local_hub.store() as store:
        c = store.get_collection("shared")
        assert c is not None
        versions = store.query(
            c,
            store.get_org("uk"),
            Query(
                ids=(f"indicator--{feed_event(2)['Attribute'][0]['uuid']}",),
                versions=VersionFilter(all=True, last=False),
            ),
        )
        values = [orjson.loads(r.raw)["pattern"] for r in versions.rows]
        assert values == ["[ipv4-addr:value = '198.51.2.1']", "[ipv4-addr:value = '203.0.113.7']"]
        assert len(store.ingested_units(url)) == 4


def test_since_and_tag_filter_on_the_manifest(
    tmp_path: Path, local_hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    events = [feed_event(0, ts=1700000000), feed_event(1)]
    events[1]["Tag"].append({"name": "sector:energy"})
    root = write_feed(tmp_path / "feed", events)
    r = kizuna(capsys, "ingest", "misp-feed", root, *_args(local_hub, "--since", "2026-01-01"))
    assert "events: 1 new, 0 updated, 0 unchanged, 0 refused" in r.err
    r = kizuna(
        capsys, "ingest", "misp-feed", root, *_args(local_hub, "--tag", "SECTOR:energy", "--tag", "nope")
    )
    assert "events: 0 new, 0 updated, 1 unchanged, 0 refused" in r.err


def test_bad_feed_events_are_reported_and_the_others_go_on(
    tmp_path: Path, local_hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    events = [feed_event(n, attributes=2) for n in range(4)]
    root = write_feed(tmp_path / "feed", events)
    (root / f"{events[0]['uuid']}.json").unlink()  # listed in the manifest, missing from the feed
    wrong = dict(events[1], uuid="11111111-2222-4333-8444-555555555555")
    (root / f"{events[1]['uuid']}.json").write_bytes(orjson.dumps({"Event": wrong}))  # uuid != manifest key
    big = dict(events[2], Attribute=events[2]["Attribute"] * 1, info="x" * 20000)
    (root / f"{events[2]['uuid']}.json").write_bytes(orjson.dumps({"Event": big}))  # over --max-event-mb
    report = tmp_path / "r.json"
    with serve(root) as url:
        r = kizuna(
            capsys,
            "ingest",
            "misp-feed",
            url,
            *_args(local_hub, "--max-event-mb", "0.01", "--report", str(report)),
        )
    assert r.rc == 3
    assert "events: 1 new, 0 updated, 0 unchanged, 3 refused" in r.err
    reasons = {p["locator"]: p["reason"] for p in orjson.loads(report.read_bytes())["problems"]}
    assert reasons[f"{events[0]['uuid']}.json"].endswith(
        "is listed in the manifest but missing from the feed"
    )
    assert "differs from its manifest key" in reasons[f"{events[1]['uuid']}.json"]
    assert "over the limit of 10,485" in reasons[f"{events[2]['uuid']}.json"]
    assert len(local_hub.counts()) and local_hub.counts()["ingest_units"] == 1


def test_an_unreadable_manifest_is_one_clear_error(
    tmp_path: Path, local_hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    with serve(tmp_path / "empty") as url:
        r = kizuna(capsys, "ingest", "misp-feed", url, *_args(local_hub))
    assert (
        r.rc == 2
        and r.err.strip() == f"kizuna: error: {url}manifest.json: the feed has no manifest.json (status 404)"
    )


def test_hashes_csv_is_a_cross_check(
    tmp_path: Path, local_hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_feed(tmp_path / "feed", [feed_event(0, attributes=2)])
    (root / "hashes.csv").write_text("0" * 32 + ",x\n")
    report = tmp_path / "r.json"
    r = kizuna(capsys, "ingest", "misp-feed", root, *_args(local_hub, "--report", str(report)))
    assert r.rc == 0
    warnings = [w["reason"] for w in orjson.loads(report.read_bytes())["warnings"]]
    assert "value '198.51.0.1' is not in the feed's hashes.csv" in warnings
