"""The change stream (``collections/{id}/stream/``) and its client.

* the event-stream parser agrees with httpx-sse (a parser written by others) on random streams cut into
  random chunks, and follows the WHATWG rules httpx-sse does not;
* on a real ``kizuna hub serve`` process, a reader that drops and resumes with ``Last-Event-ID`` at random
  moments while several writers post misses nothing and sees nothing twice, in ``objects/`` order;
* heartbeats, the per-organisation limit (429), errors before the stream starts, a revoked token, and a
  peer hub's account (claims beside each object, every page audited), on the app served in a thread.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kizuna.hub.app import create_app
from kizuna.hub.auth import hash_token, new_token
from kizuna.hub.client import HubClient
from kizuna.hub.settings import HubSettings
from kizuna.hub.store.sqlite import SQLiteStore
from kizuna.hub.stream_client import Comment, EventParser, ObjectStream, ServerSentEvent
from kizuna.hub.taxii.errors import TAXII_MEDIA_TYPE
from kizuna.stix.markings import TLP, TLP2_IDS

from ..conftest import RunningHub, running_hub
from .conftest import BACKENDS, indicator
from .streaming import ThreadedServer, caught_up, open_stream, read_events


@pytest.fixture(params=BACKENDS)
def kizuna_hub(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningHub]:
    """The real hub of ``tests/conftest.py`` on each backend (PostgreSQL: a schema of the module's
    database; its change streams are woken by LISTEN/NOTIFY)."""
    dsn = request.getfixturevalue("new_pg_dsn")() if request.param == "postgres" else None
    yield from running_hub(tmp_path, dsn)


# -- the parser ---------------------------------------------------------------------------------------------
def _text() -> st.SearchStrategy[str]:
    return st.text(st.characters(blacklist_characters="\r\n\0", blacklist_categories=("Cs",)), max_size=12)


block_st = st.fixed_dictionaries(
    {
        "data": st.lists(_text(), min_size=1, max_size=3),
        "event": st.one_of(st.none(), st.text("abcdefgh-", min_size=1, max_size=8)),
        "id": st.one_of(st.none(), st.text("abcdef0123456789_-", max_size=10)),
        "comment": st.one_of(st.none(), _text()),
        "retry": st.one_of(st.none(), st.integers(0, 99999)),
        "space": st.booleans(),
    }
)


def render(blocks: list[dict[str, Any]], newline: str) -> str:
    out = []
    for b in blocks:
        sep = ": " if b["space"] else ":"
        lines = []
        if b["comment"] is not None:
            lines.append(":" + b["comment"])
        if b["event"] is not None:
            lines.append(f"event{sep}{b['event']}")
        if b["id"] is not None:
            lines.append(f"id{sep}{b['id']}")
        if b["retry"] is not None:
            lines.append(f"retry{sep}{b['retry']}")
        lines += [f"data{sep}{d}" for d in b["data"]]
        out.append(newline.join(lines) + newline + newline)
    return "".join(out)


def reference_events(text: str) -> list[tuple[str, str, str]]:
    """httpx-sse's decoders, as its EventSource uses them."""
    from httpx_sse._decoders import SSEDecoder, SSELineDecoder

    lines, decoder = SSELineDecoder(), SSEDecoder()
    out = []
    for line in [*lines.decode(text), *lines.flush()]:
        sse = decoder.decode(line.rstrip("\n"))
        if sse is not None:
            out.append((sse.event, sse.data, sse.id))
    return out


@settings(max_examples=300, deadline=None)
@given(
    blocks=st.lists(block_st, max_size=6),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    cuts=st.lists(st.integers(0, 400), max_size=8),
)
def test_the_parser_agrees_with_httpx_sse_on_random_streams_in_random_chunks(blocks, newline, cuts):
    text = render(blocks, newline)
    parser = EventParser()
    got: list[tuple[str, str, str]] = []
    start = 0
    for cut in [*sorted(c for c in cuts if c < len(text)), len(text)]:
        for item in parser.feed(text[start:cut]):
            if isinstance(item, ServerSentEvent):
                got.append((item.event, item.data, item.id))
        start = cut
    assert got == reference_events(text)
    retries = [b["retry"] for b in blocks if b["retry"] is not None]
    assert parser.retry_ms == (retries[-1] if retries else None)


