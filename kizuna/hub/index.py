"""What a hub store indexes of each stored object version, beside the object as received.

The read interface answers analysts' questions with indexes every backend keeps in the same transaction as
the write (the intake's ``WriteTx.insert``), so a search or a disagreement list is one indexed query that
the sharing policy filters like every other read. This module decides *what* is indexed, once, for every
backend; the stores decide *how* (SQLite: an FTS5 table and plain tables, ``store/sqlite/indexing.py``).

* **text**: name, description, aliases, the values an indicator's pattern compares, an observable's value,
  a note's abstract and content, an opinion's explanation (:func:`entries`). Chinese, Japanese and Korean
  characters are indexed one by one and a query's run of them is searched as a phrase (:func:`fts_text`,
  :func:`text_terms`), so a Japanese word is found inside a sentence with no word breaker.
* **values**: exact observable values (an IP, a domain, a hash, a URL, an e-mail address, ...): those an
  indicator's pattern compares with ``=`` or ``IN`` and those an observable (SCO) holds; compared
  case-insensitively (:func:`normal_value`).
* **sameness keys**: what makes two reports describe "the same thing" (:func:`sameness_keys`): the same SCO
  id; indicators comparing the same observable value; SDOs of one type whose name or aliases match
  (possibly the same, never asserted); conjunctions of the same NORAD pair (grouped by TCA within
  :data:`CONJUNCTION_TCA_S` by the reader); minerals assessments of the same mineral, stage, country and
  year. Reports are put side by side, never merged.
* **links**: references the object page follows backwards: relationships' source and target, sightings'
  ``sighting_of_ref``, notes' and opinions' ``object_refs`` (at most :data:`MAX_LINKS` per object).
* **facts**: a sighting's count and times, an indicator's ``valid_until``, ``revoked``, a conjunction's
  NORAD pair, TCA, miss distance, relative speed and Pc.

The domain wings' STIX extension types are wire formats, named here as data (``hub/`` imports no domain);
``tests/hub/test_index.py`` holds them equal to the wings' own constants.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kizuna.stix._schema import SCO_TYPES  # cyber observables: ids derive from content
from kizuna.stix.ids import timestamp_us

#: The conjunction SDO of the space wing (``kizuna.space.publish.CONJUNCTION_TYPE``).
CONJUNCTION_TYPE = "kizuna-conjunction"
#: The assessment SDO of the minerals wing (``kizuna.minerals.publish.ASSESSMENT_TYPE``).
ASSESSMENT_TYPE = "x-kizuna-minerals-assessment"

#: Conjunctions of one NORAD pair whose TCAs lie within this many seconds of each other are one event.
CONJUNCTION_TCA_S = 60.0

#: References of one object indexed for backward links (a report of 100,000 refs is read from the object).
MAX_LINKS = 1000
#: Characters of text indexed per object.
MAX_TEXT_CHARS = 20_000
#: Longest observable value indexed (longer ones are still found by text).
MAX_VALUE_CHARS = 2048

#: SDO types whose name or aliases key "possibly the same" reports.
NAMED_TYPES = frozenset(
    {
        "attack-pattern",
        "campaign",
        "infrastructure",
        "intrusion-set",
        "malware",
        "threat-actor",
        "tool",
        "vulnerability",
    }
)

# a comparison in a STIX pattern: ``type:path = 'value'`` or ``type:path IN ('a', 'b')``
_STR = r"'(?:[^'\\]|\\.)*'"
_COMPARISON_RE = re.compile(
    rf"(?P<path>[a-z0-9][a-z0-9-]*:[^\s=!<>\[\]()]+)\s*(?:=\s*(?P<eq>{_STR})|IN\s*\((?P<in>(?:\s*{_STR}\s*,?)+)\))"
)
_LITERAL_RE = re.compile(_STR)
_CJK_RE = re.compile(
    "([\u1100-\u11ff\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u31ff\u3200-\u9fff"
    "\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\uff00-\uffef\U00020000-\U0003134f])"
)
_TERM_RE = re.compile(r"\w+", re.UNICODE)


@dataclass(slots=True)  # not frozen: made per object on the write path (frozen costs ~3 us each)
class SightingFacts:
    ref: str
    count: int
    first_seen_us: int | None
    last_seen_us: int | None
    seen_us: int  # last seen, else first seen, else when the sighting was made


@dataclass(slots=True)  # not frozen: made per object on the write path (frozen costs ~3 us each)
class ConjunctionFacts:
    norad_1: int
    norad_2: int
    tca_us: int
    miss_km: float | None
    rel_speed_km_s: float | None
    pc: float | None
    pc_method: str | None


@dataclass(slots=True)  # not frozen: made per object on the write path (frozen costs ~3 us each)
class Entries:
    """What is indexed of one object version."""

    text: str = ""
    values: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()  # (role, referenced id): source, target, sighting, about
    sighting: SightingFacts | None = None
    conjunction: ConjunctionFacts | None = None
    revoked: bool = False
    valid_until_us: int | None = None

    @property
    def flagged(self) -> bool:
        return self.revoked or self.valid_until_us is not None


# -- text ------------------------------------------------------------------------------------------------
def fts_text(text: str) -> str:
    """Text as the full-text index holds it: each CJK character its own token."""
    if text.isascii():
        return text
    return _CJK_RE.sub(r" \1 ", unicodedata.normalize("NFKC", text))


def text_terms(query: str) -> list[str]:
    """A free-text query as full-text terms: every word a prefix term, a run of CJK characters a phrase,
    all of them required. Only word characters survive, so no query is ever a syntax error."""
    terms: list[str] = []
    for chunk in _CJK_RE.sub(r" \1 ", unicodedata.normalize("NFKC", query)).split():
        words = _TERM_RE.findall(chunk)
        terms.extend(w.casefold() for w in words if w)
    out: list[str] = []
    run: list[str] = []
    for t in terms:
        if _CJK_RE.fullmatch(t):
            run.append(t)
            continue
        if run:
            out.append(" ".join(run))
            run = []
        out.append(t)
    if run:
        out.append(" ".join(run))
    return out[:16]


def fts_query(query: str) -> str | None:
    """The FTS5 expression for a free-text query (None when it has no searchable word)."""
    terms = text_terms(query)
    if not terms:
        return None
    parts = []
    for t in terms:
        quoted = '"' + t.replace('"', '""') + '"'
        parts.append(quoted if " " in t else quoted + "*")
    return " AND ".join(parts)


# -- observable values -----------------------------------------------------------------------------------
def normal_value(value: str) -> str:
    """An observable value as it is compared: trimmed and case-folded (hashes, domains and e-mail
    addresses are case-insensitive; a case-folded URL finds more, never fewer)."""
    if value.isascii():
        return value.strip().lower()
    return unicodedata.normalize("NFKC", value).strip().casefold()


_OBSERVABLE_RES = (
    re.compile(r"\d{1,3}(?:\.\d{1,3}){3}(?:/\d{1,2})?"),  # IPv4 (CIDR)
    re.compile(r"[0-9a-f:]*:[0-9a-f:]+(?:/\d{1,3})?"),  # IPv6
    re.compile(r"[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{56}|[0-9a-f]{64}|[0-9a-f]{96}|[0-9a-f]{128}"),  # hashes
    re.compile(r"[a-z][a-z0-9+.-]*://\S+"),  # URL
    re.compile(r"[^@\s]+@[^@\s]+\.[a-z0-9-]+"),  # e-mail address
    re.compile(r"(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)+[a-z0-9-]{2,63}\.?"),  # domain name
    re.compile(r"(?:[0-9a-f]{2}[:-]){5}[0-9a-f]{2}"),  # MAC address
)


def looks_like_observable(query: str) -> bool:
    """Is the query one observable value (searched exactly besides as text)?"""
    q = normal_value(query)
    return 0 < len(q) <= MAX_VALUE_CHARS and any(r.fullmatch(q) for r in _OBSERVABLE_RES)


def _unquote(literal: str) -> str:
    return re.sub(r"\\(.)", r"\1", literal[1:-1])


def pattern_values(pattern: str) -> list[tuple[str, str]]:
    """(object path, value) of every string an indicator's STIX pattern compares with ``=`` or ``IN``."""
    out: list[tuple[str, str]] = []
    for m in _COMPARISON_RE.finditer(pattern):
        path = m.group("path")
        if m.group("eq") is not None:
            out.append((path, _unquote(m.group("eq"))))
        else:
            out.extend((path, _unquote(lit)) for lit in _LITERAL_RE.findall(m.group("in") or ""))
    return out


