"""The streaming matcher: many patterns, one stream of events.

Each event (one log record) is one observation (``number_observed`` 1, its timestamp as first and last
observed). Patterns that are a single ``[...]`` are answered per event from the
:class:`~kizuna.detect.index.ComparisonIndex`. Patterns with observation operators (AND/OR/FOLLOWEDBY
across observations, WITHIN, REPEATS, START/STOP) keep the events that satisfied any of their brackets
(at most ``max_events_per_pattern``, counted when more are dropped) and are decided by the general
binding search at :meth:`Matcher.finish`.

:func:`reference_matches` is the plain reference for the whole matcher: every pattern checked with the
general evaluator over all events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kizuna.detect.evaluator import MatchError, ObservedData, SearchLimit, find_binding, observation_holds
from kizuna.detect.index import ComparisonIndex
from kizuna.detect.pattern import Observation, ObservationExpr, observations_of, parse_pattern


@dataclass(slots=True)
class Event:
    """One log record as STIX cyber-observables. ``objects`` maps local keys ("0", "1"...) to SCOs.

    A log record is seen once at ``time``; STIX observed-data may say it was seen ``count`` times
    between ``time`` and ``last``.
    """

    source: str
    line: int
    time: datetime
    objects: dict[str, dict[str, Any]]
    count: int = 1
    last: datetime | None = None

    def observed(self, with_objects: bool = False) -> ObservedData:
        if with_objects:
            roots = list(self.objects.values())
            return ObservedData(self.time, self.last or self.time, self.count, self.objects, roots)
        return ObservedData(self.time, self.last or self.time, self.count)


@dataclass(slots=True)
class Hit:
    """A pattern that matched: the events bound to it (one for a single-bracket pattern)."""

    key: str
    events: list[Event]


@dataclass(slots=True)
class _Compound:
    key: str
    expr: ObservationExpr
    leaves: list[tuple[Observation, int]]  # (bracket, leaf id)
    events: list[Event] = field(default_factory=list)
    hits: dict[Observation, list[int]] = field(default_factory=dict)
    dropped: int = 0


class Matcher:
    """Compile patterns once; :meth:`feed` events; :meth:`finish` for patterns across observations."""

    def __init__(self, *, max_events_per_pattern: int = 100_000, max_search_steps: int = 2_000_000) -> None:
        self.index = ComparisonIndex()
        self.max_events_per_pattern = max_events_per_pattern
        self.max_search_steps = max_search_steps
        #: compound patterns whose binding search hit ``max_search_steps``: key -> reason
        self.undecided: dict[str, str] = {}
        self._single: list[list[str]] = []  # leaf id -> keys of single-bracket patterns
        self._compound_of_leaf: list[list[int]] = []  # leaf id -> compound pattern numbers
        self._compound: list[_Compound] = []
        self.patterns = 0

    def add(self, key: str, pattern: str | ObservationExpr) -> None:
        """Add a pattern (text or parsed) under ``key``. PatternError if it does not compile."""
        expr = parse_pattern(pattern) if isinstance(pattern, str) else pattern
        self.patterns += 1
        if isinstance(expr, Observation):
            leaf = self._leaf(expr)
            self._single[leaf].append(key)
            return
        number = len(self._compound)
        leaves = []
        for obs in observations_of(expr):
            leaf = self._leaf(obs)
            leaves.append((obs, leaf))
            if not self._compound_of_leaf[leaf] or self._compound_of_leaf[leaf][-1] != number:
                self._compound_of_leaf[leaf].append(number)
        self._compound.append(_Compound(key, expr, leaves))

    def _leaf(self, obs: Observation) -> int:
        leaf = self.index.add(obs.comparison)
        while len(self._single) <= leaf:
            self._single.append([])
            self._compound_of_leaf.append([])
        return leaf

    def feed(self, event: Event) -> list[Hit]:
        """Hits of single-bracket patterns on this event; compound patterns remember the event."""
        objects = event.objects
        leaves = self.index.match(objects.values(), objects)
        if not leaves:
            return []
        return self.feed_leaves(event, leaves)

    def leaves(self, event: Event) -> list[int]:
        """The brackets (leaf ids of :attr:`index`) that hold for this event: the part of :meth:`feed`
        that only reads the matcher, so other processes holding a copy can do it."""
        objects = event.objects
        return self.index.match(objects.values(), objects)

    def feed_leaves(self, event: Event, leaves: list[int]) -> list[Hit]:
        """:meth:`feed` for an event whose leaves :meth:`leaves` found (here or in a copy of this matcher).

        ``feed(e)`` is ``feed_leaves(e, leaves(e))``; events must be fed in log order either way.
        """
        hits: list[Hit] = []
        touched: set[int] = set()
        for leaf in leaves:
            for key in self._single[leaf]:
                hits.append(Hit(key, [event]))
            for number in self._compound_of_leaf[leaf]:
                touched.add(number)
        if touched:
            leaf_set = set(leaves)
            for number in touched:
                self._remember(self._compound[number], event, leaf_set)
        return hits

    def _remember(self, c: _Compound, event: Event, leaves: set[int]) -> None:
        if len(c.events) >= self.max_events_per_pattern:
            c.dropped += 1
            return
        index = len(c.events)
        c.events.append(event)
        for obs, leaf in c.leaves:
            if leaf in leaves:
                lst = c.hits.setdefault(obs, [])
                if not lst or lst[-1] != index:
                    lst.append(index)

    def finish(self) -> list[Hit]:
        """Decide the patterns across observations over the events seen; one Hit per matching pattern."""
        out = []
        for c in self._compound:
            if not c.events:
                continue
            observations = [e.observed() for e in c.events]
            try:
                binding = find_binding(c.expr, observations, c.hits, max_steps=self.max_search_steps)
            except SearchLimit as exc:
                self.undecided[c.key] = str(exc)
                binding = None
            if binding is not None:
                out.append(Hit(c.key, [c.events[i] for i in binding]))
        return out

    def forget_observations(self) -> None:
        """Start again with no remembered events (a follower does at each window it closes)."""
        for c in self._compound:
            c.events.clear()
            c.hits.clear()
            c.dropped = 0

    @property
    def dropped_events(self) -> dict[str, int]:
        """Compound patterns that hit ``max_events_per_pattern``: key -> events not kept."""
        return {c.key: c.dropped for c in self._compound if c.dropped}


def reference_matches(
    patterns: Mapping[str, str | ObservationExpr], events: Sequence[Event]
) -> dict[str, list[int]]:
    """The plain reference: for each pattern, the indices of the events of its binding (None: no match).

    Single-bracket patterns map to every event they hold for; compound patterns to one binding.
    """
    observations = [e.observed(with_objects=True) for e in events]
    out: dict[str, list[int]] = {}
    for key, pattern in patterns.items():
        expr = parse_pattern(pattern) if isinstance(pattern, str) else pattern
        cands = _safe_candidates(expr, observations)
        if isinstance(expr, Observation):
            if cands[expr]:
                out[key] = list(cands[expr])
            continue
        binding = find_binding(expr, observations, cands)
        if binding is not None:
            out[key] = binding
    return out


def _safe_candidates(
    expr: ObservationExpr, observations: Sequence[ObservedData]
) -> dict[Observation, list[int]]:
    """Leaf candidates where an evaluation error on one observation counts as no match there."""
    out: dict[Observation, list[int]] = {}
    for leaf in observations_of(expr):
        if leaf in out:
            continue
        hits = []
        for i, o in enumerate(observations):
            try:
                if observation_holds(leaf.comparison, o.roots, o.objects):
                    hits.append(i)
            except MatchError:
                continue
        out[leaf] = hits
    return out
