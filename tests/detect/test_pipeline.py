"""The fast log path (probes, prefilter, chunks, workers) agrees with the plain reader on random logs.

For every format ``kizuna match`` reads - ECS JSON, Suricata EVE, Zeek JSON and TSV, CEF, STIX
observed-data - hypothesis writes logs of random records (valid ones, near misses and garbage), and the
fast path must give exactly what the plain reader gives: the same hits in the same order with the same
events, the same warnings, the same counts - whatever the chunk size. And each probe must return every
value the plain mapper puts in a record's observables (what makes the prefilter sound).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kizuna.detect import linescreen
from kizuna.detect.decoders import PROBES, Prefilter, probe_values
from kizuna.detect.matcher import Matcher
from kizuna.detect.pipeline import Chunk, ChunkState, Decoder, Workers, can_fork, collect, plan_file
from kizuna.detect.readers import (
    _JSON_MAPPERS,
    ReadStats,
    _Malformed,
    _zeek_record,
    _ZeekHeader,
    parse_cef,
    read_events,
)

# -- values of the kind logs hold, near misses included ------------------------------------------------------
V4 = [
    "10.0.0.1",
    "185.225.17.44",
    "185.225.17.45",
    "8.8.8.8",
    "10.1.2.3",
    "1.2.3",
    "010.0.0.1",
    "192.168.1.10",
]
V6 = ["2001:db8::1", "fe80::1", "2001:db8:1::9", "fe80::1%eth0."]
DOMAINS = ["grid.example", "grid.example.", "Grid.Example", "a.test", "185.225.17.44", "..", "x"]
URLS = ["http://grid.example/a", "http://grid.example/payload/stage2.bin", "https://x.test/?q=1 b=2"]
HASHES = [
    "0cc175b9c0f1b6a831c399e269772661",
    "0CC175B9C0F1B6A831C399E269772661",
    "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8",
    "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb",
    "zz",
]
NAMES = ["stage2.bin", "a.exe", "it's.txt", "ünï.doc"]
PROTOS = ["tcp", "TCP", "udp", "-", ""]
ISO = [
    "2026-02-01T10:00:00.000Z",
    "2026-02-01T10:00:05+01:00",
    "2026-02-01T10:00:01",
    "2026-02-01T10:00:00.5Z",
]
BAD_TIMES: list[Any] = ["yesterday", "", "2026-13-01T00:00:00Z", True, None, 1e20, 10**30, "1e400", [1]]


def one_of(*pools: list[Any]) -> st.SearchStrategy[Any]:
    return st.sampled_from([v for pool in pools for v in pool])


ADDRESS = st.one_of(one_of(V4, V6), st.sampled_from(["-", "", None, 5, ["10.0.0.1"]]))
DOMAIN = st.one_of(one_of(DOMAINS), st.sampled_from(["-", "", None, {"a": 1}]))
PORT = st.one_of(st.integers(0, 70000), st.sampled_from(["443", "²", "08", True, 4.5, None, "-", 2**70]))
TIME = st.one_of(
    one_of(ISO), st.sampled_from([1769940000, 1769940000.25, "1769940000.5"]), st.sampled_from(BAD_TIMES)
)
HASH = st.one_of(one_of(HASHES), st.sampled_from(["-", "", None, 7]))
NAME = st.one_of(one_of(NAMES), st.sampled_from(["-", None]))
ANY = st.one_of(ADDRESS, DOMAIN, PORT, HASH, st.text(max_size=5))


def fields(spec: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A record holding a random subset of the fields, plus an unrelated one sometimes."""
    return st.fixed_dictionaries({}, optional={**spec, "extra": ANY})


def nest(dotted: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in dotted.items():
        node = out
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {}) if isinstance(node.get(part, {}), dict) else {}
        node[last] = value
    return out


ECS = st.tuples(
    fields({
        "@timestamp": TIME, "source.ip": ADDRESS, "destination.ip": ADDRESS, "source.port": PORT,
        "destination.port": PORT, "network.transport": one_of(PROTOS), "dns.question.name": DOMAIN,
        "destination.domain": DOMAIN, "url.domain": DOMAIN, "host.name": DOMAIN,
        "url.full": one_of(URLS, ["-"]), "url.original": one_of(URLS), "file.name": NAME,
        "file.hash.md5": HASH, "file.hash.sha256": HASH, "ecs.version": st.just("8.11.0"),
        "dns.resolved_ip": st.one_of(ADDRESS, st.lists(ADDRESS, max_size=3)),
    }),
    st.sampled_from(["nested", "dotted", "mixed", "wrong-shape"]),
).map(lambda t: _ecs_shape(*t))  # fmt: skip


