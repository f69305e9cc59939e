"""Log readers: records people already have, as STIX cyber-observables (one :class:`Event` per record).

Formats (``read_events(path, fmt)``; ``fmt="auto"`` looks at the first record):

* ``ecs``      JSON lines with Elastic Common Schema field names, nested or dotted (``source.ip``,
               ``destination.ip``/``.port``/``.domain``, ``dns.question.name``, ``url.full``,
               ``file.hash.sha256``, ``file.name``, ``network.transport``, ``@timestamp``).
* ``zeek``     Zeek ``conn``/``dns``/``http``/``files`` logs, TSV (``#fields`` header) or JSON lines.
* ``suricata`` Suricata EVE JSON lines (flow, alert, dns, http, tls, fileinfo... events).
* ``stix``     STIX observed-data: a bundle file (read whole) or JSON lines of bundles / observed-data.
* ``cef``      ArcSight Common Event Format lines (``CEF:0|...``, alone or after a syslog prefix).

Readers stream: one line in memory at a time (a STIX bundle file is the exception: it is one JSON
document). A record that cannot be read is reported through ``on_warning`` with file and line, counted
in :class:`ReadStats` and skipped; it never stops the run.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

from kizuna.detect.matcher import Event
from kizuna.errors import InputError

FORMATS = ("auto", "ecs", "zeek", "suricata", "stix", "cef")
Warn = Callable[[str], None]


@dataclass
class ReadStats:
    """What a reader saw: records read, events produced, records skipped as malformed."""

    records: int = 0
    events: int = 0
    malformed: int = 0
    bytes_read: int = 0
    by_file: dict[str, int] = field(default_factory=dict)


class _Malformed(Exception):
    pass


# -- building observables ------------------------------------------------------------------------------
class _Objects:
    """SCOs of one event, keyed "0", "1", ... so ``_ref`` properties can point at each other."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}

    def add(self, obj: dict[str, Any]) -> str:
        key = str(len(self.objects))
        self.objects[key] = obj
        return key

    def ip(self, value: Any) -> str | None:
        if not isinstance(value, str) or not value or value == "-":
            return None
        return self.add({"type": "ipv6-addr" if ":" in value else "ipv4-addr", "value": value})

    def domain(self, value: Any) -> str | None:
        if not isinstance(value, str) or not value or value == "-":
            return None
        if _is_ip(value):
            return self.ip(value)
        return self.add({"type": "domain-name", "value": value.rstrip(".")})

    def url(self, value: Any) -> None:
        if isinstance(value, str) and value and value != "-":
            self.add({"type": "url", "value": value})

    def file(self, name: Any, hashes: Mapping[str, Any]) -> None:
        obj: dict[str, Any] = {"type": "file"}
        clean = {k: v.lower() for k, v in hashes.items() if isinstance(v, str) and v and v != "-"}
        if clean:
            obj["hashes"] = clean
        if isinstance(name, str) and name and name != "-":
            obj["name"] = name
        if len(obj) > 1:
            self.add(obj)

    def traffic(self, src: Any, dst: Any, src_port: Any, dst_port: Any, proto: Any) -> None:
        src_key, dst_key = self.ip(src), self.ip(dst)
        if src_key is None and dst_key is None:
            return
        nt: dict[str, Any] = {"type": "network-traffic"}
        if src_key is not None:
            nt["src_ref"] = src_key
        if dst_key is not None:
            nt["dst_ref"] = dst_key
        for name, port in (("src_port", src_port), ("dst_port", dst_port)):
            p = _int(port)
            if p is not None:
                nt[name] = p
        if isinstance(proto, str) and proto and proto != "-":
            nt["protocols"] = [proto.lower()]
        self.add(nt)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _time(value: Any) -> datetime:
    """Epoch seconds (Zeek) or ISO 8601 (ECS, EVE, Zeek ISO mode) -> aware UTC datetime."""
    if isinstance(value, bool):
        raise _Malformed(f"bad timestamp {value!r}")
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (ValueError, OverflowError, OSError):  # NaN, infinities, years beyond 9999
            raise _Malformed(f"bad timestamp {value!r}") from None
    if isinstance(value, str):
        try:
            if value.replace(".", "", 1).isdigit():
                return datetime.fromtimestamp(float(value), UTC)
            moment = datetime.fromisoformat(value)
        except (ValueError, OverflowError, OSError):
            raise _Malformed(f"bad timestamp {value!r}") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    raise _Malformed("no timestamp")


