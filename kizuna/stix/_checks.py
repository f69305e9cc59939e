"""Property checkers for STIX 2.1 validation.

A checker takes a property value and returns None when it is valid, or a short phrase saying what is wrong
(``"must be a string"``); the caller names the object and property. Checkers never raise and never build a
message on the valid path, so validating an object costs one call per property.
"""

from __future__ import annotations

import calendar
import ipaddress
import re
from collections.abc import Callable, Collection, Mapping

Checker = Callable[[object], "str | None"]

# RFC 3339 in UTC as STIX 2.1 section 3.2 writes it. A leap second (":60") is refused, as the stix2 library
# refuses it: Python's datetime (and so every consumer in kizuna) cannot represent it.
_TS_RE = re.compile(
    r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.([0-9]+))?Z",
    re.ASCII,
)
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
#: STIX 2.1 type names: a-z, 0-9 and hyphen, starting with a letter, 3-250 characters.
TYPE_RE = re.compile(r"[a-z][a-z0-9-]{2,249}", re.ASCII)
_UUID_RE = re.compile(_UUID, re.ASCII)
_ID_RE = re.compile(rf"([a-z][a-z0-9-]{{2,249}})--{_UUID}", re.ASCII)
#: Custom property names (STIX 2.1 section 11.1): a-z, 0-9 and underscore, 3-250 characters.
PROPERTY_NAME_RE = re.compile(r"[a-z0-9_]{3,250}", re.ASCII)
_HASH_KEY_RE = re.compile(r"[a-zA-Z0-9_-]{3,250}", re.ASCII)
_HEX_RE = re.compile(r"(?:[0-9a-fA-F]{2})*", re.ASCII)
_BASE64_RE = re.compile(r"[A-Za-z0-9+/\s]*={0,2}\s*", re.ASCII)
_HASH_HEX_LENGTHS = {
    "MD5": 32,
    "SHA-1": 40,
    "SHA-256": 64,
    "SHA-512": 128,
    "SHA3-256": 64,
    "SHA3-512": 128,
}


def timestamp_error(value: object, *, millis: bool = False) -> str | None:
    if type(value) is not str:
        return "must be a timestamp string"
    m = _TS_RE.fullmatch(value)
    if m is None:
        return f"is not an RFC 3339 UTC timestamp ('YYYY-MM-DDTHH:MM:SS[.s+]Z'): {value[:40]!r}"
    day = int(value[8:10])
    if day > 28:
        year, month = int(value[0:4]), int(value[5:7])
        if day > calendar.monthrange(year, month)[1]:
            return f"is not a valid date: {value[:40]!r}"
    if millis and (m.group(1) is None or len(m.group(1)) < 3):
        return f"must be precise to at least the millisecond: {value[:40]!r}"
    return None


def timestamp_key(value: str) -> tuple[str, str]:
    """Sort key of a valid STIX timestamp (any sub-second precision)."""
    return value[:19], value[20:-1].rstrip("0") if len(value) > 20 else ""


def check_timestamp(value: object) -> str | None:
    return timestamp_error(value)


_last_valid_millis: list[object] = [None]


def check_timestamp_millis(value: object) -> str | None:
    # ``modified`` very often repeats ``created``, checked just before: remember the last valid value.
    if value == _last_valid_millis[0] and value is not None:
        return None
    err = timestamp_error(value, millis=True)
    if err is None:
        _last_valid_millis[0] = value
    return err


def id_type(value: object) -> str | None:
    """The type part of a well-formed STIX identifier, else None."""
    if type(value) is not str:
        return None
    m = _ID_RE.fullmatch(value)
    return m.group(1) if m is not None else None


def is_uuid(text: str) -> bool:
    return _UUID_RE.fullmatch(text) is not None


def check_string(value: object) -> str | None:
    return None if type(value) is str else "must be a string"


def check_bool(value: object) -> str | None:
    return None if type(value) is bool else "must be true or false"


def check_dict(value: object) -> str | None:
    if not isinstance(value, Mapping):
        return "must be a JSON object"
    if not value:
        return "must not be empty"
    return None


def check_hex(value: object) -> str | None:
    if type(value) is not str or _HEX_RE.fullmatch(value) is None:
        return "must be a hex string (an even number of hex digits)"
    return None


def check_binary(value: object) -> str | None:
    if type(value) is not str or _BASE64_RE.fullmatch(value) is None:
        return "must be base64-encoded"
    return None


def matching(regex: str, description: str) -> Checker:
    """A string that fully matches ``regex`` (ASCII)."""
    compiled = re.compile(regex, re.ASCII)

    def check(value: object) -> str | None:
        if type(value) is not str or compiled.fullmatch(value) is None:
            return f"must be {description}"
        return None

    return check


def integer(minimum: int | None = None, maximum: int | None = None) -> Checker:
    def check(value: object) -> str | None:
        if type(value) is not int:
            return "must be an integer"
        if minimum is not None and value < minimum:
            return f"must be >= {minimum}"
        if maximum is not None and value > maximum:
            return f"must be <= {maximum}"
        return None

    return check


def number(minimum: float, maximum: float | None = None) -> Checker:
    def check(value: object) -> str | None:
        if type(value) not in (int, float):
            return "must be a number"
        assert isinstance(value, int | float)
        if value < minimum or (maximum is not None and value > maximum):
            return (
                f"must be between {minimum} and {maximum}" if maximum is not None else f"must be >= {minimum}"
            )
        return None

    return check