def _ecs_shape(record: dict[str, Any], shape: str) -> dict[str, Any]:
    record.setdefault("@timestamp", ISO[0])
    if shape == "dotted":
        return record
    if shape == "mixed":
        nested = nest({k: v for k, v in record.items() if not k.startswith("source")})
        return {**nested, **{k: v for k, v in record.items() if k.startswith("source")}}
    nested = nest(record)
    if shape == "wrong-shape" and "destination" in nested:
        nested["destination"] = "185.225.17.44"  # not an object: nothing under it is read
    return nested


SURICATA = fields({
    "timestamp": TIME, "event_type": st.sampled_from(["flow", "dns", "http"]), "src_ip": ADDRESS,
    "dest_ip": ADDRESS, "src_port": PORT, "dest_port": PORT, "proto": one_of(PROTOS),
    "dns": st.one_of(st.just("x"), fields({
        "rrname": DOMAIN, "queries": st.lists(fields({"rrname": DOMAIN}), max_size=2),
        "query": fields({"rrname": DOMAIN}), "answers": st.lists(fields({"rdata": DOMAIN})),
    })),
    "http": fields({"hostname": DOMAIN, "url": st.sampled_from(["/a", "/p/x.bin", "http://x.test/", 5])}),
    "tls": fields({"sni": DOMAIN}), "fileinfo": fields({"filename": NAME, "md5": HASH, "sha256": HASH}),
}).map(lambda r: {"timestamp": ISO[1], "event_type": "flow", **r})  # fmt: skip

ZEEK_SPEC = {
    "ts": TIME, "uid": st.just("C1"), "id.orig_h": ADDRESS, "id.resp_h": ADDRESS, "id.orig_p": PORT,
    "id.resp_p": PORT, "proto": one_of(PROTOS), "query": DOMAIN, "answers": st.lists(DOMAIN, max_size=3),
    "host": st.sampled_from(["grid.example", "grid.example:8080", "-", ""]),
    "uri": st.sampled_from(["/a", "-"]),
    "md5": HASH, "sha256": HASH, "filename": NAME, "tx_hosts": st.lists(ADDRESS, max_size=2),
}  # fmt: skip
ZEEK_JSON = fields(ZEEK_SPEC).map(lambda r: {"ts": 1769940000.5, "uid": "C1", **r})

STIX_SCO = st.sampled_from([
    {"type": "ipv4-addr", "value": "185.225.17.44"}, {"type": "domain-name", "value": "grid.example"},
    {"type": "file", "hashes": {"SHA-256": HASHES[3]}, "name": "stage2.bin"},
    {"type": "url", "value": URLS[0]},
    {"type": "x-thing", "nested": {"deep": ["10.1.2.3", 443]}},
])  # fmt: skip


@st.composite
def stix_record(draw: st.DrawFn) -> dict[str, Any]:
    scos = draw(st.lists(STIX_SCO, min_size=1, max_size=3))
    first = draw(st.one_of(one_of(["2026-02-01T10:00:00Z", "2026-02-01T10:00:00.123456Z"]), st.just("bad")))
    count = draw(st.sampled_from([1, 2, 0, "1"]))
    if draw(st.booleans()):  # STIX 2.0: embedded objects
        objects = {str(i): o for i, o in enumerate(scos)}
        return {"type": "observed-data", "id": "observed-data--1", "first_observed": first,
                "last_observed": first, "number_observed": count, "objects": objects}  # fmt: skip
    ids = [f"{o['type']}--{i}" for i, o in enumerate(scos)]
    od = {"type": "observed-data", "id": "observed-data--2", "first_observed": first,
          "number_observed": count, "object_refs": ids}  # fmt: skip
    return {"type": "bundle", "objects": [od, *({**o, "id": i} for o, i in zip(scos, ids, strict=True))]}


def cef_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("=", "\\=").replace("\n", "\\n")


