"""JSON as kizuna receives it: parsed without losing numbers, and the limits on one object.

:func:`loads` parses with orjson, which reads integers beyond 64 bits as floats (``2**64 + 1`` would come back
as ``1.8446744073709552e+19``). When the text holds a run of 19 or more digits where a number can stand (the
only way to write such an integer; digits inside a hash or an id do not count) it parses again with the
standard library, which keeps every integer exact; the limits below then refuse the object instead of
storing a changed number.

:func:`limit_error` checks one received object against :class:`ObjectLimits` (RFC 7493, I-JSON: integers
within +-(2**53 - 1), finite numbers; and kizuna's own bounds on nesting depth, members and string length).
It is called by the intake on every object, whatever path it came by, and refuses that object alone. A fast
path answers from the serialised bytes when they cannot break any limit; :func:`walk_limit_error` is the
plain reference it falls back to (and that tests compare it with).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import orjson

#: The largest integer magnitude of I-JSON (RFC 7493 section 2.2): 2**53 - 1.
MAX_SAFE_INTEGER = 2**53 - 1

#: Every byte to a space but the ten digits (to "0") and the bytes a JSON number can follow (to "+": ``:``
#: ``[`` ``,``, white space, and the ``-`` of a negative number): a number of N digits becomes b"+" b"0" * N,
#: found by one fast substring search (a regular expression scanning for digit runs costs several times
#: more). Digits inside a string after a letter or a quote (hashes, ids) are no number and are not found.
_DIGITS = bytes(0x30 if 0x30 <= b <= 0x39 else 0x2B if b in b":[,- \t\r\n" else 0x20 for b in range(256))
_19_DIGITS = b"+" + b"0" * 19  # the shortest integer beyond 64 bits (2**63 has 19 digits)
_16_DIGITS = b"+" + b"0" * 16  # the shortest integer beyond I-JSON's range (2**53 has 16 digits)


_NUMBER_START = frozenset(b"-0123456789"[i : i + 1] for i in range(11))


def _long_number(raw: bytes, marks: bytes) -> bool:
    """Whether ``raw`` may hold a number of as many digits as ``marks`` (one of the two above) shows: a
    number found after a separator, or a text that is a number itself."""
    if marks in raw.translate(_DIGITS):
        return True
    first = raw[:1]
    if first and first in b" \t\r\n":
        first = raw.lstrip()[:1]
    return first in _NUMBER_START


@dataclass(frozen=True, slots=True)
class ObjectLimits:
    """Bounds on one received object (documented in docs/stix-validation.md)."""

    max_depth: int = 64  # nested JSON objects and arrays, the object itself being level 1
    max_members: int = 200_000  # members and items at every level together (100,000 refs and more fit)
    max_string_chars: int = 8 * 1024 * 1024  # one string (a property name or value)


DEFAULT_LIMITS = ObjectLimits()


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _exact_int(text: str) -> int:
    # beyond 300 digits the exact value no longer matters (the object is refused): keep the cost bounded
    if len(text) > 301:
        return -(10**300) if text.startswith("-") else 10**300
    return int(text)


def loads(data: bytes | str) -> Any:
    """Parse JSON text; integers of any size come back exact (see the module docstring).

    Raises ``ValueError`` (``orjson.JSONDecodeError`` is one) when the text is not JSON.
    """
    raw = data.encode() if isinstance(data, str) else data
    value = orjson.loads(raw)
    if not _long_number(raw, _19_DIGITS):
        return value
    try:
        return json.loads(raw, parse_constant=_no_constant, parse_int=_exact_int)
    except RecursionError:
        return value  # nested too deep for the exact parser: orjson's reading stands (and is refused)


def walk_limit_error(obj: object, limits: ObjectLimits = DEFAULT_LIMITS) -> str | None:
    """The plain reference: visit every value of ``obj``; the first limit it breaks, or None."""
    members = 0
    stack: list[tuple[object, int]] = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            if depth > limits.max_depth:
                return f"is nested more than {limits.max_depth} levels deep"
            members += len(value)
            for k, v in value.items():
                if isinstance(k, str) and len(k) > limits.max_string_chars:
                    return f"has a property name longer than {limits.max_string_chars} characters"
                stack.append((v, depth + 1))
        elif isinstance(value, list):
            if depth > limits.max_depth:
                return f"is nested more than {limits.max_depth} levels deep"
            members += len(value)
            stack.extend((v, depth + 1) for v in value)
        elif isinstance(value, str):
            if len(value) > limits.max_string_chars:
                return f"has a string longer than {limits.max_string_chars} characters"
        elif isinstance(value, bool) or value is None:
            pass
        elif isinstance(value, int):
            if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
                return (
                    f"has the integer {_short(value)}, outside the I-JSON range +-(2**53 - 1) (RFC 7493);"
                    " send it as a string"
                )
        elif isinstance(value, float) and not math.isfinite(value):
            return "has a number that is not finite"
        if members > limits.max_members:
            return f"has more than {limits.max_members} members and items"
    return None


def limit_error(obj: object, raw: bytes | None, limits: ObjectLimits = DEFAULT_LIMITS) -> str | None:
    """The first limit ``obj`` breaks, or None. ``raw`` is its serialisation by orjson (or None): when its
    bytes show it cannot break a limit, nothing is walked."""
    if (
        raw is not None
        and len(raw) <= limits.max_string_chars
        and len(raw) < limits.max_members  # every member or item takes at least one byte
        and raw.count(b"{") + raw.count(b"[") <= limits.max_depth
        and b"null" not in raw  # orjson writes a non-finite float as null
        and not _long_number(raw, _16_DIGITS)
    ):
        return None
    return walk_limit_error(obj, limits)


def _short(value: int) -> str:
    text = str(value)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} digits)"
