"""The fast pattern recogniser agrees with stix2-patterns (the OASIS grammar): it never accepts what the
reference rejects, and it does accept the common simple forms."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kizuna.stix._pattern import FAST_MAX_CHARS, fast_accepts, pattern_error, reference_error

SHA256 = "aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f"
MD5 = "d41d8cd98f00b204e9800998ecf8427e"

COMMON = [
    f"[file:hashes.'SHA-256' = '{SHA256}']",
    f"[file:hashes.MD5 = '{MD5}']",
    f"[file:hashes.md5 = '{MD5.upper()}']",
    "[file:hashes.SSDEEP = '3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C']",
    "[file:hashes.TLSH = 'T1A0F0A1']",
    f"[file:hashes.'SHA-1' = '{'a' * 40}' OR file:hashes.'SHA-256' = '{SHA256}']",
    "[ipv4-addr:value = '198.51.100.1/32']",
    "[ipv4-addr:value = '198.51.100.1'] OR [ipv4-addr:value = '203.0.113.33']",
    "[ipv6-addr:value = '2001:db8::1']",
    "[domain-name:value = 'evil.example.com'] AND [url:value = 'http://evil.example.com/x']",
    "[url:value = 'https://example.com/a?b=c&d=%20']",
    "[email-addr:value = 'phish@example.com']",
    "[file:name = 'invoice.pdf.exe' AND file:size = 25536]",
    "[file:size >= 1024 AND file:size < 2048]",
    "[file:name LIKE '%.exe' OR file:name MATCHES '^inv[0-9]+']",
    "[email-message:to_refs[*].value = 'x@example.com']",
    "[network-traffic:dst_ref.value = '198.51.100.7' AND network-traffic:dst_port = 443]",
    "[windows-registry-key:key = 'HKEY_LOCAL_MACHINE\\\\System\\\\Foo']",
    "[file:name = 'it\\'s']",
    "[x-acme-device:serial = 'A-1'] FOLLOWEDBY [x-acme-device:state != 'ok']",
    "[process:pid = -1]",
    "[software:name = '日本語']",
    "[artifact:mime_type = 'application/zip' AND artifact:payload_bin = 'x']",
    "[user-account:is_privileged = true]",
    "[network-traffic:dst_ref.value = '198.51.100.7'] WITHIN 300 SECONDS",
    "[file:name = 'a.exe'] REPEATS 5 TIMES WITHIN 60 SECONDS AND [url:value = 'http://x.example/']",
    "[ipv4-addr:value ISSUBSET '198.51.100.0/24']",
    "([ipv4-addr:value = '198.51.100.7'] OR [domain-name:value = 'a.example'])"
    " AND [url:value = 'x'] REPEATS 2 TIMES",
    "([file:name = 'a'] FOLLOWEDBY [file:name = 'b']) WITHIN 60 SECONDS",
]

INVALID = [
    "",
    "[",
    "[]",
    "file:name = 'x'",
    "[file:name = 'x'",
    "[file:name = 'x']]",
    "[file:size = 01]",
    "[file:true = 1]",
    "[file:AND = 'x']",
    "[file:hashes.MD5 = 'abc']",
    f"[file:hashes.'SHA-256' = '{SHA256}0']",
    "[file:x[01] = 'x']",
    "[file:name = 'x' and file:size = 1]",
    "[file:size > true]",
    "[file:name = 'it's']",
    "[file:name = 'x'] WITHIN 5 MINUTES",
    "[file:name = 'x'] [file:name = 'y']",
]


@pytest.mark.parametrize("pattern", COMMON)
def test_common_forms_take_the_fast_path_and_are_valid(pattern: str) -> None:
    assert fast_accepts(pattern)
    assert reference_error(pattern) is None


@pytest.mark.parametrize("pattern", INVALID)
def test_invalid_patterns_are_rejected_by_both(pattern: str) -> None:
    assert not fast_accepts(pattern)
    assert reference_error(pattern) is not None
    assert pattern_error(pattern) == reference_error(pattern)


def test_reference_handles_what_fast_path_skips() -> None:
    for pattern in (
        "[file:name = 'x'] WITHIN 5.5 SECONDS",
        "[file:name NOT = 'x']",
        "[file:name IN ('a', 'b')]",
        "[ file : name = 'x' ]",
        "[file:size = 1.5]",
        "(([file:name = 'x'] OR [file:name = 'y'])) REPEATS 2 TIMES",
        "[file:created = t'2016-01-01T00:00:00Z']",
        "[file:name = 'x'] START t'2016-01-01T00:00:00Z' STOP t'2016-01-02T00:00:00Z'",
    ):
        assert not fast_accepts(pattern)
        assert pattern_error(pattern) is None


def test_long_patterns_go_to_the_reference() -> None:
    long = " OR ".join(["[url:value = 'http://example.com/']"] * (FAST_MAX_CHARS // 30))
    assert not fast_accepts(long)
    assert pattern_error(long) is None


# ---- generated patterns: a grammar wider than the recogniser's, with noise -------------------------------

_spaces = st.sampled_from(["", " ", " ", "  ", "\t", "\n"])
_types = st.sampled_from(
    [
        *("file", "ipv4-addr", "domain-name", "url", "x-acme-thing", "network-traffic", "a", "t", "h", "b"),
        *("AND", "File", "ab-", "true", "x_y", "1abc", "ipv4--addr", "-x", "IN", "a.b"),
    ]
) | st.from_regex(r"[a-zA-Z_-][a-zA-Z0-9_-]{0,5}", fullmatch=True)
_idents = st.sampled_from(
    [
        *("value", "name", "hashes", "size", "dst_ref", "MD5", "Md5", "SHA256", "sha1", "SHA3512", "SHA-256"),
        *("AND", "OR", "true", "false", "IN", "LIKE", "START", "x-y", "_x", "9a", "ISSUBSET", "TIMES", "b"),
    ]
) | st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,5}", fullmatch=True)
_text = st.text(alphabet=st.sampled_from(list("ab'\\\n\t %_.-\u00e9\u65e5\u0000")), max_size=6)
_quoted = st.one_of(
    st.sampled_from(["'SHA-256'", "'MD5'", "'SHA-1'", "'hashes'", "'x y'", "'SHA3-256'"]),
    _text.map(lambda t: f"'{t}'"),
)
_index = st.sampled_from(["[*]", "[0]", "[12]", "[01]", "[-1]", "[x]", "[ 0 ]"])
_component = st.one_of(_idents.map(lambda i: "." + i), _quoted.map(lambda q: "." + q), _index)
_path = st.builds(
    lambda t, first, rest: f"{t}:{first}{''.join(rest)}",
    _types,
    st.one_of(_idents, _quoted),
    st.lists(_component, max_size=3),
)
_hexes = st.sampled_from([32, 31, 40, 56, 64, 65, 96, 128]).flatmap(
    lambda n: st.text(alphabet=st.sampled_from(list("0123456789abcdefABCDEFg")), min_size=n, max_size=n)
)
_literal = st.one_of(
    _text.map(lambda t: f"'{t}'"),
    _hexes.map(lambda h: f"'{h}'"),
    st.sampled_from(["0", "1", "-1", "01", "-0", "00", "1.5", "-2.0", "true", "false", "True", "FALSE"]),
    st.sampled_from(["t'2016-01-01T00:00:00Z'", "t'2016-01-01'", "h'ab'", "b'YQ=='", "('a', 'b')", "()"]),
    st.integers(-(10**12), 10**12).map(str),
)
_op = st.sampled_from(
    [
        "=",
        "!=",
        "<",
        ">",
        "<=",
        ">=",
        "==",
        "=<",
        " LIKE ",
        " MATCHES ",
        "LIKE",
        " IN ",
        " NOT = ",
        " ISSUBSET ",
    ]
)
_test = st.builds(lambda p, s1, o, s2, v: f"{p}{s1}{o}{s2}{v}", _path, _spaces, _op, _spaces, _literal)
_joiner = st.sampled_from([" AND ", " OR ", "AND", " and ", " && ", " FOLLOWEDBY ", "  OR  ", "\nAND\n"])


@st.composite
def _comparison(draw: st.DrawFn) -> str:
    tests = draw(st.lists(_test, min_size=1, max_size=3))
    out = tests[0]
    for t in tests[1:]:
        out += draw(_joiner) + t
    return out


_clean_types = st.sampled_from(
    [*("file", "ipv4-addr", "domain-name", "url", "x-acme-thing") * 4, "true", "x-"]
)
_clean_idents = st.sampled_from(
    [
        *("value", "name", "size", "dst_ref", "x_acme_id") * 4,
        "hashes",
        "MD5",
        "IN",
        "SSDEEP",
        "TLSH",
        "sha384",
    ]
)
_clean_quoted = st.sampled_from(
    [*("'SHA-256'", "'x y'", "'a.b'") * 4, "'it\\'s'", "'a\\b'", "'\\'", "'SHA3-512'", "'SHA-224'", "'tlsh'"]
)
_clean_index = st.sampled_from([*("[*]", "[0]", "[12]") * 3, "[01]"])
_safe_text = st.text(alphabet=st.sampled_from(list("abc %_.-/:\u00e9")), max_size=8)
_clean_literal = st.sampled_from(["safe"] * 8 + ["number"] * 3 + ["noisy"]).flatmap(
    lambda kind: {
        "safe": _safe_text.map(lambda t: f"'{t}'"),
        "number": st.sampled_from(
            [
                "0",
                "1",
                "-1",
                "42",
                "true",
                f"'{'a' * 32}'",
                f"'{'0' * 64}'",
                "'3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C'",
            ]
        ),
        "noisy": st.one_of(
            _text.map(lambda t: f"'{t}'"),
            _hexes.map(lambda h: f"'{h}'"),
            st.sampled_from(["01", "1.5", "--1"]),
        ),
    }[kind]
)
_clean_path = st.builds(
    lambda t, first, rest: f"{t}:{first}{''.join(rest)}",
    _clean_types,
    _clean_idents,
    st.lists(
        st.one_of(_clean_idents.map(lambda i: "." + i), _clean_quoted.map(lambda q: "." + q), _clean_index),
        max_size=2,
    ),
)
_clean_test = st.builds(
    lambda p, o, v: f"{p}{o}{v}",
    _clean_path,
    st.sampled_from([" = ", " != ", "=", " > ", " LIKE ", " ISSUBSET ", " ISSUPERSET ", "ISSUBSET "]),
    _clean_literal,
)


_qualifier = st.sampled_from(
    [
        *("",) * 20,
        *(" WITHIN 5 SECONDS", " WITHIN 0 SECONDS", " WITHIN 05 SECONDS", " WITHIN 1.5 SECONDS"),
        *(" REPEATS 2 TIMES", " REPEATS 2 TIMES WITHIN 60 SECONDS", " WITHIN 60 SECONDS REPEATS 2 TIMES"),
        *(" WITHIN 5 SECONDS WITHIN 6 SECONDS", " REPEATS 1 TIMES REPEATS 2 TIMES", " WITHIN 5 MINUTES"),
        *(" WITHIN -5 SECONDS", " REPEATS TIMES", " WITHIN  5  SECONDS", "WITHIN 5 SECONDS"),
    ]
)


@st.composite
def _clean_pattern(draw: st.DrawFn) -> str:
    """Mostly well-formed patterns close to what the fast path accepts."""
    observations = [
        "[" + " OR ".join(draw(st.lists(_clean_test, min_size=1, max_size=2))) + "]" + draw(_qualifier)
        for _ in range(draw(st.integers(1, 3)))
    ]
    if len(observations) > 1 and draw(st.booleans()):
        # parenthesise a run of observations, sometimes unbalanced or nested
        i = draw(st.integers(0, len(observations) - 2))
        j = draw(st.integers(i + 1, len(observations) - 1))
        observations[i] = draw(st.sampled_from(["(", "( ", "((", "(", "["])) + observations[i]
        observations[j] += draw(st.sampled_from([")", " )", "))", ")", ""])) + draw(_qualifier)
    return draw(st.sampled_from([" OR ", " AND ", " FOLLOWEDBY "])).join(observations)


@st.composite
def _noisy_pattern(draw: st.DrawFn) -> str:
    observations = [
        draw(st.sampled_from(["[", "[", "[", "(", ""]))
        + draw(_spaces)
        + draw(_comparison())
        + draw(_spaces)
        + draw(st.sampled_from(["]", "]", "]", ")", ""]))
        for _ in range(draw(st.integers(1, 3)))
    ]
    out = observations[0]
    for o in observations[1:]:
        out += draw(_joiner) + o
    out += draw(st.sampled_from(["", "", "", " WITHIN 5 SECONDS", "\n", " ", "]"]))
    if draw(st.booleans()) and out:
        # a random edit anywhere: insert, delete or replace one character
        i = draw(st.integers(0, len(out) - 1))
        c = draw(st.sampled_from(list("[]()':.= -_aA0\\")))
        kind = draw(st.sampled_from(["insert", "delete", "replace"]))
        out = {
            "insert": out[:i] + c + out[i:],
            "delete": out[:i] + out[i + 1 :],
            "replace": out[:i] + c + out[i + 1 :],
        }[kind]
    return out


def _pattern() -> st.SearchStrategy[str]:
    return st.one_of(_clean_pattern(), _clean_pattern(), _noisy_pattern())


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_pattern())
def test_fast_path_never_accepts_what_stix2_patterns_rejects(pattern: str) -> None:
    accepted = fast_accepts(pattern)
    reference = reference_error(pattern)
    event("fast accepts" if accepted else ("reference accepts" if reference is None else "both reject"))
    if accepted:
        assert reference is None, f"fast path accepted {pattern!r}, stix2-patterns says {reference}"


def test_generator_exercises_both_outcomes() -> None:
    """The generated patterns include many the fast path accepts and many the reference rejects."""
    accepted = rejected = 0

    @settings(max_examples=300, deadline=None, database=None, derandomize=True)
    @given(_pattern())
    def count(pattern: str) -> None:
        nonlocal accepted, rejected
        accepted += fast_accepts(pattern)
        rejected += reference_error(pattern) is not None

    count()
    assert accepted >= 20
    assert rejected >= 100


_hash_paths = st.sampled_from(
    [
        *("file:hashes", "artifact:hashes", "x509-certificate:hashes", "file:extensions.'ntfs-ext'.hashes"),
        *("file:extensions.'windows-pebinary-ext'.sections[*].hashes", "file:'hashes'", "file:x_hashes"),
    ]
)
_hash_names = st.sampled_from(
    [
        *(
            "MD5",
            "md5",
            "'MD5'",
            "'SHA-1'",
            "SHA1",
            "'sha-256'",
            "SHA256",
            "'SHA3-256'",
            "'SHA-224'",
            "SHA384",
        ),
        *("'SHA-512'", "'SHA3-512'", "SSDEEP", "ssdeep", "TLSH", "'tlsh'", "MD6", "WHIRLPOOL", "RIPEMD160"),
        *("X_CUSTOM", "'SHA-3-256'", "[0]", "[*]"),
    ]
)
_hash_values = st.one_of(
    _hexes,
    st.text(alphabet=st.sampled_from(list("abcXYZ0189/+:.")), min_size=0, max_size=130),
    st.sampled_from(
        ["3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C", "T1A0F0A1", "", "x'y", "a\\\\b", MD5 + "\n"]
    ),
)


@settings(max_examples=400, deadline=None)
@given(_hash_paths, _hash_names, st.sampled_from([" = ", " != ", " LIKE ", " > "]), _hash_values)
def test_hash_comparisons_agree(path: str, name: str, op: str, value: str) -> None:
    """Hash values are checked by stix2-patterns; the fast path must never accept one it refuses."""
    sep = "" if name.startswith("[") else "."
    pattern = f"[{path}{sep}{name}{op}'{value}']"
    if fast_accepts(pattern):
        assert reference_error(pattern) is None, pattern