CEF_VALUE = {
    "src": one_of(V4, ["-", ""]), "dst": one_of(V4, V6), "c6a2": one_of(V6),
    "spt": st.sampled_from(["443", "x", "²"]),
    "dpt": st.sampled_from(["502", "80", ""]), "proto": one_of(PROTOS), "shost": one_of(DOMAINS),
    "dhost": one_of(DOMAINS), "destinationDnsDomain": one_of(DOMAINS), "request": one_of(URLS),
    "fname": one_of(NAMES, ["a=b.txt", "back\\slash"]), "fileHash": one_of(HASHES),
    "rt": st.sampled_from(["1769940000123", "Feb 01 2026 10:00:00", "Feb 01 2026 10:00:00.5 +01:00",
                           "Feb 30 2026 1", "Feb 01 2026 10:00:00 CET", "99999999999999999999"]),
    "start": st.sampled_from(["Jan 05 2026 00:00:00 UTC"]),
    "msg": st.sampled_from(["a b=c", "x\ny", "tab\there"]),
}  # fmt: skip


@st.composite
def cef_line(draw: st.DrawFn) -> str:
    ext = draw(fields(CEF_VALUE))
    prefix = draw(st.sampled_from(["", "Feb  1 10:00:00 sensor ", "<134>1 2026-02-01T10:00:00Z host "]))
    header = draw(st.sampled_from(["CEF:0|Vendor|IDS|1.0|100|alert|5|", "CEF:0|Ven\\|dor|IDS|1|7|n|5|",
                                   "CEF:1|only|four|fields|", "CEF:0|a|b|c|d|e|f|"]))  # fmt: skip
    return prefix + header + " ".join(f"{k}={cef_escape(str(v))}" for k, v in ext.items())


JUNK = st.sampled_from(["", "   ", "# a comment", "not json", "[1, 2]", "{bad", '{"a": 1}', "\x1c"])
JUNK_BYTES = st.sampled_from([b"\xff\xfe{", b'{"@timestamp": "2026-02-01T10:00:00Z", "x": "\xff"}'])


def _dumps(record: dict[str, Any]) -> bytes:
    """JSON as a log writer might write it (integers of any size, as Python's json module writes them)."""
    return json.dumps(record, ensure_ascii=False).encode()


def json_lines(records: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[list[bytes]]:
    line = st.one_of(records.map(_dumps), JUNK.map(str.encode), JUNK_BYTES)
    return st.lists(line, min_size=1, max_size=25)


@st.composite
def zeek_tsv(draw: st.DrawFn) -> list[bytes]:
    names = draw(st.lists(st.sampled_from(sorted(ZEEK_SPEC)), min_size=1, max_size=8, unique=True))
    names = ["ts", *[n for n in names if n != "ts"]]
    types = ["set[string]" if n in ("answers", "tx_hosts") else "string" for n in names]
    lines = [b"#separator \\x09", b"#set_separator\t,", b"#empty_field\t(empty)", b"#unset_field\t-"]
    lines += ["#fields\t" + "\t".join(names), "#types\t" + "\t".join(types)] if draw(st.booleans()) else [
        "#fields\t" + "\t".join(names)]  # fmt: skip
    lines = [x if isinstance(x, bytes) else x.encode() for x in lines]
    for _ in range(draw(st.integers(1, 15))):
        row = draw(fields(ZEEK_SPEC))
        cells = []
        for n in names:
            v = row.get(n, "-")
            v = ",".join(map(str, v)) if isinstance(v, list) else ("(empty)" if v == [] else str(v))
            cells.append(v.replace("\t", " ") or "(empty)")
        if draw(st.integers(0, 9)) == 0:
            cells = cells[:-1]  # a short row
        lines.append("\t".join(cells).encode())
    if draw(st.booleans()):
        lines.append(b"#close\t2026-02-01-11-00-00")
    return lines


FORMATS: dict[str, tuple[st.SearchStrategy[list[bytes]], str]] = {
    "ecs": (json_lines(ECS), "auto"),
    "suricata": (json_lines(SURICATA), "auto"),
    "zeek-json": (json_lines(ZEEK_JSON), "auto"),
    "zeek-tsv": (zeek_tsv(), "auto"),
    "cef": (
        st.lists(st.one_of(cef_line().map(str.encode), JUNK.map(str.encode)), min_size=1, max_size=20),
        "auto",
    ),
    "stix": (json_lines(stix_record()), "auto"),
    "ecs-forced": (json_lines(SURICATA), "ecs"),
    "cef-forced": (json_lines(ECS), "cef"),
}

# -- indicators over the same values -------------------------------------------------------------------------
PATTERNS = [
    *(f"[ipv4-addr:value = '{v}']" for v in V4[:5]),
    "[ipv6-addr:value = '2001:db8::1']",
    "[domain-name:value = 'grid.example']",
    "[domain-name:value = 'Grid.Example']",
    "[url:value = 'http://grid.example/payload/stage2.bin']",
    f"[file:hashes.MD5 = '{HASHES[0]}']",
    f"[file:hashes.'SHA-1' = '{HASHES[2]}']",
    f"[file:hashes.'SHA-256' = '{HASHES[3]}' AND file:name = 'stage2.bin']",
    "[file:name = 'a=b.txt']",
    "[network-traffic:dst_port = 502]",
    "[network-traffic:protocols[*] = 'tcp' AND network-traffic:src_port = 443]",
    "[network-traffic:dst_ref.value = '185.225.17.44']",
    "[ipv4-addr:value ISSUBSET '10.0.0.0/8']",
    "[ipv6-addr:value ISSUBSET '2001:db8::/32']",
    "[network-traffic:src_ref.value ISSUBSET '192.168.0.0/16']",
    "[x-thing:nested.deep[*] = 443]",
    "[domain-name:value = 'grid.example'] FOLLOWEDBY [ipv4-addr:value = '185.225.17.44']",
    "[ipv4-addr:value = '8.8.8.8'] REPEATS 2 TIMES",
    # no anchor, a reader's type name, a network tested against a name: the prefilter admits more
    "[url:value LIKE '%payload%']",
    "[domain-name:value = 'url']",
    "[file:name ISSUBSET '10.0.0.0/8']",
]
INDICATORS = st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=8, unique=True)


