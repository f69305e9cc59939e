"""Fast decoding of log records: per format, only the values a record's observables would hold.

The plain readers (:mod:`kizuna.detect.readers`) turn every record into STIX cyber-observables, which
costs more than matching them. Almost no record of a log matches an indicator, so the fast path asks
first whether a record *could* match: a **probe** per format (:data:`PROBES`) reads from the decoded
JSON object (or Zeek TSV columns) exactly the fields the plain mapper reads, applies the same
normalisation (hashes lower-cased, a domain's trailing dot removed, Zeek's ``http://host+uri``...) and
returns the bare values, with no objects built; a :class:`Prefilter` built from the matcher's compiled
index says whether any of them is a value some indicator compares for equality, or an address inside a
network some indicator names. Only records it admits are mapped by the plain mapper and matched.

Why nothing is missed: the index finds a bracket only through an *anchor* (an equality or ``ISSUBSET``
lookup of a value at some property path), unless the bracket has no anchor at all - then the prefilter
admits every record (:attr:`Prefilter.always`). Every value an anchor can look up is a scalar of one of
the record's observables, and a probe returns every such scalar (:func:`probe_values` is the plain
reference that tests compare it with on random records of every format). Object ``type`` names and
``_ref`` keys are not returned; an indicator comparing a reader's type name for equality makes the
prefilter admit everything. A probe raises exactly what the plain mapper raises for a malformed record
(the two call the same conversions in the same order), so both report the same records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from socket import inet_aton
from typing import Any

from kizuna.detect.index import ComparisonIndex, _CidrTable
from kizuna.detect.matcher import Event
from kizuna.detect.readers import _HASH_BY_LENGTH, _cef_time, _get, _time

#: (every value, the values of addresses and domain names among them)
Probed = tuple[list[Any], list[Any]]
Probe = Callable[[dict[str, Any]], Probed]

#: The cyber-observable types the log readers build (their ``type`` values are not probed).
READER_TYPES = frozenset(["ipv4-addr", "ipv6-addr", "domain-name", "url", "file", "network-traffic"])
#: The first characters of any text an IPv4/IPv6 address or network lookup can accept.
_ADDRESS_START = frozenset("0123456789:ABCDEFabcdef")


# -- what a probe must return: the plain reference -------------------------------------------------------
def probe_values(event: Event) -> set[Any]:
    """The scalars of an event's observables (not ``type``, not ``_ref``/``_refs``): what probes cover."""
    out: set[Any] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key != "type" and not key.endswith(("_ref", "_refs")):
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        else:
            out.add(node)

    for obj in event.objects.values():
        walk(obj)
    return out


# -- shared pieces, mirroring readers._Objects -----------------------------------------------------------
# Each probe fills two lists: ``out``, every value; ``hosts``, the values of addresses and domain names
# (the only ones a network lookup can find in a reader's record, unless an indicator tests a network
# against some other property).


def _address(out: list[Any], hosts: list[Any], value: Any) -> bool:
    """``_Objects.ip``: a non-empty string other than ``-`` becomes an address."""
    if type(value) is str and value and value != "-":
        out.append(value)
        hosts.append(value)
        return True
    return False


def _domain(out: list[Any], hosts: list[Any], value: Any) -> None:
    """``_Objects.domain``: an address stays as it is, a name loses its trailing dots (both kept when the
    text ends in a dot, so the probe need not decide which it is)."""
    if type(value) is str and value and value != "-":
        out.append(value)
        hosts.append(value)
        if value[-1] == ".":
            out.append(value.rstrip("."))
            hosts.append(out[-1])


def _traffic(
    out: list[Any], hosts: list[Any], src: Any, dst: Any, src_port: Any, dst_port: Any, proto: Any
) -> None:
    found = False
    if type(src) is str and src and src != "-":
        out.append(src)
        hosts.append(src)
        found = True
    if type(dst) is str and dst and dst != "-":
        out.append(dst)
        hosts.append(dst)
        found = True
    if not found:
        return
    for port in (src_port, dst_port):  # readers._int, which raises for a Unicode digit int() refuses
        kind = type(port)
        if kind is int:
            out.append(port)
        elif kind is str and port.isdigit():
            out.append(int(port))
    if type(proto) is str and proto and proto != "-":
        out.append(proto.lower())


def _url(out: list[Any], value: Any) -> None:
    if type(value) is str and value and value != "-":
        out.append(value)


def _file(out: list[Any], name: Any, md5: Any, sha1: Any, sha256: Any) -> None:
    for h in (md5, sha1, sha256):
        if type(h) is str and h and h != "-":
            out.append(h.lower())
    if type(name) is str and name and name != "-":
        out.append(name)


def _check_time(value: Any) -> None:
    """:func:`readers._time` without building the datetime when the text is plainly ISO 8601."""
    if type(value) is str and value[4:5] == "-":  # not epoch seconds, which _time tries first
        try:
            fromisoformat(value)
            return
        except (ValueError, OverflowError, OSError):
            pass
    _time(value)  # raises what the plain reader raises