def enum(allowed: Collection[str]) -> Checker:
    choices = frozenset(allowed)
    shown = ", ".join(sorted(choices))

    def check(value: object) -> str | None:
        if type(value) is not str or value not in choices:
            return f"must be one of {shown}"
        return None

    return check


def list_of(item: Checker) -> Checker:
    """A non-empty JSON array whose items all pass ``item`` (STIX lists MUST NOT be empty)."""

    def check(value: object) -> str | None:
        if type(value) is not list:
            return "must be a list"
        if not value:
            return "must not be an empty list"
        for i, v in enumerate(value):
            err = item(v)
            if err is not None:
                return f"item {i} {err}"
        return None

    return check


STRING_LIST = list_of(check_string)


def _describe(types: Collection[str]) -> str:
    names = sorted(types)
    return "'" + "' or '".join(names) + "'" if len(names) < 5 else "one of " + ", ".join(names)


def ref(types: Collection[str] | None = None, *, not_types: Collection[str] = ()) -> Checker:
    """An identifier; of one of ``types`` when given, and of none of ``not_types``."""
    allowed = frozenset(types) if types is not None else None
    banned = frozenset(not_types)
    want = f"an identifier of type {_describe(allowed)}" if allowed is not None else "an identifier"

    def check(value: object) -> str | None:
        t = id_type(value)
        if t is None:
            return f"must be {want} ('type--uuid'), not {str(value)[:80]!r}"
        if (allowed is not None and t not in allowed) or t in banned:
            return f"must be {want}, not a '{t}'"
        return None

    return check


def refs(types: Collection[str] | None = None, *, not_types: Collection[str] = ()) -> Checker:
    return list_of(ref(types, not_types=not_types))


#: How many valid values a :func:`known_ref` checker remembers.
KNOWN_REFS_MAX = 4096


def known_ref(types: Collection[str]) -> Checker:
    """:func:`ref` for properties whose values repeat across objects (created_by_ref, marking refs).

    Valid values are remembered (up to :data:`KNOWN_REFS_MAX`), so a repeated value costs one set lookup.
    Only values that passed the full check are remembered, so the memo can never let a bad value through.
    """
    full = ref(types)
    known: set[str] = set()

    def check(value: object) -> str | None:
        if type(value) is not str:
            return full(value)
        if value in known:
            return None
        err = full(value)
        if err is None and len(known) < KNOWN_REFS_MAX:
            known.add(value)
        return err

    return check


def check_hashes(value: object) -> str | None:
    """STIX 2.1 hashes: keys 3-250 of [a-zA-Z0-9_-], string values; spec algorithms checked as hex."""
    if not isinstance(value, Mapping):
        return "must be a JSON object of hash name to value"
    if not value:
        return "must not be empty"
    for name, digest in value.items():
        if type(name) is not str or _HASH_KEY_RE.fullmatch(name) is None:
            return f"has an invalid hash name {str(name)[:60]!r}"
        if type(digest) is not str:
            return f"'{name}' must be a string"
        length = _HASH_HEX_LENGTHS.get(name)
        if length is not None and (len(digest) != length or _HEX_RE.fullmatch(digest) is None):
            return f"'{name}' is not a valid {name} hash"
    return None


def embedded(
    props: Mapping[str, Checker],
    required: Collection[str] = (),
    *,
    at_least_one: Collection[str] = (),
    exactly_one: Collection[str] = (),
    closed: bool = False,
) -> Checker:
    """A JSON object with the given properties (embedded types such as external-reference)."""

    def check(value: object) -> str | None:
        if not isinstance(value, Mapping):
            return "must be a JSON object"
        for name in required:
            if name not in value:
                return f"is missing '{name}'"
        for name, v in value.items():
            c = props.get(name)
            if c is None:
                if closed:
                    return f"has unknown property {str(name)[:60]!r}"
                continue
            err = c(v)
            if err is not None:
                return f"'{name}' {err}"
        if at_least_one and not any(name in value for name in at_least_one):
            return "needs one of " + ", ".join(f"'{n}'" for n in at_least_one)
        if exactly_one and sum(name in value for name in exactly_one) != 1:
            return "needs exactly one of " + ", ".join(f"'{n}'" for n in exactly_one)
        return None

    return check


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4_RE = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}(?:/(?:3[0-2]|[12]?[0-9]))?", re.ASCII)
_MAC_RE = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}", re.ASCII)


def check_ipv4_value(value: object) -> str | None:
    """An IPv4 address or CIDR block (section 6.13)."""
    if type(value) is not str or _IPV4_RE.fullmatch(value) is None:
        return f"must be an IPv4 address or CIDR block, not {str(value)[:60]!r}"
    return None


def check_ipv6_value(value: object) -> str | None:
    """An IPv6 address or CIDR block (section 6.14)."""
    if type(value) is str and "%" not in value:
        try:
            ipaddress.IPv6Network(value, strict=False)
        except ValueError:
            pass
        else:
            return None
    return f"must be an IPv6 address or CIDR block, not {str(value)[:60]!r}"


def check_mac_value(value: object) -> str | None:
    """A colon-delimited, lower-case MAC-48 address with leading zeros (section 6.15)."""
    if type(value) is not str or _MAC_RE.fullmatch(value) is None:
        return f"must be a lower-case, colon-delimited MAC-48 address, not {str(value)[:60]!r}"
    return None


def check_dictionary_of_strings(value: object) -> str | None:
    if not isinstance(value, Mapping) or not value:
        return "must be a non-empty JSON object"
    for k, v in value.items():
        if type(v) is not str:
            return f"'{k}' must be a string"
    return None