def _matcher(patterns: list[str]) -> Matcher:
    m = Matcher()
    for i, p in enumerate(patterns):
        m.add(f"p{i}", p)
    return m


def _outcome(hits: list[Any], finish: list[Any], stats: ReadStats, warnings: list[str]) -> Any:
    def hit(h: Any) -> Any:
        return h.key, [(e.source, e.line, e.time, e.objects, e.count, e.last) for e in h.events]

    counts = (stats.records, stats.events, stats.malformed, stats.bytes_read, stats.by_file)
    return [hit(h) for h in hits], [hit(h) for h in finish], counts, warnings


def plain(path: Path, fmt: str, patterns: list[str]) -> Any:
    matcher, stats, warnings = _matcher(patterns), ReadStats(), []
    hits = [
        h for e in read_events(path, fmt, stats=stats, on_warning=warnings.append) for h in matcher.feed(e)
    ]
    return _outcome(hits, matcher.finish(), stats, warnings)


def fast(path: Path, fmt: str, patterns: list[str], chunk_bytes: int, workers: int = 1) -> Any:
    matcher, stats, warnings = _matcher(patterns), ReadStats(), []
    chunks = plan_file(path, fmt, chunk_bytes)
    with Workers(Decoder(matcher), workers) as pool:
        assert (pool._pool is not None) == (workers > 1)  # processes, when asked for
        hits = list(collect(chunks, pool.map(chunks), matcher, stats, warnings.append))
    return _outcome(hits, matcher.finish(), stats, warnings)


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_fast_path_agrees_with_plain_reader(name: str) -> None:
    lines_strategy, fmt = FORMATS[name]

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(lines=lines_strategy, patterns=INDICATORS, chunk_bytes=st.sampled_from([1, 64, 500, 1 << 20]),
           newline=st.booleans())  # fmt: skip
    def check(lines: list[bytes], patterns: list[str], chunk_bytes: int, newline: bool) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "log"
            path.write_bytes(b"\n".join(lines) + (b"\n" if newline else b""))
            assert fast(path, fmt, patterns, chunk_bytes) == plain(path, fmt, patterns)

    check()


# -- the chunk screen agrees with probing every record ---------------------------------------------------
#: patterns the screen is used with (text keys; networks compared with addresses, and with any property)
SCREENED = [p for p in PATTERNS if not any(w in p for w in ("502", "443", "LIKE", "= 'url'"))]
SCREENED += ["[url:value = 'http://grid.example/a']", "[ipv4-addr:value ISSUBSET '185.225.17.0/24']"]