def _get(record: Mapping[str, Any], dotted: str) -> Any:
    """ECS/Zeek field by dotted name: a flat ``"a.b"`` key or nested ``{"a": {"b": ...}}``."""
    if dotted in record:
        return record[dotted]
    node: Any = record
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


# -- per-format record mappers ----------------------------------------------------------------------------
def ecs_event(record: Mapping[str, Any]) -> tuple[datetime, dict[str, dict[str, Any]]]:
    objs = _Objects()
    objs.traffic(
        _get(record, "source.ip"),
        _get(record, "destination.ip"),
        _get(record, "source.port"),
        _get(record, "destination.port"),
        _get(record, "network.transport"),
    )
    for name in ("dns.question.name", "destination.domain", "url.domain", "host.name"):
        objs.domain(_get(record, name))
    objs.url(_get(record, "url.full") or _get(record, "url.original"))
    hashes = {
        "MD5": _get(record, "file.hash.md5"),
        "SHA-1": _get(record, "file.hash.sha1"),
        "SHA-256": _get(record, "file.hash.sha256"),
    }
    objs.file(_get(record, "file.name"), hashes)
    for answer in _as_list(_get(record, "dns.resolved_ip")):
        objs.ip(answer)
    return _time(_get(record, "@timestamp")), objs.objects


def zeek_event(record: Mapping[str, Any]) -> tuple[datetime, dict[str, dict[str, Any]]]:
    """One Zeek conn/dns/http/files record (field names as in Zeek's logs)."""
    objs = _Objects()
    objs.traffic(
        record.get("id.orig_h"),
        record.get("id.resp_h"),
        record.get("id.orig_p"),
        record.get("id.resp_p"),
        record.get("proto"),
    )
    objs.domain(record.get("query"))  # dns
    for answer in _as_list(record.get("answers")):
        objs.domain(answer)
    host = record.get("host")  # http
    if isinstance(host, str) and host not in ("", "-"):
        objs.domain(host.split(":")[0])
        uri = record.get("uri")
        if isinstance(uri, str) and uri not in ("", "-"):
            objs.url(f"http://{host}{uri}")
    hashes = {"MD5": record.get("md5"), "SHA-1": record.get("sha1"), "SHA-256": record.get("sha256")}
    objs.file(record.get("filename"), hashes)  # files
    for key in ("tx_hosts", "rx_hosts"):
        for ip in _as_list(record.get(key)):
            objs.ip(ip)
    return _time(record.get("ts")), objs.objects


def suricata_event(record: Mapping[str, Any]) -> tuple[datetime, dict[str, dict[str, Any]]]:
    objs = _Objects()
    objs.traffic(
        record.get("src_ip"),
        record.get("dest_ip"),
        record.get("src_port"),
        record.get("dest_port"),
        record.get("proto"),
    )
    dns = record.get("dns")
    if isinstance(dns, Mapping):
        objs.domain(dns.get("rrname"))
        for q in _as_list(dns.get("queries")) + _as_list(dns.get("query")):
            if isinstance(q, Mapping):
                objs.domain(q.get("rrname"))
        for a in _as_list(dns.get("answers")):
            if isinstance(a, Mapping):
                objs.domain(a.get("rdata"))
    http = record.get("http")
    if isinstance(http, Mapping):
        host = http.get("hostname")
        objs.domain(host)
        url = http.get("url")
        if isinstance(host, str) and isinstance(url, str):
            objs.url(url if "://" in url else f"http://{host}{url}")
    tls = record.get("tls")
    if isinstance(tls, Mapping):
        objs.domain(tls.get("sni"))
    info = record.get("fileinfo")
    if isinstance(info, Mapping):
        hashes = {"MD5": info.get("md5"), "SHA-1": info.get("sha1"), "SHA-256": info.get("sha256")}
        objs.file(info.get("filename"), hashes)
    return _time(record.get("timestamp")), objs.objects


