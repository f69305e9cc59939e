"""MISP warning lists: values that are almost never malicious on their own (private and reserved address
ranges, public DNS resolvers, top domains). Indicators on them are flagged and not alerted by default.

The lists ship in ``kizuna/data/cti/warninglists/`` (MISP/misp-warninglists, CC0; provenance in
``kizuna/data/PROVENANCE.md``). List types: ``cidr`` (addresses and networks), ``string`` (names; a
domain under a listed special-use name such as ``test`` counts), ``hostname`` (a domain or any of its
subdomains).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from socket import inet_aton
from urllib.parse import urlsplit

import orjson

from kizuna.detect.pattern import Comparison, Observation, ObservationExpr, comparisons_of, observations_of

LIST_DIR = ("data", "cti", "warninglists")  # inside the kizuna package


@dataclass
class WarningList:
    name: str
    description: str
    list_type: str
    entries: list[str]


@dataclass
class WarningLists:
    """All lists, compiled for lookup. ``hit_*`` return the name of the first list a value is on."""

    lists: list[WarningList]
    _networks: dict[int, dict[int, dict[int, str]]] = field(default_factory=lambda: {4: {}, 6: {}})
    _names: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for wl in self.lists:
            for entry in wl.entries:
                entry = entry.strip()
                if not entry:
                    continue
                if wl.list_type == "cidr":
                    net = network(entry)
                    if net is None:
                        continue
                    version, address, length = net
                    self._networks[version].setdefault(length, {}).setdefault(address, wl.name)
                else:
                    self._names.setdefault(entry.lower().rstrip("."), wl.name)

    @property
    def names(self) -> list[str]:
        return [wl.name for wl in self.lists]

    def hit_address(self, value: str) -> str | None:
        """The list holding this address or network (a network counts when it lies inside a listed one)."""
        net = network(value)
        if net is None:
            return None
        version, address, length = net
        bits = 32 if version == 4 else 128
        for prefix, table in self._networks[version].items():
            if prefix <= length:
                mask_shift = bits - prefix
                name = table.get((address >> mask_shift) << mask_shift)
                if name is not None:
                    return name
        return None

    def hit_domain(self, value: str) -> str | None:
        """The list holding this domain or one of its parent domains."""
        labels = value.lower().rstrip(".").split(".")
        for i in range(len(labels)):
            name = self._names.get(".".join(labels[i:]))
            if name is not None:
                return name
        return None

    def hit_url(self, value: str) -> str | None:
        try:
            host = urlsplit(value).hostname
        except ValueError:
            return None
        if not host:
            return None
        return self.hit_address(host) if _looks_like_ip(host) else self.hit_domain(host)

    def hit_comparison(self, c: Comparison) -> str | None:
        values: Iterable[object]
        if (c.op == "=" and not c.negated) or (
            c.op == "IN" and not c.negated and isinstance(c.value, frozenset)
        ):
            values = c.value if isinstance(c.value, frozenset) else (c.value,)
        elif c.op == "ISSUBSET" and not c.negated:
            values = (c.value,)
        else:
            return None
        for v in values:
            if not isinstance(v, str):
                continue
            if c.object_type in ("ipv4-addr", "ipv6-addr") or (
                c.path[-1:] == ("value",) and _looks_like_ip(v)
            ):
                hit = self.hit_address(v)
            elif c.object_type == "domain-name":
                hit = self.hit_domain(v)
            elif c.object_type == "url":
                hit = self.hit_url(v)
            else:
                hit = None
            if hit is not None:
                return hit
        return None

    def hit_pattern(self, expr: ObservationExpr) -> str | None:
        """The first list one of the pattern's compared values is on (None: the pattern is not listed)."""
        if type(expr) is Observation and type(expr.comparison) is Comparison:  # the common case
            return self.hit_comparison(expr.comparison)
        for obs in observations_of(expr):
            for c in comparisons_of(obs.comparison):
                hit = self.hit_comparison(c)
                if hit is not None:
                    return hit
        return None


def _looks_like_ip(text: str) -> bool:
    return network(text) is not None


_V4_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_V4_NETWORK = re.compile(rf"({_V4_OCTET}(?:\.{_V4_OCTET}){{3}})(?:/([0-9]|[12][0-9]|3[0-2]))?")
_NOT_V4 = re.compile(r"[^0-9./]")
_V6_HEAD = re.compile(r"[0-9A-Fa-f:.]*")


def network(text: str) -> tuple[int, int, int] | None:
    """(IP version, network address as an integer, prefix length) of an address or network, as
    ``ipaddress.ip_network(text, strict=False)`` reads it; None when that rejects the text.

    Dotted-quad IPv4 addresses and networks are read directly, text that no address form can take is
    refused at once, and everything else goes to :func:`network_reference` (the plain reference).
    """
    m = _V4_NETWORK.fullmatch(text)
    if m is not None:
        address = int.from_bytes(inet_aton(m.group(1)), "big")
        length = 32 if m.group(2) is None else int(m.group(2))
        return 4, (address >> (32 - length)) << (32 - length), length
    if ":" not in text:
        if _NOT_V4.search(text):  # IPv4 forms hold digits, dots and one slash only
            return None
    else:
        head = _V6_HEAD.match(text).end()  # type: ignore[union-attr]  # matches the empty string at least
        if head < len(text) and text[head] not in "%/":  # an IPv6 address is hex digits, colons, dots
            return None
    return network_reference(text)


def network_reference(text: str) -> tuple[int, int, int] | None:
    """The plain reference for :func:`network`: ``ipaddress.ip_network(text, strict=False)``."""
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    return net.version, int(net.network_address), net.prefixlen


@lru_cache(maxsize=1)
def default_warninglists() -> WarningLists:
    """All shipped lists, loaded once per process."""
    return load_warninglists()


def load_warninglists(names: Iterable[str] | None = None) -> WarningLists:
    """The shipped lists (all, or those named by directory name, e.g. ``rfc1918``)."""
    root = resources.files("kizuna")
    for part in LIST_DIR:
        root = root.joinpath(part)
    wanted = set(names) if names is not None else None
    lists = []
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if not entry.is_dir() or (wanted is not None and entry.name not in wanted):
            continue
        doc = orjson.loads(entry.joinpath("list.json").read_bytes())
        lists.append(
            WarningList(
                name=entry.name,
                description=str(doc.get("name", entry.name)),
                list_type=str(doc.get("type", "string")),
                entries=[str(e) for e in doc.get("list", [])],
            )
        )
    return WarningLists(lists)