def test_the_parser_follows_the_whatwg_rules() -> None:
    parser = EventParser()
    # a leading BOM is dropped; a block without data dispatches nothing, but its id stays in force
    assert parser.feed("\ufeffid: 1\n\n") == []
    assert parser.feed("data: a\n\n") == [ServerSentEvent("message", "a", "1")]
    # an id holding NULL is ignored; retry takes ASCII digits only; unknown fields are ignored
    assert parser.feed("id: x\0y\nretry: 1x\nretry: -5\nfoo: bar\ndata\n\n") == [
        ServerSentEvent("message", "", "1")
    ]
    assert parser.retry_ms is None
    # a CRLF split across chunks ends one line, not two; comments are reported
    assert parser.feed("data: b\r") == []
    assert parser.feed("") == []  # an empty chunk between the CR and the LF changes nothing
    assert parser.feed("\n\r\n: beat\r\n") == [ServerSentEvent("message", "b", "1"), Comment("beat")]
    # an unfinished block at the end of what arrived waits for the rest
    assert parser.feed("event: object\ndata: {") == []
    assert parser.feed("}\n\n") == [ServerSentEvent("object", "{}", "1")]


# -- resume under concurrent writes, on a real server ------------------------------------------------------
def test_resume_by_last_event_id_under_concurrent_writes_loses_and_repeats_nothing(
    kizuna_hub: RunningHub,
) -> None:
    url = f"{kizuna_hub.api_root_url}collections/{kizuna_hub.collection_id}/stream/"
    posted: list[str] = []
    lock = threading.Lock()
    rng = random.Random(16)

    def writer(n: int) -> None:
        with HubClient(kizuna_hub.api_root_url, kizuna_hub.token) as client:
            for _ in range(12):
                objs = [indicator(f"192.0.2.{rng.randrange(256)}") for _ in range(rng.randint(1, 8))]
                client.add_objects(kizuna_hub.collection_id, objs)
                with lock:
                    posted.extend(o["id"] for o in objs)

    writers = [threading.Thread(target=writer, args=(i,)) for i in range(3)]
    for w in writers:
        w.start()
    seen: list[str] = []
    last: str | None = None
    drops = 0
    while any(w.is_alive() for w in writers) or drops < 3:
        budget = rng.randint(1, 25)  # drop the connection after this many objects, mid-page or not
        with open_stream(url, kizuna_hub.reader_token, last_event_id=last) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            for e in read_events(r):
                if e.event == "object":
                    seen.append(orjson.loads(e.data)["object"]["id"])
                    last = e.id
                    budget -= 1
                    if budget == 0:
                        break
        drops += 1
    for w in writers:
        w.join()
    with open_stream(url, kizuna_hub.reader_token, last_event_id=last) as r:
        seen += [orjson.loads(e.data)["object"]["id"] for e in read_events(r) if e.event == "object"]
    assert len(seen) == len(set(seen)), "an object came twice"
    assert set(seen) == set(posted) and len(posted) > 50
    with HubClient(kizuna_hub.api_root_url, kizuna_hub.reader_token) as client:
        in_order = [o["id"] for o in client.iter_objects(kizuna_hub.collection_id, limit=50)]
    assert seen == in_order  # the stream's order is the collection's date_added order