# -- CEF (ArcSight Common Event Format) --------------------------------------------------------------------
#: ``CEF:Version|Device Vendor|Device Product|Device Version|Signature ID|Name|Severity|Extension``, at the
#: start of the line or after a syslog prefix; ``\|`` and ``\\`` escape in the header fields.
_CEF_FIELD = r"((?:[^|\\]|\\.)*)"
_CEF_RE = re.compile(r"(?:^|(?<=\s))CEF:([0-9]+)" + rf"\|{_CEF_FIELD}" * 6 + r"\|(.*)$", re.S)
_CEF_START = re.compile(r"(?:^|\s)CEF:[0-9]+\|")
#: an extension key: letters, digits and ``_ . - [ ]``, after a space (or at the start), before ``=``
_CEF_KEY = re.compile(r"(?:^|(?<= ))([A-Za-z0-9_.\-\[\]]+)=")
_CEF_ESCAPE = re.compile(r"\\([\\=nr])")
_CEF_UNESCAPE = {"\\": "\\", "=": "=", "n": "\n", "r": "\r"}
_CEF_TIME = re.compile(
    r"([A-Z][a-z]{2}) ([0-9]{1,2}) ([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,3}))?"
    r"(?: (Z|UTC|GMT|[+-][0-9]{2}:?[0-9]{2}))?"
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}
#: CEF's ``fileHash`` does not name its algorithm: the length of a hex digest does
_HASH_BY_LENGTH = {32: "MD5", 40: "SHA-1", 64: "SHA-256", 128: "SHA-512"}


def is_cef(text: str) -> bool:
    """A line holding a CEF record (not a JSON object that mentions one)."""
    return text.lstrip()[:1] != "{" and _CEF_START.search(text) is not None


def parse_cef(text: str) -> dict[str, str]:
    """The extension fields of one CEF line (values unescaped). _Malformed when it is not CEF."""
    m = _CEF_RE.search(text)
    if m is None:
        raise _Malformed("not a CEF record (CEF:Version|Vendor|Product|Version|ID|Name|Severity|...)")
    extension = m.group(8)
    record: dict[str, str] = {}
    keys = list(_CEF_KEY.finditer(extension))
    for i, key in enumerate(keys):
        end = keys[i + 1].start() if i + 1 < len(keys) else len(extension)
        value = extension[key.end() : end].rstrip(" ")
        if "\\" in value:
            value = _CEF_ESCAPE.sub(lambda e: _CEF_UNESCAPE[e.group(1)], value)
        record[key.group(1)] = value
    return record


def _cef_time(record: Mapping[str, Any]) -> datetime:
    """``rt`` (receipt time), else ``end``, else ``start``: epoch milliseconds or ``MMM dd yyyy HH:mm:ss``
    with optional ``.SSS`` and zone (UTC, GMT, Z or an offset; none means UTC)."""
    for key in ("rt", "end", "start"):
        value = record.get(key)
        if value is None:
            continue
        try:
            if value.isascii() and value.isdigit():
                return datetime.fromtimestamp(int(value) / 1000, UTC)
            m = _CEF_TIME.fullmatch(value)
            if m is None or m.group(1) not in _MONTHS:
                raise ValueError
            month, day, year, hour, minute, second, millis, zone = m.groups()
            tz = UTC
            if zone not in (None, "Z", "UTC", "GMT"):
                sign = -1 if zone[0] == "-" else 1
                digits = zone[1:].replace(":", "")
                tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
            micro = int((millis or "0").ljust(3, "0")) * 1000
            moment = datetime(
                int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second), micro, tz
            )
            return moment.astimezone(UTC)
        except (ValueError, OverflowError, OSError):
            raise _Malformed(f"bad timestamp {key}={value!r}") from None
    raise _Malformed("no timestamp (rt, end or start)")


