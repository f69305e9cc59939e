"""Helpers for tests of the change stream: the hub's app served by uvicorn in a thread on 127.0.0.1 (as httpx
tests its own client), and a plain reader of a stream that stops once it has caught up."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import orjson
import uvicorn
from starlette.applications import Starlette

from kizuna.hub.stream_client import Comment, EventParser, ServerSentEvent

from ..conftest import free_port


class ThreadedServer:
    """``app`` served by uvicorn in a daemon thread; ``url`` is its base URL."""

    def __init__(self, app: Starlette) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "the server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


@contextmanager
def open_stream(
    url: str, token: str, *, params: dict[str, str] | None = None, last_event_id: str | None = None
) -> Iterator[httpx.Response]:
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    with httpx.stream("GET", url, params=params or {}, headers=headers, timeout=30) as r:
        yield r


def read_events(response: httpx.Response, *, until_heartbeat: bool = False) -> Iterator[ServerSentEvent]:
    """The events of an open stream, until it has caught up (a ``page`` event saying no more follow, or,
    with ``until_heartbeat``, the first heartbeat after it, for a stream that may have nothing to send)."""
    parser = EventParser()
    caught_up = False
    for chunk in response.iter_text():
        for item in parser.feed(chunk):
            if isinstance(item, Comment):
                if until_heartbeat:
                    return
                continue
            yield item
            if item.event == "page" and not orjson.loads(item.data)["more"]:
                caught_up = True
        if caught_up and not until_heartbeat:
            return


def caught_up(url: str, token: str, **params: str) -> list[dict[str, Any]]:
    """Every ``object`` event's data of a stream read until it has nothing more to send (the server's
    heartbeat must be short)."""
    with open_stream(url, token, params=params) as r:
        assert r.status_code == 200, r.read()
        return [orjson.loads(e.data) for e in read_events(r, until_heartbeat=True) if e.event == "object"]