def test_the_stream_client_resumes_after_the_server_restarts(kizuna_hub: RunningHub) -> None:
    stop = threading.Event()
    got: list[str] = []
    with HubClient(kizuna_hub.api_root_url, kizuna_hub.reader_token) as hub:
        stream = ObjectStream(hub, kizuna_hub.collection_id, backoff_s=0.1, max_backoff_s=0.5)
        batches = stream.batches(stop)
        with HubClient(kizuna_hub.api_root_url, kizuna_hub.token) as writer:
            first = [indicator(f"198.51.100.{i}") for i in range(5)]
            writer.add_objects(kizuna_hub.collection_id, first)
            while len(got) < 5:
                b = next(batches)
                got += [e.object["id"] for e in b.events] if b else []
            kizuna_hub.process.kill()  # kill -9 of the server
            kizuna_hub.process.wait()
            assert next(batches) is None  # the client noticed, and will reconnect
        restarted = kizuna_hub.restart()
        try:
            with HubClient(kizuna_hub.api_root_url, kizuna_hub.token) as writer:
                second = [indicator(f"198.51.100.{i}") for i in range(10, 13)]
                writer.add_objects(kizuna_hub.collection_id, second)
            while len(got) < 8:
                b = next(batches)
                got += [e.object["id"] for e in b.events] if b else []
            stop.set()
        finally:
            restarted.terminate()
            restarted.wait(timeout=20)
    assert got == [o["id"] for o in first + second] and stream.reconnections >= 1


# -- the app in a thread: heartbeats, limits, errors, peers ------------------------------------------------
@pytest.fixture(params=BACKENDS)
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    store: Any
    if request.param == "postgres":
        from kizuna.hub.store.postgres import PostgresStore

        dsn = request.getfixturevalue("new_pg_dsn")()
        store = PostgresStore.create(dsn, title="stream hub", key_file=tmp_path / "hub.key")
    else:
        store = SQLiteStore.create(tmp_path / "hub.db", title="stream hub", durable=False)
    tokens = {}
    for name, ceiling, peer in (
        ("producer", TLP.RED, False),
        ("reader", TLP.AMBER, False),
        ("outsider", TLP.RED, False),
        ("jp-hub", TLP.RED, True),
    ):
        store.add_org(name, ceiling=ceiling, peer_hub=peer)
        tokens[name] = new_token()
        store.add_token(name, hash_token(tokens[name]))
    c = store.add_collection("shared", readers=["producer", "reader", "jp-hub"], writers=["producer"])
    store.add_peer("jp-hub", url="http://127.0.0.1:9/api/", user=None, secret=b"x", max_tlp=TLP.GREEN)
    settings_ = HubSettings(title="stream hub", stream_heartbeat_s=0.2, max_streams_per_org=2)
    with ThreadedServer(create_app(settings_, store)) as server:
        yield {
            "store": store,
            "tokens": tokens,
            "cid": c.id,
            "url": f"{server.url}/api/collections/{c.id}/stream/",
            "api": f"{server.url}/api/",
        }
    store.close()


def post(served: dict[str, Any], objects: list[dict[str, Any]]) -> None:
    with HubClient(served["api"], served["tokens"]["producer"]) as client:
        status = client.add_objects(served["cid"], objects)
    assert status["failure_count"] == 0


def test_heartbeats_while_nothing_changes_then_new_objects_at_once(served: dict[str, Any]) -> None:
    with open_stream(served["url"], served["tokens"]["reader"]) as r:
        parser = EventParser()
        beats = 0
        events: list[ServerSentEvent] = []
        posted = False
        for chunk in r.iter_text():
            for item in parser.feed(chunk):
                if isinstance(item, Comment):
                    beats += 1
                elif item.event == "object":
                    events.append(item)
            if beats >= 2 and not posted:
                threading.Thread(target=post, args=(served, [indicator("203.0.113.9")])).start()
                posted = True
            if events:
                break
    assert beats >= 2 and orjson.loads(events[0].data)["object"]["pattern"].endswith("'203.0.113.9']")


