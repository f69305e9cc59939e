"""The one place ingest writes STIX patterns: from typed values it has already checked.

:func:`comparison_pattern` quotes and joins; it never parses. ``tests/ingest/test_patterns.py`` checks on
random values (hypothesis) that every pattern it writes parses with ``stix2-patterns`` and compares the
very values given, so the hot path does not parse what it wrote. Patterns received from outside (a STIX
bundle) are parsed by the hub's validator as usual.
"""

from __future__ import annotations

from collections.abc import Sequence

Comparison = tuple[str, "str | int"]


def literal(value: str | int) -> str:
    """A STIX pattern literal: integers as written, strings quoted with ``\\`` and ``'`` escaped.

    >>> literal("O'Brien\\\\x")
    "'O\\\\'Brien\\\\\\\\x'"
    >>> literal(443)
    '443'
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def comparison_pattern(comparisons: Sequence[Comparison]) -> str:
    """One observation expression: every ``path = value`` joined with AND.

    >>> comparison_pattern([("file:name", "a.exe"), ("file:hashes.MD5", "d41d8cd98f00b204e9800998ecf8427e")])
    "[file:name = 'a.exe' AND file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']"
    """
    if not comparisons:
        raise ValueError("a pattern needs at least one comparison")
    return "[" + " AND ".join(f"{path} = {literal(value)}" for path, value in comparisons) + "]"
