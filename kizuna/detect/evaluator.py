"""The general (reference) evaluator of STIX patterns.

Two levels, as the STIX 2.1 specification (section 9) defines them:

* a **comparison expression** (inside ``[...]``) holds for an observation when some cyber-observable
  object of the observation (a *root*) satisfies it; a property comparison holds for a root when any
  value its object path selects passes the test (paths step through ``_ref``/``_refs`` properties into
  the referenced objects of the same observation);
* an **observation expression** holds when observations can be *bound* to its bracketed parts:
  each observation counts ``number_observed`` times; AND needs disjoint bindings, FOLLOWEDBY needs the
  right side's timestamps to be able to be at or after the left's, REPEATS n TIMES needs n disjoint
  bindings, WITHIN d SECONDS needs one window of d seconds to touch every bound observation's
  interval, START/STOP needs each bound interval to meet [start, stop).

:func:`find_binding` searches for one binding depth-first with pruning (the constraints are monotone:
adding an observation to a binding can only break them), so patterns over many observations stay
cheap. Values are compared as ``stix2-matcher`` (OASIS) compares them; the conformance suite checks it.
"""

from __future__ import annotations

import binascii
import re
import socket
import unicodedata
from base64 import standard_b64decode
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from kizuna.detect.intervals import in_start_stop, intervals_within
from kizuna.detect.pattern import (
    BoolAnd,
    Comparison,
    ComparisonExpr,
    FollowedBy,
    ObsAnd,
    Observation,
    ObservationExpr,
    ObsOr,
    Repeats,
    StartStop,
    Within,
    observations_of,
    parse_stix_timestamp,
)
from kizuna.errors import KizunaError

Resolver = Callable[[str], Any]
Instance = tuple[int, int]  # (observation index, which of its number_observed)
Binding = frozenset[Instance]


class MatchError(KizunaError):
    """Observed data that a pattern cannot be evaluated against (bad timestamp, bad IP, bad ref)."""


class SearchLimit(MatchError):
    """The binding search hit its step limit: the pattern is undecided on these observations."""


# -- observed data -------------------------------------------------------------------------------------
@dataclass(slots=True)
class ObservedData:
    """One observation: its interval, how many times it was seen, and its cyber-observable objects.

    ``objects`` maps reference keys (STIX 2.1 ids, or STIX 2.0 object keys) to objects; ``roots`` are the
    objects comparisons start from (in order).
    """

    first: datetime
    last: datetime
    count: int = 1
    objects: Mapping[str, Any] = field(default_factory=dict)
    roots: Sequence[Mapping[str, Any]] = ()


# -- object paths --------------------------------------------------------------------------------------
def _suffix_value(key: str, value: Any) -> Any:
    try:
        if key.endswith("_hex") and isinstance(value, str):
            return binascii.a2b_hex(value)
        if key.endswith("_bin") and isinstance(value, str):
            return standard_b64decode(value)
    except (ValueError, binascii.Error) as exc:
        raise MatchError(f"property {key!r}: {exc}") from None
    return value


def values_at(obj: Mapping[str, Any], path: Sequence[str | int | None], resolve: Resolver) -> list[Any]:
    """Every value ``path`` selects from ``obj`` (an empty list when the path leads nowhere)."""
    values: list[Any] = [obj]
    for step in path:
        stepped: list[Any] = []
        if step is None:
            for v in values:
                if isinstance(v, list):
                    stepped.extend(v)
        elif isinstance(step, int):
            for v in values:
                if isinstance(v, list) and 0 <= step < len(v):
                    stepped.append(v[step])
        else:
            for v in values:
                if isinstance(v, dict) and step in v:
                    stepped.append(_suffix_value(step, v[step]))
            if step.endswith("_ref"):
                stepped = _deref(stepped, step, resolve)
            elif step.endswith("_refs"):
                lists = []
                for v in stepped:
                    if not isinstance(v, list):
                        raise MatchError(f"the value of reference list property {step!r} is not a list")
                    objs = _deref(v, step, resolve)
                    if objs:
                        lists.append(objs)
                stepped = lists
        values = stepped
        if not values:
            return values
    return values