def cef_event(record: Mapping[str, Any]) -> tuple[datetime, dict[str, dict[str, Any]]]:
    """One CEF record: ``src``/``dst`` (or ``c6a2``/``c6a3``, the IPv6 convention), ``spt``, ``dpt``,
    ``proto``; ``shost``, ``dhost``, ``destinationDnsDomain``; ``request``; ``fname`` and ``fileHash``."""
    objs = _Objects()
    objs.traffic(
        record.get("src") or record.get("c6a2"),
        record.get("dst") or record.get("c6a3"),
        record.get("spt"),
        record.get("dpt"),
        record.get("proto"),
    )
    for name in ("shost", "dhost", "destinationDnsDomain"):
        objs.domain(record.get(name))
    objs.url(record.get("request"))
    digest = record.get("fileHash")
    algorithm = _HASH_BY_LENGTH.get(len(digest)) if isinstance(digest, str) else None
    objs.file(record.get("fname"), {algorithm: digest} if algorithm is not None else {})
    return _cef_time(record), objs.objects


def _as_list(value: Any) -> list[Any]:
    if value is None or value == "-" or value == "(empty)":
        return []
    return value if isinstance(value, list) else [value]


_JSON_MAPPERS = {"ecs": ecs_event, "zeek": zeek_event, "suricata": suricata_event, "cef": cef_event}


def sniff(record: Mapping[str, Any]) -> str:
    """Guess the format of one JSON record."""
    if record.get("type") in ("bundle", "observed-data"):
        return "stix"
    if "event_type" in record and "timestamp" in record:
        return "suricata"
    if "ts" in record and any(k in record for k in ("uid", "id.orig_h", "fuid", "id")):
        return "zeek"
    if "@timestamp" in record or "ecs" in record:
        return "ecs"
    raise _Malformed("unknown record format (not ECS, Zeek, Suricata EVE or STIX)")


# -- STIX observed-data -------------------------------------------------------------------------------------
def stix_events(doc: Mapping[str, Any], source: str, line: int) -> Iterator[Event]:
    """Events from a bundle (2.1 observed-data + referenced SCOs) or one observed-data (2.0 or 2.1)."""
    objects = list(doc.get("objects") or []) if doc.get("type") == "bundle" else [doc]
    by_id = {o.get("id"): o for o in objects if isinstance(o, Mapping)}
    for od in objects:
        if not isinstance(od, Mapping) or od.get("type") != "observed-data":
            continue
        first = od.get("first_observed")
        try:
            when = _time(first)
        except _Malformed:
            raise _Malformed(f"observed-data {od.get('id')}: bad first_observed {first!r}") from None
        last = when
        if isinstance(od.get("last_observed"), str):
            try:
                last = max(when, _time(od["last_observed"]))
            except _Malformed:
                raise _Malformed(f"observed-data {od.get('id')}: bad last_observed") from None
        count = od.get("number_observed", 1)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise _Malformed(f"observed-data {od.get('id')}: bad number_observed {count!r}")
        if isinstance(od.get("objects"), Mapping):  # STIX 2.0 (2.1 deprecated) embedded objects
            scos = {str(k): dict(v) for k, v in od["objects"].items() if isinstance(v, Mapping)}
        else:
            scos = {ref: dict(by_id[ref]) for ref in od.get("object_refs") or [] if ref in by_id}
        yield Event(source, line, when, scos, count, last)


# -- Zeek TSV -----------------------------------------------------------------------------------------------
@dataclass
class _ZeekHeader:
    separator: str = "\t"
    set_separator: str = ","
    empty: str = "(empty)"
    unset: str = "-"
    fields: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)


def _zeek_header_line(line: str, header: _ZeekHeader) -> None:
    if line.startswith("#separator"):
        raw = line.split(" ", 1)[1] if " " in line else "\\x09"
        header.separator = raw.encode().decode("unicode_escape")
        return
    key, _, rest = line[1:].partition(header.separator)
    if key == "set_separator":
        header.set_separator = rest
    elif key == "empty_field":
        header.empty = rest
    elif key == "unset_field":
        header.unset = rest
    elif key == "fields":
        header.fields = rest.split(header.separator)
    elif key == "types":
        header.types = rest.split(header.separator)