# well-formed records of the values patterns name (upper-case hashes, names with trailing dots, addresses
# inside networks), which the screen must flag, beside ones it must not
CLEAN_ADDRESS = one_of(V4[:5], ["185.225.17.9", "192.168.4.4", "11.0.0.1"])
CLEAN_DOMAIN = one_of(DOMAINS[:3], ["q1.cdn.example", "grid.example.."])
CLEAN_HASH = one_of(HASHES[:4], [f"{7:032x}"])
CLEAN_ECS = fields({
    "source.ip": CLEAN_ADDRESS, "destination.ip": CLEAN_ADDRESS, "source.port": st.integers(0, 65535),
    "network.transport": one_of(PROTOS[:3]), "dns.question.name": CLEAN_DOMAIN,
    "destination.domain": CLEAN_DOMAIN, "host.name": CLEAN_DOMAIN, "url.full": one_of(URLS),
    "url.original": one_of(URLS), "file.name": one_of(NAMES), "file.hash.md5": CLEAN_HASH,
    "file.hash.sha1": CLEAN_HASH, "file.hash.sha256": CLEAN_HASH,
}).map(lambda r: nest({"@timestamp": ISO[0], **r}))  # fmt: skip
CLEAN_SURICATA = fields({
    "src_ip": CLEAN_ADDRESS, "dest_ip": CLEAN_ADDRESS, "dest_port": st.integers(0, 65535),
    "proto": one_of(PROTOS[:3]), "dns": fields({"rrname": CLEAN_DOMAIN}),
    "http": fields({"hostname": CLEAN_DOMAIN, "url": st.sampled_from(["/a", "/payload/x", URLS[0]])}),
    "tls": fields({"sni": CLEAN_DOMAIN}),
    "fileinfo": fields({"filename": one_of(NAMES), "md5": CLEAN_HASH, "sha256": CLEAN_HASH}),
}).map(lambda r: {"timestamp": ISO[1], **r})  # fmt: skip


