"""Conversion in a converter process (kizuna.ingest.convproc) against the plain path (``--no-pipeline``):
the same stores, the same summaries, reports and messages, the same exit statuses, good input and bad; and a
killed writer does not leave its converter running."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from kizuna.hub.store.sqlite import SQLiteStore
from kizuna.stix.markings import TLP
from tests.ingest.conftest import DATA, MISP_FILES, kizuna
from tests.ingest.corpus import event as corpus_event
from tests.ingest.feeds import feed_event, serve, write_feed

MAPPING = '[fields]\nvalue = "indicator"\ntype = { constant = "ipv4-addr" }\ndescription = "note"\n'
EVENT_UUID = "3f2a1b0c-4d5e-4f60-8a7b-9c0d1e2f3a40"


def _hub(db: Path) -> None:
    with SQLiteStore.create(db, title="convproc test hub", durable=False) as store:
        store.add_org("uk", ceiling=TLP.RED)
        store.add_org("jp", ceiling=TLP.GREEN)
        store.add_collection("shared", alias="shared", readers=["uk", "jp"], writers=["uk"])


def _state(db: Path) -> dict[str, Any]:
    """What a run left in the hub (the write ids and times aside, which differ from run to run)."""
    conn = sqlite3.connect(db)
    try:
        return {
            "objects": conn.execute(
                "SELECT id, version, raw, tlp FROM objects ORDER BY id, version"
            ).fetchall(),
            "units": conn.execute(
                "SELECT format, source, unit, unit_version, event_uuid, org FROM ingest_units ORDER BY id"
            ).fetchall(),
            "provenance": conn.execute(
                "SELECT o.id, o.version, u.unit, p.locator FROM provenance p"
                " JOIN objects o ON o.date_added = p.object_added JOIN ingest_units u ON u.id = p.unit_id"
                " ORDER BY o.id, o.version"
            ).fetchall(),
            "audit": conn.execute("SELECT action FROM audit ORDER BY rowid").fetchall(),
        }
    finally:
        conn.close()


Args = Callable[[Path], list[str | Path]]


def _both(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: Args, runs: int = 1) -> dict[str, Any]:
    """Run ``kizuna ARGS --db HUB`` ``runs`` times each way into a fresh hub; assert both ways agree."""
    seen: dict[str, Any] = {}
    for mode in ("--no-pipeline", "--pipeline"):
        db = tmp_path / f"hub{mode}.db"
        _hub(db)
        report = tmp_path / f"report{mode}.json"
        outcomes = []
        for _ in range(runs):
            r = kizuna(
                capsys,
                *args(db),
                "--db",
                db,
                "--collection",
                "shared",
                "--org",
                "uk",
                "--report",
                report,
                "--force",
                mode,
            )
            saved = orjson.loads(report.read_bytes()) if report.exists() else None
            report.unlink(missing_ok=True)
            outcomes.append((r.rc, r.err, saved))
        seen[mode] = {"outcomes": outcomes, "state": _state(db)}
    assert seen["--pipeline"] == seen["--no-pipeline"]
    return seen["--pipeline"]  # type: ignore[no-any-return]


def _event(**changes: Any) -> dict[str, Any]:
    attrs = [
        {
            "uuid": f"3f2a1b0c-4d5e-4f60-8a7b-9c0d1e2f3a{40 + i:02d}",
            "type": t,
            "value": v,
            "to_ids": i % 2 == 0,
        }
        for i, (t, v) in enumerate(
            [("domain", "good.example.com"), ("ip-dst", "198.51.100.20"), ("url", "https://x.example/a")], 1
        )
    ]
    ev = {
        "uuid": EVENT_UUID,
        "info": "convproc",
        "date": "2026-02-01",
        "timestamp": "1769904000",
        "Attribute": attrs,
    }
    ev.update(changes)
    return ev


def _write(tmp_path: Path, name: str, content: object) -> Path:
    p = tmp_path / name
    p.write_bytes(content if isinstance(content, bytes) else orjson.dumps(content))
    return p


def test_misp_files_and_a_generated_corpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = _write(tmp_path, "corpus.json", {"response": [{"Event": corpus_event(n)} for n in range(3)]})
    files = [DATA / "misp" / name for name in MISP_FILES]
    got = _both(tmp_path, capsys, lambda db: ["ingest", "misp", corpus, *files, "--accept-distribution"])
    assert got["outcomes"][0][0] in (0, 3)
    assert len(got["state"]["objects"]) > 100


@pytest.mark.parametrize(
    "case",
    [
        "not-json",
        "truncated",
        "not-misp",
        "no-info",
        "bad-value",
        "bad-value-skip",
        "second-file-bad",
        "missing",
    ],
)
def test_misp_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    good = _write(tmp_path, "good.json", {"Event": _event()})
    bad_attr = _event()
    bad_attr["Attribute"][1]["value"] = "not-an-ip"
    bad: Path | str = {
        "not-json": _write(tmp_path, "x.json", b'{"Event": {"uuid": 1,}}'),
        "truncated": _write(tmp_path, "x.json", orjson.dumps({"Event": _event()})[:-20]),
        "not-misp": _write(tmp_path, "x.json", {"objects": []}),
        "no-info": _write(tmp_path, "x.json", {"Event": _event(info=None)}),
        "bad-value": _write(tmp_path, "x.json", {"Event": bad_attr}),
        "bad-value-skip": _write(tmp_path, "x.json", {"Event": bad_attr}),
        "second-file-bad": _write(tmp_path, "x.json", b"[{"),
        "missing": str(tmp_path / "absent.json"),
    }[case]
    extra = ["--skip-invalid"] if case == "bad-value-skip" else []
    files = [good, bad] if case == "second-file-bad" else [bad]
    got = _both(tmp_path, capsys, lambda db: ["ingest", "misp", *files, *extra])
    assert got["outcomes"][0][0] in (2, 3)
    assert "Traceback" not in got["outcomes"][0][1]


@pytest.mark.parametrize("case", ["batches-and-rerun", "bad-rows", "bad-rows-skip", "bad-encoding", "tlp"])
def test_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    rows = [f"198.51.{i // 250}.{i % 250 + 1},row {i}" for i in range(700)]
    if case.startswith("bad-rows"):
        rows[7] = "not-an-ip,bad"
        rows[60] = "198.51.100.1,too,many"
    content = ("indicator,note\n" + "\n".join(rows) + "\n").encode()
    if case == "bad-encoding":
        content += "198.51.200.1,caf\u00e9\n".encode("cp1252")
    csv = _write(tmp_path, "iocs.csv", content)
    mapping = _write(tmp_path, "m.toml", MAPPING.encode())
    extra = {"bad-rows-skip": ["--skip-invalid"], "tlp": ["--default-tlp", "green"]}.get(case, [])
    got = _both(
        tmp_path,
        capsys,
        lambda db: ["ingest", "csv", csv, "--mapping", mapping, "--batch-rows", "200", *extra],
        runs=2,  # the second run resumes: every batch the first committed is skipped
    )
    first_rc = got["outcomes"][0][0]
    assert first_rc == {"batches-and-rerun": 0, "tlp": 0, "bad-encoding": 3}.get(case, 3)
    if case == "batches-and-rerun":
        assert (
            got["outcomes"][1][1]
            .strip()
            .endswith("read 0, stored new 0, new versions 0, duplicates 0, rejected 0")
        )


def _bundle(objects: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "type": "bundle",
        "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
        "objects": objects,
        **extra,
    }


def _indicator(n: int, pattern: str = "[ipv4-addr:value = '198.51.100.1']", **extra: Any) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd{n:02d}",
        "created": "2016-04-06T20:03:48.000Z",
        "modified": "2016-04-06T20:03:48.000Z",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2016-01-01T00:00:00Z",
        **extra,
    }


@pytest.mark.parametrize("case", ["good-and-tlp", "invalid", "invalid-skip", "v20-with-warning", "mixed"])
def test_stix(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    objs = [_indicator(n) for n in range(5)]
    doc = _bundle(objs)
    extra: list[str] = []
    if case == "good-and-tlp":
        extra = ["--default-tlp", "amber"]
    elif case.startswith("invalid"):
        objs[2]["pattern"] = "[ipv4-addr:value = "
        extra = ["--skip-invalid"] if case == "invalid-skip" else []
    elif case == "v20-with-warning":
        doc["spec_version"] = "2.1"  # a 2.1 bundle with a 2.0 trait: a warning
    else:
        objs[3] = {k: v for k, v in objs[3].items() if k not in ("spec_version", "pattern_type")}
        objs[3]["labels"] = ["malicious-activity"]
    bundle = _write(tmp_path, "b.json", doc)
    got = _both(tmp_path, capsys, lambda db: ["ingest", "stix", bundle, *extra])
    assert got["outcomes"][0][0] == {"good-and-tlp": 0, "v20-with-warning": 0, "mixed": 2}.get(case, 3)


def _big_event(n: int) -> dict[str, Any]:
    attrs = [
        {
            "uuid": str(uuid.UUID(int=n << 32 | i)),
            "type": "ip-dst",
            "value": f"10.{n}.{i // 250}.{i % 250 + 1}",
        }
        for i in range(1000)
    ]
    return _event(uuid=str(uuid.UUID(int=n << 32 | 0xFFFFFFFF)), Attribute=attrs)


def test_a_feed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = [feed_event(n, attributes=4 + n % 7) for n in range(12)]
    root = write_feed(tmp_path / "feed", events)
    (root / f"{events[3]['uuid']}.json").unlink()  # listed, missing
    other = dict(events[5], uuid=events[6]["uuid"])  # a file whose event is not its manifest key
    (root / f"{events[5]['uuid']}.json").write_bytes(orjson.dumps({"Event": other}))
    with serve(root) as url:
        got = _both(tmp_path, capsys, lambda db: ["ingest", "misp-feed", url], runs=2)
    assert [rc for rc, _, _ in got["outcomes"]] == [3, 3]
    assert "events: 0 new, 0 updated, 10 unchanged, 2 refused" in got["outcomes"][1][1]


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc")
def test_a_killed_writer_does_not_leave_its_converter_running(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    _hub(db)
    files = [_write(tmp_path, f"e{n}.json", {"Event": _big_event(n)}) for n in range(40)]
    cmd = [sys.executable, "-m", "kizuna", "ingest", "misp", *map(str, files)]
    proc = subprocess.Popen(
        [*cmd, "--db", str(db), "--collection", "shared", "--org", "uk", "--pipeline"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    converter = None
    while converter is None and time.monotonic() < deadline:
        kids = _children(proc.pid)
        converter = kids[0] if kids else None
        time.sleep(0.05)
    assert converter is not None, "no converter process started"
    time.sleep(1.0)  # the converter is working, or waiting for the writer to take a unit
    assert proc.poll() is None, "the run ended before the kill"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(converter, 0)
            state = Path(f"/proc/{converter}/stat").read_text().split(") ")[1][0]
        except (ProcessLookupError, FileNotFoundError):
            break
        if state == "Z":  # exited; its parent (init) has not reaped it yet
            break
        time.sleep(0.05)
    else:
        os.kill(converter, signal.SIGKILL)
        pytest.fail("the converter went on after its writer was killed")
