"""MISP feeds for tests: written to a directory and served over HTTP on 127.0.0.1."""

from __future__ import annotations

import functools
import hashlib
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson

NS = uuid.UUID("5e1d0c9b-8a7f-4e6d-9c5b-4a3f2e1d0c9b")


def feed_event(n: int, *, attributes: int = 5, ts: int = 1769904000, edit: int = 0) -> dict[str, Any]:
    """Feed event ``n``: ``attributes`` ip-dst/domain attributes, half with to_ids; ``edit`` bumps the
    timestamp and changes the value of attribute 0 (a new version of it, the rest unchanged)."""
    ev_uuid = str(uuid.uuid5(NS, f"event/{n}"))
    attrs = []
    for i in range(attributes):
        ip = i % 2 == 0
        value = f"198.51.{n % 250}.{i % 250 + 1}" if ip else f"e{n}-{i}.example.com"
        if i == 0 and edit:
            value = f"203.0.113.{edit}"
        attrs.append(
            {
                "uuid": str(uuid.uuid5(NS, f"event/{n}/attr/{i}")),
                "type": "ip-dst" if ip else "domain",
                "category": "Network activity",
                "value": value,
                "to_ids": i % 4 < 2,
                "timestamp": str(ts + (edit if i == 0 else 0)),
            }
        )
    return {
        "uuid": ev_uuid,
        "info": f"feed event {n}",
        "date": "2026-02-01",
        "timestamp": str(ts + edit),
        "published": True,
        "publish_timestamp": str(ts + edit),
        "distribution": "3",
        "threat_level_id": "2",
        "analysis": "2",
        "Orgc": {"name": "Feed CERT", "uuid": str(uuid.uuid5(NS, "org"))},
        "Tag": [{"name": "tlp:green"}, {"name": "osint"}],
        "Attribute": attrs,
    }


def write_feed(root: Path, events: list[dict[str, Any]], *, hashes: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    manifest = {}
    lines = []
    for ev in events:
        manifest[ev["uuid"]] = {
            "info": ev["info"],
            "Orgc": ev["Orgc"],
            "Tag": ev["Tag"],
            "date": ev["date"],
            "analysis": ev["analysis"],
            "threat_level_id": ev["threat_level_id"],
            "timestamp": ev["timestamp"],
        }
        (root / f"{ev['uuid']}.json").write_bytes(orjson.dumps({"Event": ev}))
        for a in ev["Attribute"]:
            lines.append(
                f"{hashlib.md5(a['value'].encode(), usedforsecurity=False).hexdigest()},{ev['uuid']}"
            )
    (root / "manifest.json").write_bytes(orjson.dumps(manifest))
    if hashes:
        (root / "hashes.csv").write_text("\n".join(lines) + "\n")
    return root


class _Quiet(SimpleHTTPRequestHandler):
    # connections kept alive, and no Nagle delay between the headers and the body, as the web servers
    # that host real feeds do (without TCP_NODELAY each kept-alive request waits ~40 ms for a delayed ACK)
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve(root: Path) -> Iterator[str]:
    """Serve ``root`` on 127.0.0.1 (a free port) for the block; yields the base URL."""
    handler = functools.partial(_Quiet, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