def _zeek_record(line: str, header: _ZeekHeader) -> dict[str, Any]:
    values = line.split(header.separator)
    if not header.fields:
        raise _Malformed("Zeek record before any #fields header")
    if len(values) != len(header.fields):
        raise _Malformed(f"{len(values)} fields where the #fields header names {len(header.fields)}")
    record: dict[str, Any] = {}
    types = header.types if len(header.types) == len(values) else [""] * len(values)
    for name, value, typ in zip(header.fields, values, types, strict=True):
        if value == header.unset:
            continue
        if typ.startswith(("set[", "vector[")):
            record[name] = [] if value == header.empty else value.split(header.set_separator)
        else:
            record[name] = value
    return record


# -- the reader ---------------------------------------------------------------------------------------------
def read_events(
    path: str | Path,
    fmt: str = "auto",
    *,
    stats: ReadStats | None = None,
    on_warning: Warn | None = None,
) -> Iterator[Event]:
    """Stream the events of one log file. Malformed records are reported and skipped."""
    if fmt not in FORMATS:
        raise InputError(f"unknown log format {fmt!r}; expected one of {', '.join(FORMATS)}")
    p = Path(path)
    source = str(p)
    stats = stats if stats is not None else ReadStats()
    warn = on_warning or (lambda _msg: None)
    try:
        handle = p.open("rb")
    except FileNotFoundError:
        raise InputError("log file not found", path=source) from None
    except OSError as exc:
        raise InputError(f"cannot read log file: {exc.strerror}", path=source) from None
    with handle:
        head = handle.read(1)
        handle.seek(0)
        if fmt in ("auto", "stix") and head == b"{" and _is_whole_json(p):
            yield from _stix_file(p, source, stats, warn)
            return
        header = _ZeekHeader()
        detected = None if fmt == "auto" else fmt
        for number, raw in enumerate(handle, start=1):
            stats.bytes_read += len(raw)
            text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if not text.strip():
                continue
            if text.startswith("#"):
                _zeek_header_line(text, header)
                continue
            stats.records += 1
            try:
                if header.fields:
                    record: Any = _zeek_record(text, header)
                    kind = "zeek"
                elif detected == "cef" or (detected is None and is_cef(text)):
                    record = parse_cef(text)
                    kind = detected = "cef"
                else:
                    try:
                        record = orjson.loads(text)
                    except orjson.JSONDecodeError as exc:
                        raise _Malformed(f"not JSON ({exc})") from None
                    if not isinstance(record, dict):
                        raise _Malformed("a JSON record must be an object")
                    kind = detected or sniff(record)
                    if fmt == "auto" and detected is None:
                        detected = kind
                if kind == "stix":
                    produced = list(stix_events(record, source, number))
                else:
                    when, objects = _JSON_MAPPERS[kind](record)
                    produced = [Event(source, number, when, objects)]
            except (_Malformed, KeyError, TypeError, ValueError) as exc:
                stats.malformed += 1
                stats.by_file[source] = stats.by_file.get(source, 0) + 1
                warn(f"{source}:{number}: skipped malformed record: {exc}")
                continue
            for event in produced:
                stats.events += 1
                yield event


def _is_whole_json(p: Path) -> bool:
    """A file that is one JSON document spread over lines (a pretty-printed STIX bundle)."""
    with p.open("rb") as f:
        first = f.readline()
    try:
        orjson.loads(first)
    except orjson.JSONDecodeError:
        return True
    return False


def _stix_file(p: Path, source: str, stats: ReadStats, warn: Warn) -> Iterator[Event]:
    stats.records += 1
    stats.bytes_read += p.stat().st_size
    try:
        doc = orjson.loads(p.read_bytes())
        if not isinstance(doc, dict):
            raise _Malformed("a STIX file must hold one JSON object")
        events = list(stix_events(doc, source, 1))
    except (orjson.JSONDecodeError, _Malformed) as exc:
        stats.malformed += 1
        stats.by_file[source] = stats.by_file.get(source, 0) + 1
        warn(f"{source}:1: skipped malformed STIX document: {exc}")
        return
    for e in events:
        stats.events += 1
        yield e
