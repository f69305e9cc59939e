"""Fixtures of the ingest tests: a real SQLite hub file, the CLI run in-process as a user runs it."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from kizuna.cli import main
from kizuna.hub.store.sqlite import SQLiteStore
from kizuna.stix.markings import TLP

DATA = Path(__file__).parent / "data"
MISP_FILES = sorted(p.name for p in (DATA / "misp").glob("*.json"))


@dataclass
class LocalHub:
    db: Path
    shared: str  # uk writes; uk and jp (GREEN ceiling) read; default AMBER
    private: str  # uk only

    def store(self) -> SQLiteStore:
        return SQLiteStore.open(self.db)

    def counts(self) -> dict[str, int]:
        with self.store() as s:
            return s.table_counts()


@pytest.fixture
def local_hub(tmp_path: Path) -> Iterator[LocalHub]:
    db = tmp_path / "hub.db"
    with SQLiteStore.create(db, title="ingest test hub", durable=False) as store:
        store.add_org("uk", ceiling=TLP.RED)
        store.add_org("jp", ceiling=TLP.GREEN)
        shared = store.add_collection("shared", alias="shared", readers=["uk", "jp"], writers=["uk"])
        private = store.add_collection("private", alias="private", readers=["uk"], writers=["uk"])
    yield LocalHub(db, shared.id, private.id)


@dataclass
class Run:
    rc: int
    out: str
    err: str


def kizuna(capsys: pytest.CaptureFixture[str], *args: str | Path) -> Run:
    """``kizuna ARGS`` in this process; its exit status and what it printed."""
    capsys.readouterr()
    rc = main([str(a) for a in args])
    captured = capsys.readouterr()
    return Run(rc, captured.out, captured.err)


def misp_file(name: str) -> Any:
    return orjson.loads((DATA / "misp" / name).read_bytes())


def completed(event: dict[str, Any], name: str) -> dict[str, Any]:
    """A PyMISP test event with what kizuna requires and PyMISP's files leave out (a uuid, an info, a
    timestamp), so that its content can be converted; uuid derived from the file name (stable)."""
    ev = copy.deepcopy(event)
    ev.setdefault("uuid", str(uuid.uuid5(uuid.NAMESPACE_URL, f"pymisp-test/{name}")))
    ev.setdefault("info", f"PyMISP test file {name}")
    ev.setdefault("timestamp", "1514764800")
    ev.setdefault("date", "2017-12-31")
    return ev


def events_of(name: str) -> list[dict[str, Any]]:
    """The events in one of PyMISP's files, each completed."""
    from kizuna.ingest.misp import events_in

    return [completed(ev, name) for _, ev in events_in(misp_file(name), name) if isinstance(ev, dict)]
