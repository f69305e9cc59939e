"""Screening a whole chunk of decoded records at once: which lines the per-record fast path must see.

Used for Suricata EVE (:data:`SCREENS`). The fast decoder (:mod:`kizuna.detect.pipeline`) probes every
record of a chunk in interpreted Python
(:data:`~kizuna.detect.decoders.PROBES`, then the :class:`~kizuna.detect.decoders.Prefilter`), and almost
every record is then found to hold nothing any indicator looks up. This module answers the same question
for all records of a chunk together, column by column, with the loops in C where it can: each field a
probe reads is pulled out of every record as one list, the distinct values are intersected with the
prefilter's keys as sets, IPv4 addresses are looked up in the network table level by level as sets of
prefixes, and the timestamps are parsed with one ``map``. The result is the positions of the records that
*may* be admitted or *may* be malformed; the caller runs the per-record path (probe, prefilter, mapper,
matcher, or the malformed-record warning) on exactly those, and counts the others as clean events.

Why that is the same as probing every record: for every record left out, (a) no value the probe would
return is a key, nor an address in a network the prefilter holds: the columns hold every value the probe
reads, before the probe's own conditions (which only drop values), with the probe's normalisations
(hashes and protocol lower-cased, domain names without their trailing dots), so a record the prefilter
would admit is flagged; and (b) the probe would not raise: the only things it raises for (a timestamp
that ``fromisoformat`` refuses or that is not ISO 8601, a port that is a text of digits ``int`` refuses)
are flagged. Whatever the screen cannot decide cheaply - a value that is a list or an object where a text
is expected, DNS answers, keys that are not texts - flags the record, or returns
None for the whole chunk (then every record takes the per-record path). The per-record path stays the
reference: ``tests/detect/test_pipeline.py`` checks on random records and patterns that the decoder gives
the same results with and without the screen, and the same as the plain reader.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from itertools import repeat
from operator import itemgetter, methodcaller, rshift
from socket import inet_aton
from typing import Any

from kizuna.detect.decoders import Prefilter, _check_time

#: Records screened together: small enough that their decoded objects stay in the processor's caches
#: (a whole 4 MB chunk of decoded records does not, and is slower than probing records one by one).
BATCH = 128

_FIFTH = itemgetter(slice(4, 5))
_ENDS_IN_DOT = methodcaller("endswith", ".")
_fromisoformat = datetime.fromisoformat
_from_bytes: Any = int.from_bytes
_get: Any = dict.get
_SKIP = frozenset([None, "", "-"])  # values no probe returns
Path = tuple[str, ...]


def _walk(record: Any, path: Path) -> Any:
    """The value at ``path`` of nested objects, as a probe reads it (a part that is no object ends it)."""
    for name in path:
        if type(record) is not dict:
            return None
        record = record.get(name)
    return record


class _Screen:
    """The records of one batch, the positions flagged so far, and the columns of values to look up.

    A column is the list of the values at one path of the records that have them (built by C loops:
    ``filter`` and ``map``), not aligned with the records; positions are found (in Python) only for a
    column where something was found."""

    __slots__ = ("_paths", "columns", "flagged", "prefilter", "records")

    def __init__(self, records: list[dict[str, Any]], prefilter: Prefilter) -> None:
        self.records = records
        self.prefilter = prefilter
        self.flagged: set[int] = set()
        #: (values, their aligned column, whether they are addresses and domain names)
        self.columns: list[tuple[list[Any], Callable[[], list[Any]], bool]] = []
        self._paths: dict[Path, list[Any]] = {(): records}

    def values(self, path: Path) -> list[Any]:
        """The values at ``path`` of the records that have a whole path of objects (None where the last
        key is missing)."""
        found = self._paths.get(path)
        if found is None:
            parents = self.values(path[:-1])
            if len(path) > 1:
                parents = list(filter(None, parents))  # None and empty objects hold nothing
            try:
                found = list(map(_get, parents, repeat(path[-1])))
            except TypeError:  # something other than an object on the way
                found = [p.get(path[-1]) for p in parents if type(p) is dict]
            self._paths[path] = found
        return found

    def aligned(self, path: Path) -> Callable[[], list[Any]]:
        return lambda: [_walk(r, path) for r in self.records]

    def flag(self, column: list[Any], hits: set[Any]) -> None:
        """Flag where the aligned column holds one of ``hits`` (lists and objects are none of them)."""
        self.flagged.update(
            i for i, v in enumerate(column) if type(v) is not list and type(v) is not dict and v in hits
        )

    def texts(self, path: Path, *, host: bool) -> None:
        """Values a probe returns as they are (when they are texts)."""
        self.columns.append((self.values(path), self.aligned(path), host))

    def lowered(self, path: Path) -> None:
        """Values the probe lower-cases (hashes, the protocol): flagged where the lower-cased text is a key
        (a network lookup never reads them, unless networks are compared with any property)."""
        column, aligned = self.values(path), self.aligned(path)
        keys = self.prefilter.keys
        values = self.distinct(column, aligned)
        try:
            hits = (
                set() if keys.isdisjoint(map(str.lower, values)) else {v for v in values if v.lower() in keys}
            )
        except (AttributeError, TypeError):  # not all texts
            hits = {v for v in values if type(v) is str and v.lower() in keys}
        if hits:
            self.flag(aligned(), hits)
        if self.prefilter.networks is not None and self.prefilter.networks_anywhere:
            self.columns.append((column, aligned, False))

    def ports(self, path: Path) -> None:
        """A port the probe converts with ``int`` (a text of digits) may raise: flagged."""
        if str in set(map(type, self.values(path))):
            self.flagged.update(i for i, v in enumerate(self.aligned(path)()) if type(v) is str)

    def present(self, path: Path) -> None:
        """Values the screen does not read (lists of objects): flagged wherever they are."""
        column = self.values(path)
        if column.count(None) != len(column):
            self.flagged.update(i for i, v in enumerate(self.aligned(path)()) if v is not None)

    def timestamps(self, name: str) -> None:
        """Flagged where the probes' timestamp check would raise (or would take another route)."""
        column = self.values((name,))
        try:
            if _FIFTH(column[0]) == "-" and "".join(map(_FIFTH, column)) == "-" * len(column):
                for _ in map(_fromisoformat, column):
                    pass
                return
        except (TypeError, ValueError, OverflowError):
            pass
        for i, value in enumerate(column):
            try:
                _check_time(value)
            except Exception:  # flagged: the per-record path reports it as the plain reader does
                self.flagged.add(i)

    def distinct(self, column: list[Any], aligned: Callable[[], list[Any]]) -> set[Any]:
        """The distinct values of a column but those no probe returns; where a value is a list or an
        object (not hashable, and no text) the record is flagged instead."""
        try:
            values = set(column)
        except TypeError:
            values = {v for v in column if type(v) is not list and type(v) is not dict}
            self.flagged.update(i for i, v in enumerate(aligned()) if type(v) is list or type(v) is dict)
        values -= _SKIP
        return values

    def result(self) -> list[int]:
        prefilter = self.prefilter
        keys = prefilter.keys
        networks = prefilter.networks is not None
        for column, aligned, host in self.columns:
            values = self.distinct(column, aligned)
            hits = values.intersection(keys)
            # a domain name loses its trailing dots in the probe
            try:
                dotted = list(filter(_ENDS_IN_DOT, values))
            except (AttributeError, TypeError):  # not all texts
                dotted = [v for v in values if type(v) is str and v[-1:] == "."]
            hits.update(v for v in dotted if v.rstrip(".") in keys)
            if networks and (host or prefilter.networks_anywhere):
                hits.update(_in_networks(prefilter, values))
            if hits:
                self.flag(aligned(), hits)
        return sorted(self.flagged)


