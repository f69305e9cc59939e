"""Log readers: each format maps to STIX cyber-observables; bad records are reported, never fatal."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kizuna.detect.matcher import Event
from kizuna.detect.readers import ReadStats, read_events
from kizuna.errors import InputError

DATA = Path(__file__).parent / "data"


def _read(name: str, fmt: str = "auto") -> tuple[list[Event], ReadStats, list[str]]:
    warnings: list[str] = []
    stats = ReadStats()
    events = list(read_events(DATA / name, fmt, stats=stats, on_warning=warnings.append))
    return events, stats, warnings


def _values(event: Event, stix_type: str) -> list[Any]:
    return [o["value"] for o in event.objects.values() if o["type"] == stix_type]


def _traffic(event: Event) -> dict[str, Any]:
    (nt,) = [o for o in event.objects.values() if o["type"] == "network-traffic"]
    return {
        "src": event.objects[nt["src_ref"]]["value"] if "src_ref" in nt else None,
        "dst": event.objects[nt["dst_ref"]]["value"] if "dst_ref" in nt else None,
        "src_port": nt.get("src_port"),
        "dst_port": nt.get("dst_port"),
        "protocols": nt.get("protocols"),
    }


def test_zeek_conn_tsv() -> None:
    events, stats, warnings = _read("conn.log")
    assert stats.records == 3 and stats.events == 2 and stats.malformed == 1
    first = events[0]
    assert first.time == datetime(2026, 2, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert (first.source, first.line) == (str(DATA / "conn.log"), 9)
    assert _traffic(first) == {
        "src": "10.0.0.5",
        "dst": "185.225.17.44",
        "src_port": 49152,
        "dst_port": 443,
        "protocols": ["tcp"],
    }
    # IPv6 responder becomes an ipv6-addr
    assert [o["type"] for o in events[1].objects.values()][:2] == ["ipv4-addr", "ipv6-addr"]
    assert len(warnings) == 1 and warnings[0].startswith(f"{DATA / 'conn.log'}:11: ")
    assert "fields where the #fields header names 21" in warnings[0]


def test_zeek_dns_http_files_tsv() -> None:
    dns, _s, _w = _read("dns.log")
    assert _values(dns[0], "domain-name") == ["update.grid-telemetry.example", "cdn.grid-telemetry.example"]
    assert "185.225.17.44" in _values(dns[0], "ipv4-addr")
    assert _values(dns[1], "domain-name") == ["intranet.local"]  # (empty) answers: none

    http, _s, _w = _read("http.log")
    assert _values(http[0], "url") == ["http://grid-telemetry.example/payload/stage2.bin"]
    assert _values(http[0], "domain-name") == ["grid-telemetry.example"]

    files, _s, _w = _read("files.log")
    (f,) = [o for o in files[0].objects.values() if o["type"] == "file"]
    assert f["name"] == "stage2.bin"
    assert f["hashes"] == {
        "MD5": "0cc175b9c0f1b6a831c399e269772661",  # lower-cased (Zeek writes lower case anyway)
        "SHA-1": "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8",
        "SHA-256": "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb",
    }
    assert _values(files[0], "ipv4-addr") == ["185.225.17.44", "10.0.0.8"]


def test_zeek_json_epoch_and_iso_timestamps() -> None:
    events, stats, warnings = _read("zeek.json")
    assert stats.events == 2 and stats.malformed == 1
    assert events[0].time == datetime(2026, 2, 1, 10, 0, 30, 250000, tzinfo=UTC)
    assert events[1].time == datetime(2026, 2, 1, 10, 0, 31, tzinfo=UTC)
    assert _traffic(events[0])["dst_port"] == 8443
    assert _values(events[1], "domain-name") == ["grid-telemetry.example"]
    assert warnings[0].startswith(f"{DATA / 'zeek.json'}:3: ") and "bad timestamp" in warnings[0]


def test_suricata_eve() -> None:
    events, stats, warnings = _read("eve.json")
    assert stats.events == 4 and stats.malformed == 1
    dns, http, tls, fileinfo = events
    assert _values(dns, "domain-name") == ["grid-telemetry.example"]
    assert _traffic(dns)["protocols"] == ["udp"]
    assert _values(http, "url") == ["http://grid-telemetry.example/payload/stage2.bin"]
    assert _values(tls, "domain-name") == ["grid-telemetry.example"]
    (f,) = [o for o in fileinfo.objects.values() if o["type"] == "file"]
    assert f["hashes"]["SHA-256"].startswith("ca978112")
    assert http.time == datetime(2026, 2, 1, 10, 1, 1, tzinfo=UTC)
    assert warnings[0].startswith(f"{DATA / 'eve.json'}:5: ") and "not JSON" in warnings[0]


def test_ecs_nested_and_dotted() -> None:
    events, stats, warnings = _read("ecs.ndjson")
    assert stats.events == 3 and stats.malformed == 2
    assert _traffic(events[0])["dst"] == "185.225.17.44"
    assert "grid-telemetry.example" in _values(events[0], "domain-name")
    assert _values(events[1], "domain-name") == ["update.grid-telemetry.example"]
    assert "185.225.17.44" in _values(events[1], "ipv4-addr")
    assert _values(events[2], "url") == ["http://grid-telemetry.example/payload/stage2.bin"]
    (f,) = [o for o in events[2].objects.values() if o["type"] == "file"]
    assert f["hashes"]["SHA-256"] == "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
    assert [w.split(": ", 1)[0] for w in warnings] == [f"{DATA / 'ecs.ndjson'}:4", f"{DATA / 'ecs.ndjson'}:5"]
    assert "no timestamp" in warnings[1]


def test_stix_observed_data_bundle() -> None:
    events, stats, _w = _read("observed.json")
    assert stats.events == 1
    (e,) = events
    assert e.time == datetime(2026, 2, 1, 10, 3, tzinfo=UTC)
    assert (e.count, e.last) == (2, datetime(2026, 2, 1, 10, 3, 5, tzinfo=UTC))
    nt = next(o for o in e.objects.values() if o["type"] == "network-traffic")
    assert e.objects[nt["dst_ref"]]["value"] == "185.225.17.44"


def test_stix_json_lines(tmp_path: Path) -> None:
    od = {
        "type": "observed-data",
        "id": "observed-data--0f3c58b2-7a8b-4c55-9fbd-3a7f25a7f1a2",
        "first_observed": "2026-02-01T10:03:00Z",
        "last_observed": "2026-02-01T10:03:00Z",
        "number_observed": 1,
        "objects": {"0": {"type": "domain-name", "value": "grid-telemetry.example"}},
    }
    import orjson

    path = tmp_path / "od.jsonl"
    path.write_bytes(orjson.dumps(od) + b"\n" + orjson.dumps({**od, "first_observed": "bad"}) + b"\n")
    warnings: list[str] = []
    events = list(read_events(path, on_warning=warnings.append))
    assert len(events) == 1 and _values(events[0], "domain-name") == ["grid-telemetry.example"]
    assert warnings and warnings[0].startswith(f"{path}:2: ")


def test_streaming_reads_lazily(tmp_path: Path) -> None:
    """A reader holds one line at a time: after the first event only the first lines were read."""
    path = tmp_path / "big.ndjson"
    line = b'{"@timestamp":"2026-02-01T10:00:00Z","source":{"ip":"10.0.0.1"}}\n'
    path.write_bytes(line * 20_000)
    stats = ReadStats()
    it = read_events(path, "ecs", stats=stats)
    next(it)
    assert stats.bytes_read < 70_000 < path.stat().st_size
    assert sum(1 for _ in it) == 19_999


def test_missing_file_and_bad_format(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="log file not found"):
        list(read_events(tmp_path / "nope.log"))
    with pytest.raises(InputError, match="unknown log format"):
        list(read_events(DATA / "eve.json", "pcap"))


def test_cef() -> None:
    """ArcSight CEF: syslog prefix or none, escapes, epoch-millisecond and text timestamps, bad lines."""
    events, stats, warnings = _read("cef.log")
    assert stats.records == 5 and stats.events == 3 and stats.malformed == 2
    fw, proxy, dns = events
    assert fw.time == datetime(2026, 2, 1, 10, 3, 0, tzinfo=UTC) and fw.line == 1
    assert _traffic(fw) == {
        "src": "10.0.0.5",
        "dst": "185.225.17.44",
        "src_port": 49170,
        "dst_port": 443,
        "protocols": ["tcp"],
    }
    assert proxy.time == datetime(2026, 2, 1, 10, 3, 5, 250000, tzinfo=UTC)
    assert _values(proxy, "url") == ["http://grid-telemetry.example/payload/stage2.bin"]
    assert _values(proxy, "domain-name") == ["grid-telemetry.example"]
    (f,) = [o for o in proxy.objects.values() if o["type"] == "file"]
    assert f == {  # the digest's length names the algorithm; hashes lower-cased
        "type": "file",
        "hashes": {"SHA-256": "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"},
        "name": "stage2.bin",
    }
    assert dns.time == datetime(2026, 2, 1, 10, 3, 6, tzinfo=UTC)  # +01:00
    assert _values(dns, "domain-name") == ["ws-06.grid.local", "update.grid-telemetry.example"]
    assert [w.split(": ", 1)[1] for w in warnings] == [
        "skipped malformed record: no timestamp (rt, end or start)",
        "skipped malformed record: not a CEF record "
        "(CEF:Version|Vendor|Product|Version|ID|Name|Severity|...)",
    ]
    assert warnings[0].startswith(f"{DATA / 'cef.log'}:4: ")


def test_cef_extension_escapes() -> None:
    from kizuna.detect.readers import parse_cef

    record = parse_cef(r"CEF:0|V|P|1|1|n|5|msg=a \= b\\c\nd fname=x=y.txt cs1=")
    assert record == {"msg": "a = b\\c\nd", "fname": "x=y.txt", "cs1": ""}
