"""Pattern parsing and evaluation details beyond the stix2-matcher suite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib import resources

import pytest

from kizuna.detect.evaluator import ObservedData, find_binding, network_contains
from kizuna.detect.index import ComparisonIndex
from kizuna.detect.matcher import Event, Matcher
from kizuna.detect.pattern import (
    Observation,
    PatternError,
    PatternSyntaxError,
    Repeats,
    antlr_parse,
    fast_parse,
    parse_pattern,
)

T0 = datetime(2026, 2, 1, tzinfo=UTC)


def _spec_examples() -> list[str]:
    text = resources.files("stix2patterns").joinpath("test", "v21", "spec_examples.txt").read_text()
    return [line for line in text.splitlines() if line.strip()]


def test_stix_spec_examples_parse_and_fast_path_agrees() -> None:
    """The STIX 2.1 specification's example patterns (shipped with stix2-patterns)."""
    examples = _spec_examples()
    assert len(examples) >= 20
    fast_taken = 0
    for text in examples:
        full = antlr_parse(text)
        fast = fast_parse(text)
        if fast is not None:
            fast_taken += 1
            assert fast == full, text
        assert parse_pattern(text) == full
    assert fast_taken >= 5


@pytest.mark.parametrize(
    "text",
    [
        "[ipv4-addr:value = ]",
        "[ipv4-addr:value = '1.2.3.4'",
        "ipv4-addr:value = '1'",
        "[a:b = 'x'] WITHIN -1 SECONDS",
    ],
)
def test_syntax_errors(text: str) -> None:
    with pytest.raises(PatternSyntaxError):
        parse_pattern(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[a:b = 'x'] WITHIN 0 SECONDS", "WITHIN"),
        ("[a:b = 'x'] REPEATS 0 TIMES", "repetition"),
        ("[a:b IN (1, 'x')]", "mixes types"),
        ("[a:b MATCHES '(']", "regular expression"),
    ],
)
def test_semantic_errors(text: str, message: str) -> None:
    with pytest.raises(PatternError, match=message):
        parse_pattern(text)


def test_qualifiers_bind_to_the_nearest_observation() -> None:
    expr = parse_pattern("[a:b = 'x'] AND [a:c = 'y'] REPEATS 2 TIMES")
    assert not isinstance(expr, Repeats)  # AND of [x] and ([y] REPEATS 2)
    assert isinstance(parse_pattern("([a:b = 'x'] AND [a:c = 'y']) REPEATS 2 TIMES"), Repeats)


def test_ipv6_and_ipv4_subsets() -> None:
    assert network_contains("2001:db8::/32", "2001:db8:1::9")
    assert not network_contains("2001:db8::/48", "2001:db8:1::9")
    assert network_contains("2001:db8::/32", "2001:db8:ff::/48")
    assert not network_contains("10.0.0.0/8", "2001:db8::1")  # families never contain each other
    assert not network_contains("10.0.0.0/8", "not an address")
    index = ComparisonIndex()
    leaf = index.add(parse_pattern("[ipv6-addr:value ISSUBSET '2001:db8::/32']").comparison)  # type: ignore[union-attr]
    roots = [{"type": "ipv6-addr", "value": "2001:db8::7"}]
    assert index.match(roots, {}) == [leaf]
    assert index.match([{"type": "ipv6-addr", "value": "2001:db9::7"}], {}) == []


def _obs(seconds: int, count: int = 1) -> ObservedData:
    t = T0 + timedelta(seconds=seconds)
    return ObservedData(t, t, count, {}, [{"type": "x-event", "n": seconds}])


def test_observation_operators() -> None:
    observations = [_obs(0), _obs(10), _obs(20, count=2)]
    cases = {
        "[x-event:n = 0] FOLLOWEDBY [x-event:n = 10]": [0, 1],
        "[x-event:n = 10] FOLLOWEDBY [x-event:n = 0]": None,
        "([x-event:n = 0] AND [x-event:n = 20]) WITHIN 20 SECONDS": [0, 2],
        "([x-event:n = 0] AND [x-event:n = 20]) WITHIN 19 SECONDS": None,
        "[x-event:n = 20] REPEATS 2 TIMES": [2],  # number_observed 2 counts twice
        "[x-event:n = 20] REPEATS 3 TIMES": None,
        "[x-event:n >= 0] REPEATS 4 TIMES": [0, 1, 2],
        "[x-event:n = 10] START t'2026-02-01T00:00:10Z' STOP t'2026-02-01T00:00:11Z'": [1],
        "[x-event:n = 10] START t'2026-02-01T00:00:00Z' STOP t'2026-02-01T00:00:10Z'": None,  # STOP excluded
        "[x-event:n = 99] OR [x-event:n = 0]": [0],
    }
    for text, expected in cases.items():
        assert find_binding(parse_pattern(text), observations) == expected, text