def _in_networks(prefilter: Prefilter, values: set[Any]) -> set[Any]:
    """The values (texts among them, or their forms without trailing dots) inside a network."""
    texts = list(values)
    found: set[Any] = set()
    networks = prefilter.networks
    assert networks is not None
    try:  # the common case, all IPv4 addresses: each level is one set of prefixes
        numbers = list(map(_from_bytes, map(inet_aton, texts), repeat("big")))
    except (OSError, UnicodeEncodeError, ValueError, TypeError):
        numbers = None
        texts = [v for v in texts if type(v) is str]
    if numbers is not None:
        for shift, table in networks.v4_levels:
            if not table.keys().isdisjoint(map(rshift, numbers, repeat(shift))):
                found.update(v for v, a in zip(texts, numbers, strict=True) if a >> shift in table)
        return found
    for v in texts:
        if prefilter.in_networks([v]) or (v[-1] == "." and prefilter.in_networks([v.rstrip(".")])):
            found.add(v)
    return found


def _eve_url(http: Any) -> Any:
    """The URL :func:`~kizuna.detect.decoders.probe_suricata` makes of an ``http`` object (or the bare
    ``url`` when it makes none: a key equal to it only costs a probe)."""
    if type(http) is not dict:
        return None
    host, url = http.get("hostname"), http.get("url")
    if type(host) is str and type(url) is str and "://" not in url:
        return f"http://{host}{url}"
    return url


def screen_suricata(records: list[dict[str, Any]], prefilter: Prefilter) -> list[int] | None:
    """Positions of the Suricata EVE records that :func:`~kizuna.detect.decoders.probe_suricata` and the
    prefilter must see; None when the screen cannot be used on these records."""
    if not records:
        return None
    s = _Screen(records, prefilter)
    s.texts(("src_ip",), host=True)
    s.texts(("dest_ip",), host=True)
    s.ports(("src_port",))
    s.ports(("dest_port",))
    s.lowered(("proto",))
    s.texts(("dns", "rrname"), host=True)
    for name in ("queries", "query", "answers"):  # lists of objects: per record
        s.present(("dns", name))
    s.texts(("http", "hostname"), host=True)
    urls = list(map(_eve_url, filter(None, s.values(("http",)))))
    s.columns.append((urls, lambda: [_eve_url(r.get("http")) for r in records], False))
    s.texts(("tls", "sni"), host=True)
    s.texts(("fileinfo", "filename"), host=False)
    for name in ("md5", "sha1", "sha256"):
        s.lowered(("fileinfo", name))
    s.timestamps("timestamp")
    return s.result()


#: Screen per JSON record format (the others take the per-record path).
#: Not ECS: its records are larger (nested objects, lists) and have more fields to screen; screened, they
#: took 5 % more CPU than probed one by one (``docs/benchmarks.md``).
SCREENS: dict[str, Callable[[list[dict[str, Any]], Prefilter], list[int] | None]] = {
    "suricata": screen_suricata,
}


def usable(prefilter: Prefilter) -> bool:
    """Whether records can be screened for this prefilter: it admits not everything, and its keys are
    texts (a number key would be compared with ports, which the screen does not look up)."""
    return not prefilter.always and all(type(k) is str for k in prefilter.keys)