def _as_list(value: Any) -> list[Any]:
    if value is None or value == "-" or value == "(empty)":
        return []
    return value if isinstance(value, list) else [value]


_EMPTY: dict[str, Any] = {}
fromisoformat = datetime.fromisoformat


# -- ECS ---------------------------------------------------------------------------------------------------
def probe_ecs(record: dict[str, Any]) -> Probed:
    """Values of an ECS record (mirrors :func:`kizuna.detect.readers.ecs_event`)."""
    if "." in "".join(record):  # dotted field names: the plain field lookup
        return _ecs_values(*(_get(record, name) for name in _ECS_FIELDS))
    # nested field names only: what _get finds, without the walk (a part that is no object ends it)
    get = record.get
    source, destination, network = get("source"), get("destination"), get("network")
    if type(source) is not dict:
        source = _EMPTY
    if type(destination) is not dict:
        destination = _EMPTY
    dns, url, file, host = get("dns"), get("url"), get("file"), get("host")
    if type(dns) is not dict:
        dns = _EMPTY
    if type(url) is not dict:
        url = _EMPTY
    question = dns.get("question")
    md5 = sha1 = sha256 = file_name = None
    if type(file) is dict:
        file_name = file.get("name")
        hashes = file.get("hash")
        if type(hashes) is dict:
            md5, sha1, sha256 = hashes.get("md5"), hashes.get("sha1"), hashes.get("sha256")
    return _ecs_values(
        source.get("ip"),
        destination.get("ip"),
        source.get("port"),
        destination.get("port"),
        network.get("transport") if type(network) is dict else None,
        question.get("name") if type(question) is dict else None,
        destination.get("domain"),
        url.get("domain"),
        host.get("name") if type(host) is dict else None,
        url.get("full"),
        url.get("original"),
        file_name,
        md5,
        sha1,
        sha256,
        dns.get("resolved_ip"),
        get("@timestamp"),
    )


_ECS_FIELDS = (
    "source.ip",
    "destination.ip",
    "source.port",
    "destination.port",
    "network.transport",
    "dns.question.name",
    "destination.domain",
    "url.domain",
    "host.name",
    "url.full",
    "url.original",
    "file.name",
    "file.hash.md5",
    "file.hash.sha1",
    "file.hash.sha256",
    "dns.resolved_ip",
    "@timestamp",
)


def _ecs_values(
    src: Any,
    dst: Any,
    src_port: Any,
    dst_port: Any,
    transport: Any,
    question: Any,
    dst_domain: Any,
    url_domain: Any,
    host: Any,
    url_full: Any,
    url_original: Any,
    file_name: Any,
    md5: Any,
    sha1: Any,
    sha256: Any,
    resolved: Any,
    timestamp: Any,
) -> Probed:
    out: list[Any] = []
    hosts: list[Any] = []
    _traffic(out, hosts, src, dst, src_port, dst_port, transport)
    for domain in (question, dst_domain, url_domain, host):
        if domain is not None:
            _domain(out, hosts, domain)
    url = url_full or url_original
    if type(url) is str and url and url != "-":
        out.append(url)
    if md5 is not None or sha1 is not None or sha256 is not None or file_name is not None:
        _file(out, file_name, md5, sha1, sha256)
    if resolved is not None:
        for answer in _as_list(resolved):
            _address(out, hosts, answer)
    _check_time(timestamp)
    return out, hosts


# -- Zeek (JSON records, and TSV rows as dicts of the columns below) ------------------------------------
#: The Zeek fields the plain mapper reads.
ZEEK_FIELDS = frozenset(
    [
        "ts",
        "id.orig_h",
        "id.resp_h",
        "id.orig_p",
        "id.resp_p",
        "proto",
        "query",
        "answers",
        "host",
        "uri",
        "md5",
        "sha1",
        "sha256",
        "filename",
        "tx_hosts",
        "rx_hosts",
    ]
)


def probe_zeek(record: dict[str, Any]) -> Probed:
    """Values of a Zeek conn/dns/http/files record (mirrors :func:`kizuna.detect.readers.zeek_event`)."""
    get = record.get
    out: list[Any] = []
    hosts: list[Any] = []
    _traffic(out, hosts, get("id.orig_h"), get("id.resp_h"), get("id.orig_p"), get("id.resp_p"), get("proto"))
    _domain(out, hosts, get("query"))
    for answer in _as_list(get("answers")):
        _domain(out, hosts, answer)
    host = get("host")
    if isinstance(host, str) and host not in ("", "-"):
        _domain(out, hosts, host.split(":")[0])
        uri = get("uri")
        if isinstance(uri, str) and uri not in ("", "-"):
            out.append(f"http://{host}{uri}")
    _file(out, get("filename"), get("md5"), get("sha1"), get("sha256"))
    for key in ("tx_hosts", "rx_hosts"):
        for ip in _as_list(get(key)):
            _address(out, hosts, ip)
    _check_time(get("ts"))
    return out, hosts