def _deref(refs: list[Any], prop: str, resolve: Resolver) -> list[Any]:
    out = []
    for ref in refs:
        if not isinstance(ref, str):
            raise MatchError(f"a value of reference property {prop!r} is not a string: {ref!r}")
        obj = resolve(ref)
        if obj is not None:
            out.append(obj)
    return out


# -- value tests ---------------------------------------------------------------------------------------
def _json_timestamp(value: str) -> datetime:
    try:
        return parse_stix_timestamp(value)
    except ValueError:
        raise MatchError(f"invalid timestamp in observed data: {value!r}") from None


def _latin1(text: str) -> bytes | None:
    """The bytes a string stands for when compared with binary data (code points < 256), else None."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return None


_NUMBER = (int, float)


def values_equal(value: Any, literal: Any) -> bool:
    """Equality of an observed value and a pattern literal (no implicit conversions between kinds)."""
    tl = type(literal)
    if tl is datetime:
        if type(value) is str:
            value = _json_timestamp(value)
        return type(value) is datetime and bool(value == literal)
    tv = type(value)
    if tl is str:
        if tv is str:
            return bool(value == literal)
        return tv is bytes and _latin1(literal) == value
    if tl is bool or tv is bool:
        return tv is tl and bool(value == literal)
    if tl in _NUMBER:
        return tv in _NUMBER and bool(value == literal)
    if tl is bytes:
        if tv is bytes:
            return bool(value == literal)
        return tv is str and _latin1(value) == literal
    return False


#: compare_order's answer for kinds that have no order at all (a test on them is false, even with NOT)
UNORDERED = "unordered"


def compare_order(value: Any, literal: Any) -> int | str | None:
    """-1/0/1 ordering of value against literal.

    None when binary data meets a string that does not stand for bytes (code points >= 256): the test
    is false, and NOT makes it true. :data:`UNORDERED` when the kinds have no order (numbers and
    strings, booleans...): the test is false whatever NOT says.
    """
    tl = type(literal)
    if tl is datetime and type(value) is str:
        value = _json_timestamp(value)
    tv = type(value)
    if tv is bool or tl is bool:
        return UNORDERED
    if (tl in _NUMBER and tv in _NUMBER) or (tl is tv and tl in (str, bytes, datetime)):
        return (value > literal) - (value < literal)  # type: ignore[no-any-return]
    if tv is str and tl is bytes:
        b = _latin1(value)
        return None if b is None else (b > literal) - (b < literal)
    if tv is bytes and tl is str:
        b = _latin1(literal)
        return None if b is None else (value > b) - (value < b)
    return UNORDERED


def like_to_regex(like: str) -> str:
    """LIKE -> an anchored regular expression: ``%`` any run, ``_`` one character."""
    parts = ["^"]
    for c in like:
        if c == "%":
            parts.append(".*")
        elif c == "_":
            parts.append(".")
        else:
            parts.append(c if c.isalnum() else "\\" + c)
    parts.append("$")
    return "".join(parts)


def ip_to_int(text: str, version: int) -> int:
    try:
        if version == 4:
            return int.from_bytes(socket.inet_aton(text), "big")
        return int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")
    except (OSError, ValueError):
        raise MatchError(f"invalid IPv{version} address: {text!r}") from None


def parse_network(text: str, *, need_prefix: bool) -> tuple[int, int, int]:
    """``'10.0.0.0/8'`` -> (version, address int, prefix length). A bare address has a full-length prefix."""
    version = 6 if ":" in text else 4
    bits = 32 if version == 4 else 128
    addr, slash, prefix_text = text.partition("/")
    if not slash:
        if need_prefix:
            raise MatchError(f"invalid CIDR subnet: {text!r}")
        return version, ip_to_int(addr, version), bits
    if not prefix_text.isdigit() or not 1 <= int(prefix_text) <= bits:
        raise MatchError(f"invalid CIDR subnet: {text!r}")
    return version, ip_to_int(addr, version), int(prefix_text)


def network_contains(container: str, containee: str) -> bool:
    """Whether the address or CIDR ``containee`` lies inside the CIDR ``container`` (IPv4 or IPv6).

    An invalid ``container`` raises MatchError; an ``containee`` that is no address is simply not inside.
    """
    outer_version, outer, outer_prefix = parse_network(container, need_prefix=True)
    try:
        inner_version, inner, inner_prefix = parse_network(containee, need_prefix=False)
    except MatchError:
        return False
    if inner_version != outer_version or outer_prefix > inner_prefix:
        return False
    shift = (32 if outer_version == 4 else 128) - outer_prefix
    return inner >> shift == outer >> shift


ValueTest = Callable[[Any], bool]


@lru_cache(maxsize=65_536)
def value_test(comp: Comparison) -> ValueTest:
    """The per-value test of one property comparison (NOT included)."""
    op, lit, negated = comp.op, comp.value, comp.negated

    def negate(f: ValueTest) -> ValueTest:
        return (lambda v: not f(v)) if negated else f

    if op in ("=", "!="):
        if op == "!=":
            return negate(lambda v: not values_equal(v, lit))
        return negate(lambda v: values_equal(v, lit))
    if op in ("<", "<=", ">", ">="):
        want = {"<": (-1,), "<=": (-1, 0), ">": (1,), ">=": (1, 0)}[op]

        def order(v: Any) -> bool:
            c = compare_order(v, lit)
            if c is UNORDERED:
                return False
            result = c is not None and c in want
            return result != negated

        return order
    if op == "IN":
        assert isinstance(lit, frozenset)
        timestamps = any(isinstance(x, datetime) for x in lit)

        def member(v: Any) -> bool:
            if timestamps and type(v) is str:
                v = _json_timestamp(v)
            try:
                return v in lit
            except TypeError:  # lists and dicts are in no set
                return False

        return negate(member)
    if op == "LIKE":
        assert isinstance(lit, str)
        regex = like_to_regex(unicodedata.normalize("NFC", lit))
        return negate(_text_test(regex, "match"))
    if op == "MATCHES":
        assert isinstance(lit, str)
        return negate(_text_test(unicodedata.normalize("NFC", lit), "search"))
    if op == "ISSUBSET":
        assert isinstance(lit, str)
        return negate(lambda v: type(v) is str and network_contains(lit, v))
    if op == "ISSUPERSET":
        assert isinstance(lit, str)
        return negate(lambda v: type(v) is str and network_contains(v, lit))
    if op == "EXISTS":
        return lambda v: True
    raise MatchError(f"unsupported operator {op}")


def _text_test(regex: str, how: str) -> ValueTest:
    compiled = re.compile(regex)
    raw = _latin1(regex)
    compiled_bytes: list[re.Pattern[bytes]] = []

    def test(v: Any) -> bool:
        if type(v) is str:
            v = unicodedata.normalize("NFC", v)
            return (compiled.match(v) if how == "match" else compiled.search(v)) is not None
        if type(v) is bytes and raw is not None:
            if how == "match":  # LIKE compares the text the bytes encode
                try:
                    text = unicodedata.normalize("NFC", v.decode("utf-8"))
                except UnicodeDecodeError:
                    return False
                return compiled.match(text) is not None
            if not compiled_bytes:
                try:
                    compiled_bytes.append(re.compile(raw))
                except re.error as exc:
                    raise MatchError(f"regular expression cannot match binary data: {exc}") from None
            return compiled_bytes[0].search(v) is not None
        return False

    return test


# -- comparison expressions ------------------------------------------------------------------------------
def comparison_holds(expr: ComparisonExpr, obj: Mapping[str, Any], resolve: Resolver) -> bool:
    """Whether ``expr`` holds with ``obj`` as its root object."""
    if isinstance(expr, Comparison):
        if obj.get("type") != expr.object_type:
            return False
        test = value_test(expr)
        return any(test(v) for v in values_at(obj, expr.path, resolve))
    if isinstance(expr, BoolAnd):
        return comparison_holds(expr.left, obj, resolve) and comparison_holds(expr.right, obj, resolve)
    return comparison_holds(expr.left, obj, resolve) or comparison_holds(expr.right, obj, resolve)


def observation_holds(
    expr: ComparisonExpr, roots: Iterable[Mapping[str, Any]], objects: Mapping[str, Any]
) -> bool:
    """Whether some root object of an observation satisfies ``expr``."""
    resolve = objects.get
    return any(comparison_holds(expr, root, resolve) for root in roots)


# -- observation expressions: binding search ------------------------------------------------------------
Guard = Callable[[Binding], bool]


def _always(_b: Binding) -> bool:
    return True


class _LazyList:
    """A list filled from an iterator on demand (REPEATS chooses combinations of child bindings)."""

    def __init__(self, it: Iterator[Binding]) -> None:
        self._it = it
        self._items: list[Binding] = []

    def get(self, i: int) -> Binding | None:
        while len(self._items) <= i:
            nxt = next(self._it, None)
            if nxt is None:
                return None
            self._items.append(nxt)
        return self._items[i]


class BindingSearch:
    """Depth-first search for bindings of observations to an observation expression."""

    def __init__(
        self,
        observations: Sequence[ObservedData],
        candidates: Mapping[Observation, Sequence[int]],
        *,
        max_steps: int | None = None,
    ) -> None:
        self.first = [o.first for o in observations]
        self.last = [o.last for o in observations]
        self.counts = [o.count for o in observations]
        self.candidates = candidates
        self.max_steps = max_steps
        self.steps = 0
        self._obs_sets: dict[int, tuple[frozenset[int], int]] = {}

    def _step(self) -> None:
        """Count one unit of search work; give up past ``max_steps`` (a bounded search)."""
        self.steps += 1
        if self.max_steps is not None and self.steps > self.max_steps:
            raise SearchLimit(f"binding search gave up after {self.max_steps:,} steps")

    # capacity bound: how many instances a subtree could use at most vs needs at least
    def _needed(self, node: ObservationExpr) -> int:
        if isinstance(node, Observation):
            return 1
        if isinstance(node, ObsAnd | FollowedBy):
            return self._needed(node.left) + self._needed(node.right)
        if isinstance(node, ObsOr):
            return min(self._needed(node.left), self._needed(node.right))
        if isinstance(node, Repeats):
            return node.times * self._needed(node.child)
        return self._needed(node.child)

    def _available(self, node: ObservationExpr, used: Binding) -> int:
        key = id(node)
        cached = self._obs_sets.get(key)
        if cached is None:
            obs = frozenset(i for leaf in observations_of(node) for i in self.candidates.get(leaf, ()))
            cached = (obs, sum(self.counts[i] for i in obs))
            self._obs_sets[key] = cached
        obs, total = cached
        return total - sum(1 for o, _k in used if o in obs)

    def _feasible(self, node: ObservationExpr, used: Binding) -> bool:
        return self._available(node, used) >= self._needed(node)

    def solve(self, node: ObservationExpr, used: Binding, guard: Guard) -> Iterator[Binding]:
        """Bindings of ``node`` disjoint from ``used`` that pass ``guard`` (a monotone constraint)."""
        if isinstance(node, Observation):
            for i in self.candidates.get(node, ()):
                for k in range(self.counts[i]):
                    inst = (i, k)
                    if inst in used:
                        continue
                    b = frozenset((inst,))
                    self._step()
                    if guard(b):
                        yield b
        elif isinstance(node, ObsOr):
            yield from self.solve(node.left, used, guard)
            yield from self.solve(node.right, used, guard)
        elif isinstance(node, ObsAnd | FollowedBy):
            if not self._feasible(node, used):
                return
            if next(self.solve(node.right, used, guard), None) is None:
                return
            followed = isinstance(node, FollowedBy)
            for b1 in self.solve(node.left, used, guard):
                right_guard = self._followed_guard(b1, guard) if followed else self._and_guard(b1, guard)
                for b2 in self.solve(node.right, used | b1, right_guard):
                    yield b1 | b2
        elif isinstance(node, Within):
            window = timedelta(seconds=node.seconds)
            first, last = self.first, self.last

            def within(b: Binding) -> bool:
                return intervals_within([(first[o], last[o]) for o, _ in b], window) and guard(b)

            yield from self.solve(node.child, used, within)
        elif isinstance(node, StartStop):
            start, stop = node.start, node.stop
            if start >= stop:
                return
            first, last = self.first, self.last

            def in_range(b: Binding) -> bool:
                return all(in_start_stop(first[o], last[o], start, stop) for o, _ in b) and guard(b)

            yield from self.solve(node.child, used, in_range)
        elif isinstance(node, Repeats):
            if not self._feasible(node, used):
                return
            choices = _LazyList(self.solve(node.child, used, guard))
            yield from self._combinations(choices, 0, frozenset(), node.times, guard)

    @staticmethod
    def _and_guard(b1: Binding, guard: Guard) -> Guard:
        return lambda b: guard(b1 | b)

    def _followed_guard(self, b1: Binding, guard: Guard) -> Guard:
        """The right side must be able to come at or after everything on the left."""
        latest_first = max(self.first[o] for o, _ in b1)
        last = self.last
        return lambda b: min(last[o] for o, _ in b) >= latest_first and guard(b1 | b)

    def _combinations(
        self, choices: _LazyList, start: int, acc: Binding, remaining: int, guard: Guard
    ) -> Iterator[Binding]:
        if remaining == 0:
            yield acc
            return
        i = start
        while (b := choices.get(i)) is not None:
            i += 1
            self._step()
            if acc.isdisjoint(b):
                combined = acc | b
                if guard(combined):
                    yield from self._combinations(choices, i, combined, remaining - 1, guard)


def find_binding(
    expr: ObservationExpr,
    observations: Sequence[ObservedData],
    candidates: Mapping[Observation, Sequence[int]] | None = None,
    *,
    max_steps: int | None = None,
) -> list[int] | None:
    """Indices of the observations of the first binding found (sorted), or None when ``expr`` fails.

    ``candidates`` gives, per bracketed observation expression, the indices of observations whose
    objects satisfy it; when omitted it is computed here with the general comparison evaluator.
    ``max_steps`` bounds the search (SearchLimit past it); None searches exhaustively.
    """
    if candidates is None:
        candidates = leaf_candidates(expr, observations)
    search = BindingSearch(observations, candidates, max_steps=max_steps)
    binding = next(search.solve(expr, frozenset(), _always), None)
    if binding is None:
        return None
    return sorted({o for o, _k in binding})


def leaf_candidates(
    expr: ObservationExpr, observations: Sequence[ObservedData]
) -> dict[Observation, list[int]]:
    out: dict[Observation, list[int]] = {}
    for leaf in observations_of(expr):
        if leaf in out:
            continue
        out[leaf] = [
            i for i, o in enumerate(observations) if observation_holds(leaf.comparison, o.roots, o.objects)
        ]
    return out


def matches(expr: ObservationExpr, observations: Sequence[ObservedData]) -> bool:
    """The reference answer: does ``expr`` match these observations?"""
    return find_binding(expr, observations) is not None
