"""STIX 2.1 indicator patterns: a fast, strict recogniser in front of ``stix2-patterns``.

``stix2-patterns`` (the OASIS ANTLR grammar) is the authority; it takes 0.2-0.4 ms a pattern. Most patterns
in feeds are a few simple comparisons, ``[type:path = 'value']`` joined by AND/OR/FOLLOWEDBY, with at most a
REPEATS and a WITHIN qualifier and one level of parentheses, so :func:`fast_accepts` recognises exactly that
subset with one regular expression. It only ever *accepts*: anything it does not recognise (START/STOP,
nested parentheses, NOT, IN, whitespace other than spaces, comments, floats, hashes it cannot check...) goes
to :func:`reference_error`, whose answers are cached by pattern text. ``tests/stix/test_pattern.py`` checks
over generated patterns, valid and invalid, that every pattern the recogniser accepts is accepted by
``stix2-patterns``.
"""

from __future__ import annotations

import re
from functools import lru_cache

#: Longest pattern the recogniser looks at; longer ones go to stix2-patterns.
FAST_MAX_CHARS = 8192

# Every keyword of the v2.1 lexer (case-sensitive there); an identifier equal to one lexes as the keyword.
_KEYWORDS = (
    "AND|OR|NOT|FOLLOWEDBY|LIKE|MATCHES|ISSUPERSET|ISSUBSET|EXISTS|LAST|IN|START|STOP|SECONDS"
    "|true|false|WITHIN|REPEATS|TIMES"
)
_IDENT = rf"(?!(?:{_KEYWORDS})(?![A-Za-z0-9_]))[A-Za-z_][A-Za-z0-9_]*"
_STR = r"'(?:[^'\\]|\\['\\])*'"
_INT = r"-?(?:0|[1-9][0-9]*)"
_TYPE = r"(?!(?:true|false)(?![a-z0-9-]))[a-z][a-z0-9]*(?:-[a-z0-9]+)*"
_PATH = rf"{_TYPE}:(?:{_IDENT}|{_STR})(?:\.(?:{_IDENT}|{_STR})|\[(?:\*|0|[1-9][0-9]*)\])*"
_TEST = (
    rf"(?P<path>{_PATH})(?:"
    rf" *(?:=|!=) *(?P<eq>{_STR}|{_INT}|true|false)"
    rf"| *(?:<=|>=|<|>) *(?P<ord>{_STR}|{_INT})"
    rf"| +(?:LIKE|MATCHES|ISSUBSET|ISSUPERSET) +(?P<like>{_STR})"
    r")"
)
_TEST_NOGROUPS = re.sub(r"\(\?P<[a-z]+>", "(?:", _TEST)
_CMP = rf"{_TEST_NOGROUPS}(?: +(?:AND|OR) +{_TEST_NOGROUPS})*"
_QUALIFIERS = r"(?: +REPEATS +(?:0|[1-9][0-9]*) +TIMES)?(?: +WITHIN +(?:0|[1-9][0-9]*) +SECONDS)?"
_OBS = rf"\[ *{_CMP} *\]{_QUALIFIERS}"
_OBS_OP = r" +(?:AND|OR|FOLLOWEDBY) +"
# One level of parentheses: ``([a] OR [b]) AND [c] REPEATS 2 TIMES``.
_GROUP = rf"\( *{_OBS}(?:{_OBS_OP}{_OBS})* *\){_QUALIFIERS}"
_ELEMENT = rf"(?:{_OBS}|{_GROUP})"
_PATTERN_RE = re.compile(rf"{_ELEMENT}(?:{_OBS_OP}{_ELEMENT})*", re.ASCII)
_TEST_RE = re.compile(_TEST, re.ASCII)

# How stix2-patterns checks hash values, by hash name upper-cased with '-' removed; None: it does not check.
# Names missing here send the pattern to stix2-patterns.
_HASH_VALUE_RES: dict[str, re.Pattern[str] | None] = {
    "MD5": re.compile(r"[0-9a-fA-F]{32}"),
    "SHA1": re.compile(r"[0-9a-fA-F]{40}"),
    "SHA224": re.compile(r"[0-9a-fA-F]{56}"),
    "SHA256": re.compile(r"[0-9a-fA-F]{64}"),
    "SHA384": re.compile(r"[0-9a-fA-F]{96}"),
    "SHA512": re.compile(r"[0-9a-fA-F]{128}"),
    "SHA3256": re.compile(r"[0-9a-fA-F]{64}"),
    "SHA3512": re.compile(r"[0-9a-fA-F]{128}"),
    "SSDEEP": re.compile(r"[a-zA-Z0-9/+:.]{1,128}"),
    "TLSH": None,
}


def _hashes_ok(pattern: str) -> bool:
    """Every comparison on a ``hashes`` path names a known hash and compares it with a well-formed value."""
    for m in _TEST_RE.finditer(pattern):
        path = m.group("path")
        if "hashes" not in path.lower():
            continue
        last = path.rsplit(".", 1)[-1] if "." in path else ""
        name = last.strip("'").upper().replace("-", "")
        if name not in _HASH_VALUE_RES:
            return False
        check = _HASH_VALUE_RES[name]
        if check is None:
            continue
        value = m.group("eq") or m.group("ord") or m.group("like")
        if value is None or not value.startswith("'") or check.fullmatch(value[1:-1]) is None:
            return False
    return True


def fast_accepts(pattern: str) -> bool:
    """True only for patterns in the simple subset that are certainly valid STIX 2.1 patterns."""
    if len(pattern) > FAST_MAX_CHARS or _PATTERN_RE.fullmatch(pattern) is None:
        return False
    return "hashes" not in pattern.lower() or _hashes_ok(pattern)


#: Patterns longer than this are checked by stix2-patterns each time rather than cached (bounds memory).
CACHE_MAX_CHARS = 4096


def _run_reference(pattern: str) -> str | None:
    from stix2patterns.validator import run_validator

    try:
        errors = run_validator(pattern, stix_version="2.1")
    except Exception as exc:  # the library raises on some inputs (e.g. an empty pattern)
        return f"stix2-patterns failed on it ({type(exc).__name__})"
    if not errors:
        return None
    first = str(errors[0])
    return first[6:] if first.startswith("FAIL: ") else first


_cached_reference = lru_cache(maxsize=8192)(_run_reference)


def reference_error(pattern: str) -> str | None:
    """The first error ``stix2-patterns`` reports for ``pattern`` (without its ``FAIL:`` prefix), or None."""
    if len(pattern) > CACHE_MAX_CHARS:
        return _run_reference(pattern)
    return _cached_reference(pattern)


def pattern_error(pattern: str) -> str | None:
    """None if ``pattern`` is a valid STIX 2.1 pattern, else the reason."""
    if fast_accepts(pattern):
        return None
    return reference_error(pattern)
