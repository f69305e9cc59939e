"""Publishing conjunctions to a real hub (the ``kizuna_hub`` fixture) and reading them as a partner."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from itertools import count
from pathlib import Path

import pytest
from ccsds_ndm.ndm_io import NdmIo

from kizuna.cli import main
from kizuna.errors import RemoteError
from kizuna.hub.client import HubClient
from kizuna.space.assessment import assess_event, event_to_cdm
from kizuna.space.catalog import CatalogObject
from kizuna.space.cdm import parse_cdm, write_kvn
from kizuna.space.publish import (
    CONJUNCTION_EXTENSION_ID,
    CONJUNCTION_TYPE,
    conjunction_object,
    conjunctions_in,
    extension_definition,
    publish_events,
)
from kizuna.space.screening import screen
from kizuna.stix.markings import TLP, TLP2_IDS, tlp_of
from kizuna.stix.validate import validate_object

from .conftest import DATA

CLOCK = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _ids() -> uuid.UUID:
    """Deterministic RFC 4122 ids for the tests."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"kizuna-test-{next(_counter)}")


_counter = count(1)


def _conjunction(iridium_cosmos: list[CatalogObject], level: TLP) -> dict[str, object]:
    start = datetime(2009, 2, 10, tzinfo=UTC)
    (event,) = screen(iridium_cosmos, start, 86400.0, workers=1).events
    event = assess_event(event)
    text = write_kvn(event_to_cdm(event, originator="KIZUNA", message_id=event.key, created=CLOCK))
    return conjunction_object(
        event, text, cdm_format="kvn", level=level, clock=lambda: CLOCK, uuid_factory=_ids
    )


def test_objects_are_valid_stix_of_the_extension(iridium_cosmos: list[CatalogObject]) -> None:
    obj = _conjunction(iridium_cosmos, TLP.AMBER)
    assert obj["extensions"] == {CONJUNCTION_EXTENSION_ID: {"extension_type": "new-sdo"}}
    validated = validate_object(obj)
    assert validated.tlp is TLP.AMBER
    assert validate_object(extension_definition()).type == "extension-definition"
    assert extension_definition()["extension_types"] == ["new-sdo"]
    assert obj["created"] == "2026-03-01T12:00:00.000Z"


def test_publish_end_to_end_through_a_hub(
    kizuna_hub: object,
    iridium_cosmos: list[CatalogObject],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    hub = kizuna_hub
    amber = _conjunction(iridium_cosmos, TLP.AMBER)
    red = _conjunction(iridium_cosmos, TLP.RED)
    with HubClient(hub.api_root_url, hub.token) as producer:  # type: ignore[attr-defined]
        statuses = publish_events(producer, hub.collection_id, [amber, red])  # type: ignore[attr-defined]
    assert all(s["status"] == "complete" and s.get("failure_count", 0) == 0 for s in statuses)

    with HubClient(hub.api_root_url, hub.reader_token) as partner:  # type: ignore[attr-defined]
        received = list(partner.iter_objects(hub.collection_id))  # type: ignore[attr-defined]
    got = conjunctions_in(received)
    # the partner reads the AMBER event, never the RED one (only the producer and named recipients may)
    assert [o["id"] for o in got] == [amber["id"]]
    assert tlp_of(got[0]) is TLP.AMBER and got[0]["object_marking_refs"] == [TLP2_IDS[TLP.AMBER]]
    assert any(o["id"] == CONJUNCTION_EXTENSION_ID for o in received)
    # the CDM arrives intact and still parses, with kizuna and with ccsds-ndm
    assert got[0]["cdm"] == amber["cdm"]
    cdm = parse_cdm(str(got[0]["cdm"]))
    assert cdm.miss_distance_m == pytest.approx(698.01, abs=0.01)
    assert NdmIo().from_string(str(got[0]["cdm"])).header.message_id == cdm.message_id
    assert got[0]["type"] == CONJUNCTION_TYPE

    # a wrong token is refused with one clear error (same hub: starting one is the slow part)
    with HubClient(hub.api_root_url, "not-a-token") as stranger, pytest.raises(RemoteError):  # type: ignore[attr-defined]
        publish_events(stranger, hub.collection_id, [_conjunction(iridium_cosmos, TLP.GREEN)])  # type: ignore[attr-defined]

    # and the command line publishes the same way
    token = tmp_path / "token"
    token.write_text(hub.token + "\n")  # type: ignore[attr-defined]
    token.chmod(0o600)
    code = main([
        "space", "screen", str(DATA / "iridium33_cosmos2251.tle"), "--start", "2009-02-10", "--days", "1",
        "--out", str(tmp_path / "e.csv"), "--workers", "1", "--publish", hub.api_root_url,  # type: ignore[attr-defined]
        "--token-file", str(token), "--collection", hub.collection_id, "--tlp", "green",  # type: ignore[attr-defined]
    ])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert "published 1 conjunctions" in capsys.readouterr().err
    with HubClient(hub.api_root_url, hub.reader_token) as partner:  # type: ignore[attr-defined]
        greens = [
            o for o in conjunctions_in(partner.iter_objects(hub.collection_id)) if tlp_of(o) is TLP.GREEN
        ]  # type: ignore[attr-defined]
    assert len(greens) == 1 and greens[0]["cdm_format"] == "kvn"