def _sco_values(obj: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    for key in ("value", "name", "path", "key", "user_id", "account_login", "serial_number"):
        v = obj.get(key)
        if isinstance(v, str) and v.strip():
            found.append(v)
    hashes = obj.get("hashes")
    if isinstance(hashes, Mapping):
        found.extend(v for v in hashes.values() if isinstance(v, str))
    return found


# -- sameness keys -----------------------------------------------------------------------------------------
def _name_key(stix_type: str, name: str) -> str:
    return f"name:{stix_type}:{' '.join(unicodedata.normalize('NFKC', name).casefold().split())}"


def _minerals_keys(obj: Mapping[str, Any]) -> list[str]:
    doc = obj.get("assessment")
    if not isinstance(doc, Mapping):
        return []
    keys: list[str] = []
    kind = obj.get("assessment_kind")
    if kind == "profile":
        mineral = doc.get("mineral")
        for s in doc.get("series") or ():
            if isinstance(s, Mapping) and mineral and s.get("stage") and s.get("year") is not None:
                keys.append(f"minerals:{mineral}:{s['stage']}:world:{s['year']}")
    elif kind == "exposure":
        for e in doc.get("exposures") or ():
            if not isinstance(e, Mapping):
                continue
            for s in e.get("stages") or ():
                if isinstance(s, Mapping) and s.get("stage") and s.get("year") is not None:
                    keys.append(
                        f"minerals:{e.get('mineral')}:{s['stage']}:{e.get('partner')}:{s.get('year')}"
                    )
    return keys


def conjunction_pair(obj: Mapping[str, Any]) -> tuple[int, int] | None:
    a, b = obj.get("norad_1"), obj.get("norad_2")
    if isinstance(a, int) and isinstance(b, int) and not isinstance(a, bool) and not isinstance(b, bool):
        return (min(a, b), max(a, b))
    return None


def sameness_keys(obj: Mapping[str, Any], values: Iterable[str] = ()) -> tuple[str, ...]:
    """The keys under which ``obj`` is put beside other reports of the same thing."""
    kind = obj.get("type")
    keys: list[str] = []
    if kind == "indicator":
        keys.extend(f"value:{v}" for v in values)
    elif kind in SCO_TYPES and isinstance(obj.get("id"), str):
        keys.append(f"sco:{obj['id']}")
    elif kind in NAMED_TYPES:
        names = [obj.get("name"), *(obj.get("aliases") or ())]
        keys.extend(_name_key(str(kind), n) for n in names if isinstance(n, str) and n.strip())
    elif kind == CONJUNCTION_TYPE:
        pair = conjunction_pair(obj)
        if pair is not None:
            keys.append(f"conjunction:{pair[0]}-{pair[1]}")
    elif kind == ASSESSMENT_TYPE:
        keys.extend(_minerals_keys(obj))
    return tuple(dict.fromkeys(k[:1000] for k in keys))


def key_kind(key: str) -> str:
    """``value``, ``sco``, ``name``, ``conjunction`` or ``minerals``."""
    return key.split(":", 1)[0]


def encode_key(key: str) -> str:
    """A sameness key as it travels in a URL path (base64url, no padding)."""
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_key(text: str) -> str | None:
    """The key a URL carries, or None when it is not one :func:`encode_key` made."""
    if not 0 < len(text) <= 1500 or not re.fullmatch(r"[A-Za-z0-9_-]+", text):
        return None
    try:
        key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if key_kind(key) not in ("value", "sco", "name", "conjunction", "minerals") or encode_key(key) != text:
        return None
    return key


# -- everything ------------------------------------------------------------------------------------------
def _time_us(value: object) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        return timestamp_us(value)
    except ValueError:
        return None


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


_TEXT_KEYS = ("name", "description", "abstract", "content", "explanation", "aliases")


def entries(obj: Mapping[str, Any]) -> Entries:
    """Everything indexed of one object (parsed from the stored bytes)."""
    kind = obj.get("type")
    texts: list[str] = []
    for key in _TEXT_KEYS:
        value = obj.get(key)
        if value is None:
            continue
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, list):
            texts.extend(v for v in value if isinstance(v, str))
    values: list[str] = []
    if kind == "indicator":
        pattern = obj.get("pattern")
        if isinstance(pattern, str):
            values = [v for _, v in pattern_values(pattern)]
    elif kind in SCO_TYPES:
        values = _sco_values(obj)
    texts.extend(values)
    normal = tuple(dict.fromkeys(normal_value(v) for v in values if 0 < len(v) <= MAX_VALUE_CHARS))
    links: list[tuple[str, str]] = []
    sighting = None
    conjunction = None
    if kind == "relationship":
        for role, key in (("source", "source_ref"), ("target", "target_ref")):
            if isinstance(obj.get(key), str):
                links.append((role, obj[key]))
    elif kind == "sighting" and isinstance(obj.get("sighting_of_ref"), str):
        links.append(("sighting", obj["sighting_of_ref"]))
        count = obj.get("count")
        first, last = _time_us(obj.get("first_seen")), _time_us(obj.get("last_seen"))
        made = _time_us(obj.get("modified")) or _time_us(obj.get("created")) or 0
        sighting = SightingFacts(
            obj["sighting_of_ref"],
            count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else 1,
            first,
            last,
            last or first or made,
        )
    elif kind in ("note", "opinion"):
        refs = obj.get("object_refs")
        if isinstance(refs, list):
            links.extend(("about", r) for r in refs[:MAX_LINKS] if isinstance(r, str))
    elif kind == CONJUNCTION_TYPE:
        pair = conjunction_pair(obj)
        tca = _time_us(obj.get("tca"))
        if pair is not None and tca is not None:
            method = obj.get("pc_method")
            conjunction = ConjunctionFacts(
                pair[0],
                pair[1],
                tca,
                _number(obj.get("miss_km")),
                _number(obj.get("rel_speed_km_s")),
                _number(obj.get("collision_probability")),
                method if isinstance(method, str) else None,
            )
    text = " ".join(texts)
    return Entries(
        text=fts_text(text[:MAX_TEXT_CHARS]) if text.strip() else "",
        values=normal,
        keys=sameness_keys(obj, normal),
        links=tuple(dict.fromkeys(links)),
        sighting=sighting,
        conjunction=conjunction,
        revoked=obj.get("revoked") is True,
        valid_until_us=_time_us(obj.get("valid_until")) if kind == "indicator" else None,
    )