# -- Suricata EVE ------------------------------------------------------------------------------------------
def probe_suricata(record: dict[str, Any]) -> Probed:
    """Values of a Suricata EVE event (mirrors :func:`kizuna.detect.readers.suricata_event`)."""
    get = record.get
    out: list[Any] = []
    hosts: list[Any] = []
    _traffic(out, hosts, get("src_ip"), get("dest_ip"), get("src_port"), get("dest_port"), get("proto"))
    dns = get("dns")
    if isinstance(dns, Mapping):
        _domain(out, hosts, dns.get("rrname"))
        for q in _as_list(dns.get("queries")) + _as_list(dns.get("query")):
            if isinstance(q, Mapping):
                _domain(out, hosts, q.get("rrname"))
        for a in _as_list(dns.get("answers")):
            if isinstance(a, Mapping):
                _domain(out, hosts, a.get("rdata"))
    http = get("http")
    if isinstance(http, Mapping):
        host = http.get("hostname")
        _domain(out, hosts, host)
        url = http.get("url")
        if isinstance(host, str) and isinstance(url, str):
            _url(out, url if "://" in url else f"http://{host}{url}")
    tls = get("tls")
    if isinstance(tls, Mapping):
        _domain(out, hosts, tls.get("sni"))
    info = get("fileinfo")
    if isinstance(info, Mapping):
        _file(out, info.get("filename"), info.get("md5"), info.get("sha1"), info.get("sha256"))
    _check_time(get("timestamp"))
    return out, hosts


# -- CEF ---------------------------------------------------------------------------------------------------
def probe_cef(record: dict[str, Any]) -> Probed:
    """Values of a CEF record's extension (mirrors :func:`kizuna.detect.readers.cef_event`)."""
    get = record.get
    out: list[Any] = []
    hosts: list[Any] = []
    _traffic(
        out, hosts, get("src") or get("c6a2"), get("dst") or get("c6a3"), get("spt"), get("dpt"), get("proto")
    )
    for name in ("shost", "dhost", "destinationDnsDomain"):
        _domain(out, hosts, get(name))
    _url(out, get("request"))
    digest = get("fileHash")
    known = isinstance(digest, str) and len(digest) in _HASH_BY_LENGTH
    _file(out, get("fname"), digest if known else None, None, None)
    _cef_time(record)
    return out, hosts


#: Probe per record format (STIX observed-data is matched as it is read: it has no fixed fields).
PROBES: dict[str, Probe] = {
    "ecs": probe_ecs,
    "zeek": probe_zeek,
    "suricata": probe_suricata,
    "cef": probe_cef,
}


# -- the prefilter -------------------------------------------------------------------------------------------
class Prefilter:
    """Whether a record's probed values can make any bracket of an index hold.

    ``keys``: every value an equality anchor looks up; ``networks``: every ``ISSUBSET`` network, looked up
    for the values of addresses and domain names, or for every value when ``networks_anywhere`` (some
    network is compared with another property); ``always``: the index has brackets without anchors on
    the readers' object types, or compares their type names, so every record is admitted.
    """

    __slots__ = ("always", "keys", "networks", "networks_anywhere")

    def __init__(
        self, keys: Iterable[Any], networks: _CidrTable | None, always: bool, networks_anywhere: bool = True
    ) -> None:
        self.keys = frozenset(keys)
        self.networks = networks
        self.networks_anywhere = networks_anywhere
        self.always = always or not self.keys.isdisjoint(READER_TYPES)

    @classmethod
    def of(cls, index: ComparisonIndex) -> Prefilter:
        """The prefilter of an index, for records of the log readers (whose objects have READER_TYPES)."""
        unanchored = not index.scanned_types().isdisjoint(READER_TYPES)
        anywhere = not index.network_paths() <= _HOST_PATHS
        return cls(index.equality_keys(), index.networks(), unanchored, anywhere)

    def admits(self, probed: Probed) -> bool:
        values, hosts = probed
        if self.always or not self.keys.isdisjoint(values):
            return True
        if self.networks is None:
            return False
        return self.in_networks(values if self.networks_anywhere else hosts)

    def in_networks(self, values: list[Any]) -> bool:
        """Whether one of ``values`` is an address or network inside an ``ISSUBSET`` network."""
        networks = self.networks
        assert networks is not None
        v4_levels = networks.v4_levels
        for v in values:
            if type(v) is not str or not v or v[0] not in _ADDRESS_START:
                continue
            if "/" in v or ":" in v:
                found: list[int] = []
                networks.lookup(v, found)
                if found:
                    return True
                continue
            try:  # _CidrTable.lookup's common case, inline
                address = int.from_bytes(inet_aton(v), "big")
            except OSError:
                continue
            for shift, table in v4_levels:
                if address >> shift in table:
                    return True
        return False


#: Properties whose values, in a reader's record, are addresses or domain names.
_HOST_PATHS = frozenset(
    [
        ("ipv4-addr", ("value",)),
        ("ipv6-addr", ("value",)),
        ("domain-name", ("value",)),
        ("network-traffic", ("src_ref", "value")),  # the readers point these at addresses only
        ("network-traffic", ("dst_ref", "value")),
    ]
)
