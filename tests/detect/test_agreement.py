"""The fast paths agree with the plain references on seeded random patterns and events."""

from __future__ import annotations

import random

import pytest

from kizuna.detect.index import ComparisonIndex, scan
from kizuna.detect.matcher import Matcher, reference_matches
from kizuna.detect.pattern import (
    Observation,
    PatternError,
    antlr_parse,
    fast_parse,
    parse_pattern,
)

from . import randomgen

SEEDS = range(40)
PATTERNS_PER_SEED = 40
EVENTS_PER_SEED = 30


def _compile(rng: random.Random, n: int) -> dict[str, str]:
    patterns: dict[str, str] = {}
    while len(patterns) < n:
        text = randomgen.pattern(rng)
        try:
            parse_pattern(text)
        except PatternError:
            continue  # e.g. a random regex or literal the grammar rejects
        patterns[f"p{len(patterns)}"] = text
    return patterns


@pytest.mark.parametrize("seed", SEEDS)
def test_matcher_agrees_with_reference(seed: int) -> None:
    """40 seeds x 40 patterns = 1,600 random pattern cases, each over 30 random events."""
    rng = random.Random(seed)
    patterns = _compile(rng, PATTERNS_PER_SEED)
    events = [randomgen.event(rng, i + 1) for i in range(EVENTS_PER_SEED)]

    matcher = Matcher()
    for key, text in patterns.items():
        matcher.add(key, text)
    fast: dict[str, list[int]] = {}
    for i, e in enumerate(events):
        for hit in matcher.feed(e):
            fast.setdefault(hit.key, []).append(i)
    compound = {h.key: h for h in matcher.finish()}

    expected = reference_matches(patterns, events)
    for key, text in patterns.items():
        if isinstance(parse_pattern(text), Observation):
            assert fast.get(key, []) == expected.get(key, []), text
        else:
            assert (key in compound) == (key in expected), text


@pytest.mark.parametrize("seed", range(10))
def test_index_agrees_with_scan(seed: int) -> None:
    """The comparison index against evaluating every bracket: 10 x 200 brackets x 50 events."""
    rng = random.Random(1000 + seed)
    index = ComparisonIndex()
    exprs = []
    while len(exprs) < 200:
        try:
            expr = parse_pattern(f"[{randomgen.comparison_expr(rng)}]")
        except PatternError:
            continue
        assert isinstance(expr, Observation)
        leaf = index.add(expr.comparison)
        if leaf == len(exprs):
            exprs.append(expr.comparison)
    for i in range(50):
        e = randomgen.event(rng, i)
        roots = list(e.objects.values())
        assert sorted(index.match(roots, e.objects)) == scan(exprs, roots, e.objects)
    assert index.anchored > 0 and index.scanned > 0


def _simple_text(rng: random.Random) -> str:
    """Random texts of the simple form the fast parser handles, with some near misses mixed in."""
    parts = []
    for _ in range(rng.randint(1, 4)):
        t, path, pool, _kind = rng.choice(randomgen.FIELDS[:7])
        if rng.random() < 0.1:
            path = rng.choice(["'va lue'", "x.'y\\'z'", "AND", "a-b", "_k.v2", "true", "k.LIKE"])
        op = rng.choice(["=", "!=", "=", " = ", "=="])
        value = randomgen.quote(str(rng.choice(pool)))
        if rng.random() < 0.05:
            value = rng.choice(["'unterminated", "5", "t'2020-01-01T00:00:00Z'", "'a\\\\'", "'\\''"])
        parts.append(f"{t}:{path} {op} {value}")
        parts.append(rng.choice(["AND", "OR", "OR", "and"]))
    body = " ".join(parts[:-1])
    if rng.random() < 0.05:
        body = body.replace(" ", "  ")
    return rng.choice(["[{}]", "[{}]", "[ {} ]", "[{}] ", "{}", "[{}]]"]).format(body)


def test_fast_parse_agrees_with_antlr() -> None:
    rng = random.Random(7)
    accepted = 0
    for _ in range(1500):
        text = _simple_text(rng)
        fast = fast_parse(text)
        try:
            full = antlr_parse(text)
        except PatternError:
            assert fast is None, text
            continue
        if fast is not None:
            accepted += 1
            assert fast == full, text
    assert accepted > 300  # the fast path really is taken for the common form