def test_errors_before_the_stream_are_taxii_errors(served: dict[str, Any]) -> None:
    url, tokens = served["url"], served["tokens"]
    cases = [
        ({}, 401),
        ({"Authorization": f"Bearer {tokens['outsider']}"}, 404),  # no access: as if it did not exist
        ({"Authorization": f"Bearer {tokens['reader']}", "Accept": "application/json"}, 406),
        ({"Authorization": f"Bearer {tokens['reader']}", "Last-Event-ID": "forged"}, 400),
    ]
    for headers, status in cases:
        r = httpx.get(url, headers=headers, timeout=10)
        assert r.status_code == status and r.headers["content-type"] == TAXII_MEDIA_TYPE
        assert r.json()["http_status"] == str(status)
    # a cursor of another organisation's stream is refused too
    post(served, [indicator("203.0.113.10")])
    with open_stream(url, tokens["producer"]) as r:
        token = next(e.id for e in read_events(r) if e.event == "object")
    r = httpx.get(url, headers={"Authorization": f"Bearer {tokens['reader']}", "Last-Event-ID": token})
    assert r.status_code == 400 and r.json()["title"] == "invalid cursor"


def test_open_streams_per_organisation_are_bounded(served: dict[str, Any]) -> None:
    url, token = served["url"], served["tokens"]["reader"]
    with open_stream(url, token) as a, open_stream(url, token) as b:
        assert a.status_code == b.status_code == 200
        third = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert third.status_code == 429 and third.headers["retry-after"]
        assert third.json()["title"] == "too many requests"
        other = httpx.get(
            served["api"] + "collections/", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert other.status_code == 200  # TAXII itself is not limited
    # closed streams give their slots back
    for _ in range(3):
        assert caught_up(url, token) == []


def test_a_revoked_token_ends_the_stream(served: dict[str, Any]) -> None:
    with open_stream(served["url"], served["tokens"]["reader"]) as r:
        served["store"].revoke_tokens("reader")
        rest = r.read()  # the hub ends the response at the next heartbeat
    assert b"event: object" not in rest


def test_a_peer_hubs_stream_carries_claims_and_every_page_is_audited(served: dict[str, Any]) -> None:
    green = [indicator(f"192.0.2.{i}", tlp_ref=TLP2_IDS[TLP.GREEN]) for i in range(3)]
    amber = indicator("192.0.2.99", tlp_ref=TLP2_IDS[TLP.AMBER])  # above the agreement: never sent
    post(served, [*green, amber])
    events = caught_up(served["url"], served["tokens"]["jp-hub"])
    assert [e["object"]["id"] for e in events] == [o["id"] for o in green]
    for e, o in zip(events, green, strict=True):
        assert e["object"] == o  # the object as stored, unaltered
        assert e["x_kizuna_object"] == {
            "id": o["id"],
            "version": o["modified"],
            "tlp": "green",
            "origin_hub": served["store"].hub_id(),
            "hops": 0,
        }
    shares = [
        orjson.loads(r.detail)
        for r in served["store"].audit_records()
        if r.action == "objects.share" and '"by":"stream"' in r.detail.replace(" ", "")
    ]
    assert [s[0] for d in shares for s in d["shared"]] == [o["id"] for o in green]
    # a local reader's stream is not a share
    caught_up(served["url"], served["tokens"]["reader"])
    assert len([r for r in served["store"].audit_records() if r.action == "objects.share"]) == len(shares)


def test_filters_and_after(served: dict[str, Any]) -> None:
    first = [indicator("198.51.100.1"), indicator("198.51.100.2")]
    post(served, first)
    malware = {
        "type": "malware",
        "spec_version": "2.1",
        "id": f"malware--{uuid.uuid4()}",
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": "x",
        "is_family": False,
    }
    post(served, [malware])
    token = served["tokens"]["reader"]
    everything = caught_up(served["url"], token)
    assert [e["object"]["id"] for e in everything] == [*(o["id"] for o in first), malware["id"]]
    assert [e["object"]["id"] for e in caught_up(served["url"], token, **{"match[type]": "malware"})] == [
        malware["id"]
    ]
    after = everything[0]["date_added"]
    assert [e["object"]["id"] for e in caught_up(served["url"], token, added_after=after)] == [
        first[1]["id"],
        malware["id"],
    ]
    assert datetime.fromisoformat(after.replace("Z", "+00:00")).tzinfo == UTC