def test_matcher_compound_patterns_over_a_stream() -> None:
    m = Matcher(max_events_per_pattern=3)
    m.add(
        "seq",
        "([domain-name:value = 'a.example'] FOLLOWEDBY [ipv4-addr:value = '185.225.17.44'])"
        " WITHIN 60 SECONDS",
    )
    m.add("burst", "[ipv4-addr:value = '185.225.17.45'] REPEATS 3 TIMES WITHIN 10 SECONDS")
    m.add("single", "[ipv4-addr:value = '185.225.17.44']")

    def ev(n: int, seconds: int, stype: str, value: str) -> Event:
        return Event("s.log", n, T0 + timedelta(seconds=seconds), {"0": {"type": stype, "value": value}})

    stream = [
        ev(1, 0, "ipv4-addr", "185.225.17.44"),  # before the lookup: does not complete the sequence
        ev(2, 5, "domain-name", "a.example"),
        ev(3, 70, "ipv4-addr", "185.225.17.44"),  # too late
        ev(4, 80, "ipv4-addr", "185.225.17.45"),
        ev(5, 85, "ipv4-addr", "185.225.17.45"),
        ev(6, 89, "ipv4-addr", "185.225.17.45"),
        ev(7, 95, "ipv4-addr", "185.225.17.45"),  # beyond max_events_per_pattern: counted, not kept
    ]
    singles = [h for e in stream for h in m.feed(e)]
    assert [(h.key, h.events[0].line) for h in singles] == [("single", 1), ("single", 3)]
    compound = {h.key: sorted(e.line for e in h.events) for h in m.finish()}
    assert compound == {"burst": [4, 5, 6]}
    assert m.dropped_events == {"burst": 1}


def test_equal_literals_of_different_types_stay_apart() -> None:
    one, true = parse_pattern("[x:v = 1]"), parse_pattern("[x:v = true]")
    assert isinstance(one, Observation) and isinstance(true, Observation)
    assert one != true
    index = ComparisonIndex()
    a, b = index.add(one.comparison), index.add(true.comparison)
    assert a != b
    assert index.match([{"type": "x", "v": True}], {}) == [b]
    assert index.match([{"type": "x", "v": 1.0}], {}) == [a]


def test_hash_literals_are_lowered_for_matching() -> None:
    from datetime import UTC as _UTC

    from kizuna.detect.indicators import select_indicators

    from .conftest import indicator

    upper = "0CC175B9C0F1B6A831C399E269772661"
    obj = indicator(f"[file:hashes.MD5 = '{upper}' OR file:name = 'AB']", n=1)
    (ind,) = select_indicators([obj], now=datetime(2026, 2, 1, tzinfo=_UTC), warninglists=None).active
    m = Matcher()
    m.add(ind.id, ind.expr)
    lower_file = {"0": {"type": "file", "hashes": {"MD5": upper.lower()}}}
    assert [h.key for h in m.feed(Event("f.log", 1, T0, lower_file))] == [ind.id]
    named = {"0": {"type": "file", "name": "ab"}}  # names are not hashes: compared exactly
    assert m.feed(Event("f.log", 2, T0, named)) == []


def test_observed_data_counts_feed_repeats() -> None:
    """A STIX record seen twice (number_observed 2) satisfies REPEATS 2 TIMES on its own."""
    m = Matcher()
    m.add("twice", "[ipv4-addr:value = '185.225.17.44'] REPEATS 2 TIMES")
    obj = {"0": {"type": "ipv4-addr", "value": "185.225.17.44"}}
    m.feed(Event("od.json", 1, T0, obj, count=1))
    assert m.finish() == []
    m2 = Matcher()
    m2.add("twice", "[ipv4-addr:value = '185.225.17.44'] REPEATS 2 TIMES")
    m2.feed(Event("od.json", 1, T0, obj, count=2, last=T0 + timedelta(seconds=5)))
    assert [h.key for h in m2.finish()] == ["twice"]


def test_binding_search_is_bounded() -> None:
    """A search that would take quadratic time stops at its step limit and says so."""
    m = Matcher(max_search_steps=20_000)
    m.add("burst", "[ipv4-addr:value = '185.225.17.44'] REPEATS 5 TIMES WITHIN 1 SECONDS")
    obj = {"0": {"type": "ipv4-addr", "value": "185.225.17.44"}}
    for i in range(2_000):  # one a minute: never 5 within a second
        m.feed(Event("s.log", i + 1, T0 + timedelta(minutes=i), obj))
    assert m.finish() == []
    assert "gave up after 20,000 steps" in m.undecided["burst"]
    small = Matcher(max_search_steps=20_000)
    small.add("burst", "[ipv4-addr:value = '185.225.17.44'] REPEATS 5 TIMES WITHIN 1 SECONDS")
    for i in range(50):
        small.feed(Event("s.log", i + 1, T0 + timedelta(minutes=i), obj))
    assert small.finish() == [] and small.undecided == {}  # decided: no burst