@pytest.mark.parametrize("kind", sorted(linescreen.SCREENS))
def test_screened_chunks_agree_with_probing_every_record(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Random records (near misses, wrong shapes, bad timestamps and ports, junk lines) and patterns of every
    kind the screen reads, screened in batches of a few records (so that some batches hold only well-formed
    IPv4 addresses, the screen's quick path) or of many: the decoder gives what it gives probing every
    record."""
    # ECS records with dotted field names are not screened
    records = ECS.filter(lambda r: "." not in "".join(r)) if kind == "ecs" else SURICATA
    clean = CLEAN_ECS if kind == "ecs" else CLEAN_SURICATA
    lines_strategy = st.one_of(
        st.lists(clean.map(_dumps), min_size=1, max_size=200),
        st.lists(st.one_of(clean.map(_dumps), records.map(_dumps)), min_size=1, max_size=200),
        st.lists(st.one_of(records.map(_dumps), JUNK.map(str.encode)), min_size=1, max_size=20),
    )
    patterns_strategy = st.lists(st.sampled_from(SCREENED), min_size=1, max_size=8, unique=True)

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(lines=lines_strategy, patterns=patterns_strategy, batch=st.sampled_from([1, 3, 128]))
    def check(lines: list[bytes], patterns: list[str], batch: int) -> None:
        monkeypatch.setattr(linescreen, "BATCH", batch)
        matcher = _matcher(patterns)
        screened, reference = Decoder(matcher), Decoder(matcher, screen=False)
        assert screened.screen and not reference.screen
        chunk = Chunk("log", kind, ChunkState(detected=kind), True, data=b"\n".join(lines) + b"\n")
        assert screened.run(chunk) == reference.run(chunk)

    check()


@pytest.mark.parametrize(
    ("record", "pattern"),
    [
        ({"http": {"hostname": "grid.example", "url": "/a"}}, "[url:value = 'http://grid.example/a']"),
        ({"dns": {"rrname": "grid.example.."}}, "[domain-name:value = 'grid.example']"),
        ({"fileinfo": {"md5": HASHES[1]}}, f"[file:hashes.MD5 = '{HASHES[0]}']"),
        ({"dest_ip": "185.225.17.9"}, "[ipv4-addr:value ISSUBSET '185.225.17.0/24']"),
    ],
)
def test_the_screen_flags_values_the_probe_changes(record: dict[str, Any], pattern: str) -> None:
    """What the probe composes or normalises (an HTTP URL, a name's trailing dots, an upper-case hash) or
    looks up in networks is found among records that hold nothing to match."""
    filler = [{"timestamp": ISO[1], "src_ip": "11.0.0.1", "dest_ip": "11.0.0.2"}] * 5
    lines = [orjson.dumps(r) for r in [*filler, {"timestamp": ISO[1], **record}, *filler]]
    matcher = _matcher([pattern])
    chunk = Chunk("log", "suricata", ChunkState(detected="suricata"), True, data=b"\n".join(lines) + b"\n")
    result = Decoder(matcher).run(chunk)
    assert result == Decoder(matcher, screen=False).run(chunk)
    assert [(event.line, leaves) for event, leaves in result.hits] == [(6, [0])]


# -- each probe returns every value of the observables -------------------------------------------------------
def _probe_agrees(kind: str, record: dict[str, Any], mapper: Callable[[Any], Any]) -> None:
    try:
        _when, objects = mapper(record)
    except (_Malformed, KeyError, TypeError, ValueError) as exc:
        with pytest.raises(type(exc)) as caught:
            PROBES[kind](record)
        assert str(caught.value) == str(exc)  # the same record is malformed, for the same reason
        return
    values, hosts = PROBES[kind](record)
    from kizuna.detect.matcher import Event

    event = Event("log", 1, _when, objects)
    assert probe_values(event) <= set(values)
    host_values = {
        o["value"] for o in objects.values() if o["type"] in ("ipv4-addr", "ipv6-addr", "domain-name")
    }
    assert host_values <= set(hosts)


@settings(max_examples=300, deadline=None)
@given(record=ECS)
def test_ecs_probe(record: dict[str, Any]) -> None:
    _probe_agrees("ecs", record, _JSON_MAPPERS["ecs"])


@settings(max_examples=300, deadline=None)
@given(record=SURICATA)
def test_suricata_probe(record: dict[str, Any]) -> None:
    _probe_agrees("suricata", record, _JSON_MAPPERS["suricata"])


@settings(max_examples=300, deadline=None)
@given(record=ZEEK_JSON)
def test_zeek_probe(record: dict[str, Any]) -> None:
    _probe_agrees("zeek", record, _JSON_MAPPERS["zeek"])


@settings(max_examples=300, deadline=None)
@given(line=cef_line())
def test_cef_probe(line: str) -> None:
    try:
        record = parse_cef(line)
    except _Malformed:
        return
    _probe_agrees("cef", record, _JSON_MAPPERS["cef"])


def test_zeek_tsv_rows_probe_like_records() -> None:
    header = _ZeekHeader(
        fields=["ts", "id.orig_h", "answers", "note"], types=["time", "addr", "set[string]", "s"]
    )
    record = _zeek_record("1769940000.5\t10.0.0.1\t185.225.17.44,grid.example.\tx", header)
    _probe_agrees("zeek", record, _JSON_MAPPERS["zeek"])


def test_prefilter_admits_what_the_index_could_find() -> None:
    m = _matcher(["[ipv4-addr:value ISSUBSET '10.0.0.0/8']", "[domain-name:value = 'grid.example']"])
    pf = Prefilter.of(m.index)
    assert not pf.always and not pf.networks_anywhere
    assert pf.admits((["10.1.2.3"], ["10.1.2.3"])) and pf.admits((["grid.example"], []))
    assert not pf.admits((["11.0.0.1", 443, "tcp"], ["11.0.0.1"]))
    assert not pf.admits((["10.1.2.3"], []))  # a network is only tested against addresses and names here
    assert Prefilter.of(_matcher(["[url:value LIKE '%x%']"]).index).always
    assert Prefilter.of(_matcher(["[x-custom:value LIKE '%x%']"]).index).always is False  # not a reader type
    assert Prefilter.of(_matcher(["[file:name ISSUBSET '10.0.0.0/8']"]).index).networks_anywhere


# -- chunks, and workers in processes ------------------------------------------------------------------------
def test_chunks_carry_the_state_a_line_depends_on(tmp_path: Path) -> None:
    """A Zeek header in force and the format detected on an earlier chunk are known to later chunks."""
    log = tmp_path / "conn.log"
    rows = [f"1769940{i:03d}.0\t10.0.0.{i % 250}\t185.225.17.{i % 250}" for i in range(300)]
    header = ["#separator \\x09", "#fields\tts\tid.orig_h\tid.resp_h", "#types\ttime\taddr\taddr"]
    log.write_text("\n".join([*header, *rows[:150], "#fields\tts\tid.resp_h\tid.orig_h", *rows[150:]]) + "\n")
    chunks = plan_file(log, "auto", 1000)
    assert len(chunks) > 5 and all(c.state.header.fields for c in chunks[1:])
    assert chunks[-1].state.header.fields == ["ts", "id.resp_h", "id.orig_h"]
    patterns = ["[network-traffic:src_ref.value = '10.0.0.7']", "[ipv4-addr:value = '185.225.17.9']"]
    assert fast(log, "auto", patterns, 1000) == plain(log, "auto", patterns)
    ecs = tmp_path / "ecs.json"
    ecs.write_text(
        "not json\n" + "\n".join(orjson.dumps({"@timestamp": ISO[0], "n": i}).decode() for i in range(99))
    )
    assert {c.state.detected for c in plan_file(ecs, "auto", 300)[1:]} == {"ecs"}


ROOT = Path(__file__).resolve().parents[2]


def _in_fresh_process(name: str, tmp_path: Path) -> None:
    """Run this module's ``name(tmp_path)`` in a new interpreter. It has one thread, so ``Workers`` fork
    there whatever threads earlier tests left running in this one (beside other threads ``Workers``
    decode in process, and the tests below would not test the forked path)."""
    code = "import sys, pathlib; from tests.detect import test_pipeline as t; t.%s(pathlib.Path(sys.argv[1]))"
    done = subprocess.run(
        [sys.executable, "-c", code % name, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_workers_in_processes_agree(tmp_path: Path) -> None:
    _in_fresh_process("_workers_agree", tmp_path)


def _workers_agree(tmp_path: Path) -> None:
    """Forked workers, many small chunks: the same hits, in order, as the plain reader."""
    assert can_fork()
    log = tmp_path / "eve.json"
    lines = []
    for i in range(3000):
        record = {"timestamp": ISO[1], "event_type": "flow", "src_ip": f"10.0.{i % 7}.{i % 250}",
                  "dest_ip": V4[i % len(V4)], "dest_port": 502 if i % 13 == 0 else 443,
                  "proto": "TCP"}  # fmt: skip
        lines.append(orjson.dumps(record) if i % 500 != 499 else b"{broken")
    log.write_bytes(b"\n".join(lines))
    patterns = [*PATTERNS[:5], "[network-traffic:dst_port = 502]", PATTERNS[-5]]
    expected = plain(log, "auto", patterns)
    assert len(expected[0]) > 500 and len(expected[3]) == 6
    assert fast(log, "auto", patterns, 4096, workers=2) == expected


def test_a_chunk_that_cannot_be_read_is_an_error(tmp_path: Path) -> None:
    from kizuna.detect.pipeline import ChunkState

    chunk = Chunk(str(tmp_path / "gone.json"), "auto", ChunkState(), True, str(tmp_path / "gone.json"), 0, 10)
    result = Decoder(_matcher(PATTERNS[:1])).run(chunk)
    assert result.error is not None and "gone.json: cannot read log file" in result.error


class _Dying(Decoder):
    def run(self, chunk: Chunk) -> Any:
        import os

        os._exit(9)  # as if the kernel killed the worker


def test_a_worker_that_dies_ends_the_run(tmp_path: Path) -> None:
    _in_fresh_process("_worker_dies", tmp_path)


def _worker_dies(tmp_path: Path) -> None:
    from kizuna.errors import KizunaError

    assert can_fork()

    log = tmp_path / "eve.json"
    log.write_bytes(b'{"timestamp": "2026-02-01T10:00:00Z", "event_type": "flow"}\n' * 100)
    chunks = plan_file(log, "auto", 256)
    dying = _Dying(_matcher(PATTERNS[:1]))
    with Workers(dying, 2) as pool, pytest.raises(KizunaError, match="worker process ended unexpectedly"):
        list(pool.map(chunks))
