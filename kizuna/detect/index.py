"""The compiled index: which bracketed comparison expressions hold for one observation, without trying
every one of them.

Each comparison expression (the inside of ``[...]``) is reduced to *anchors*, a set of cheap lookups of
which at least one must succeed for the expression to hold:

* ``=`` (and ``NOT !=``, ``IN``) with a string or number literal -> a hash table per (object type, path);
* ``ISSUBSET 'cidr'`` -> a prefix table per (object type, path): for each prefix length in use, a hash
  of network numbers, so an address costs one lookup per distinct prefix length;
* OR needs anchors on both sides (their union); AND takes the anchors of one side.

An expression that is a plain OR of anchor comparisons is *exact*: an anchor hit means a match. Other
anchored expressions are checked with the general evaluator on a hit; expressions with no anchors (LIKE,
MATCHES, NOT, ordering...) are evaluated on every observation holding an object of their type.
:func:`scan` is the plain reference: every expression evaluated on every observation.
"""

from __future__ import annotations

import pickle
from collections.abc import Collection, Mapping, Sequence
from socket import inet_aton
from typing import Any, NamedTuple

from kizuna.detect.evaluator import MatchError, observation_holds, parse_network, values_at
from kizuna.detect.pattern import BoolAnd, BoolOr, Comparison, ComparisonExpr, PathStep

_PROBE_TYPES = (str, int, float)
_BITS = {4: 32, 6: 128}


class _Anchor(NamedTuple):
    kind: str  # "eq" or "cidr"
    object_type: str
    path: tuple[PathStep, ...]
    keys: tuple[Any, ...]  # eq: literal values; cidr: ((version, network, prefix),)


_plain_paths: dict[tuple[PathStep, ...], bool] = {}


def _plain_path(path: tuple[PathStep, ...]) -> bool:
    """A path whose values are compared as they are (no hex/base64 decoding on the way)."""
    plain = _plain_paths.get(path)
    if plain is None:
        plain = all(not (isinstance(s, str) and s.endswith(("_hex", "_bin"))) for s in path)
        if len(_plain_paths) < 4096:
            _plain_paths[path] = plain
    return plain


def _atom_anchor(c: Comparison) -> _Anchor | None:
    if not _plain_path(c.path):
        return None
    equality = (c.op == "=" and not c.negated) or (c.op == "!=" and c.negated)
    if equality and type(c.value) in _PROBE_TYPES:
        return _Anchor("eq", c.object_type, c.path, (c.value,))
    if c.op == "IN" and not c.negated and isinstance(c.value, frozenset):
        # strings only: Python set membership lets True match 1, which a hash probe would not see
        if all(type(v) is str for v in c.value):
            return _Anchor("eq", c.object_type, c.path, tuple(c.value))
        return None
    if c.op == "ISSUBSET" and not c.negated and isinstance(c.value, str):
        try:
            network = parse_network(c.value, need_prefix=True)
        except MatchError:
            return None
        return _Anchor("cidr", c.object_type, c.path, (network,))
    return None


def anchors_of(expr: ComparisonExpr) -> tuple[list[_Anchor] | None, bool]:
    """(anchors or None when the expression has none, whether an anchor hit alone proves a match)."""
    if type(expr) is Comparison:
        a = _atom_anchor(expr)
        return (None, False) if a is None else ([a], True)
    assert isinstance(expr, BoolAnd | BoolOr)
    left, left_exact = anchors_of(expr.left)
    right, right_exact = anchors_of(expr.right)
    if isinstance(expr, BoolOr):
        if left is None or right is None:
            return None, False
        return left + right, left_exact and right_exact
    # AND: one side's anchors suffice to find candidates; prefer equality, then fewer keys
    options = [a for a in (left, right) if a is not None]
    if not options:
        return None, False
    best = min(options, key=lambda anchors: (any(a.kind == "cidr" for a in anchors), len(anchors)))
    return best, False


def object_types(expr: ComparisonExpr) -> frozenset[str]:
    """Object types an expression can hold for (any root it holds for has one of these types)."""
    if isinstance(expr, Comparison):
        return frozenset((expr.object_type,))
    left, right = object_types(expr.left), object_types(expr.right)
    return left & right if isinstance(expr, BoolAnd) else left | right


class _CidrTable:
    """Networks by prefix length: ``{version: {prefix: {network >> host_bits: [leaf ids]}}}``."""

    __slots__ = ("by_version", "v4_levels")

    def __init__(self) -> None:
        self.by_version: dict[int, dict[int, dict[int, list[int]]]] = {4: {}, 6: {}}
        self.v4_levels: list[tuple[int, dict[int, list[int]]]] = []  # (host bits, table) per prefix

    def add(self, version: int, network: int, prefix: int, leaf: int) -> None:
        shift = _BITS[version] - prefix
        table = self.by_version[version].setdefault(prefix, {})
        table.setdefault(network >> shift, []).append(leaf)
        self.v4_levels = [(32 - length, t) for length, t in sorted(self.by_version[4].items())]

    def lookup(self, value: str, out: list[int]) -> None:
        if "/" not in value and ":" not in value:  # the common case: one IPv4 address
            try:
                address = int.from_bytes(inet_aton(value), "big")
            except OSError:
                return
            for shift, table in self.v4_levels:
                ids = table.get(address >> shift)
                if ids:
                    out.extend(ids)
            return
        try:
            version, address, prefix = parse_network(value, need_prefix=False)
        except MatchError:
            return
        bits = _BITS[version]
        for length, table in self.by_version[version].items():
            if length <= prefix:
                ids = table.get(address >> (bits - length))
                if ids:
                    out.extend(ids)


# per object type: (single key or None, chain of keys or None, full path, table)
_EqEntry = tuple[str | None, tuple[str, ...] | None, tuple[PathStep, ...], dict[Any, list[int]]]
_CidrEntry = tuple[str | None, tuple[str, ...] | None, tuple[PathStep, ...], _CidrTable]


def _single_key(path: tuple[PathStep, ...]) -> str | None:
    if len(path) == 1 and isinstance(path[0], str) and not path[0].endswith(("_ref", "_refs")):
        return path[0]
    return None


def _chain(path: tuple[PathStep, ...]) -> tuple[str, ...] | None:
    """A path of plain keys and single ``_ref`` hops: it selects at most one value."""
    if all(isinstance(s, str) and not s.endswith("_refs") for s in path):
        return tuple(str(s) for s in path)
    return None


def _chain_value(obj: Mapping[str, Any], chain: tuple[str, ...], resolve: Any) -> Any:
    """The one value a chain path selects, or None (what values_at gives, without building lists)."""
    node: Any = obj
    for key in chain:
        if type(node) is not dict:
            return None
        node = node.get(key)
        if node is None:
            return None
        if key.endswith("_ref"):
            if type(node) is not str:
                return None
            node = resolve(node)
            if node is None:
                return None
    return node


class ComparisonIndex:
    """Comparison expressions compiled for lookup. ``add`` returns a leaf id; ``match`` the ids that hold."""

    def __init__(self) -> None:
        self._expressions: list[ComparisonExpr] | None = []
        self._inexact: dict[int, ComparisonExpr] = {}  # leaf -> expression, of leaves that are not exact
        self._pickled: bytes = b""  # the expressions, pickled, while _expressions is None (see __setstate__)
        self.exact: list[bool] = []
        self._ids: dict[ComparisonExpr, int] | None = {}
        self._eq: dict[str, list[_EqEntry]] = {}
        self._eq_tables: dict[tuple[str, tuple[PathStep, ...]], dict[Any, list[int]]] = {}
        self._cidr: dict[str, list[_CidrEntry]] = {}
        self._cidr_tables: dict[tuple[str, tuple[PathStep, ...]], _CidrTable] = {}
        self._scan: dict[str, list[int]] = {}
        self._plans: dict[str, tuple[list[_EqEntry], list[_CidrEntry], list[int]]] | None = None
        self.anchored = 0
        self.scanned = 0

    def __len__(self) -> int:
        return len(self.exact)

    @property
    def expressions(self) -> list[ComparisonExpr]:
        """The expression of each leaf id."""
        if self._expressions is None:
            self._expressions = pickle.loads(self._pickled)
            self._pickled = b""
        return self._expressions

    def __getstate__(self) -> dict[str, Any]:
        """A pickled index keeps the expressions that :meth:`match` evaluates (those of leaves that are not
        exact) as objects, the others as one pickled blob, unpickled when first read (a copy loaded to
        match - the compiled-indicator cache - never reads them); it leaves out what :meth:`add` rebuilds."""
        state = dict(self.__dict__)
        expressions = self.expressions
        state.update(_expressions=None, _ids=None, _plans=None)
        state["_pickled"] = pickle.dumps(expressions, protocol=pickle.HIGHEST_PROTOCOL)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def add(self, expr: ComparisonExpr) -> int:
        """Index ``expr`` (once: equal expressions share a leaf id) and return its leaf id."""
        expressions = self.expressions
        if self._ids is None:
            self._ids = {e: i for i, e in enumerate(expressions)}
        leaf = self._ids.get(expr)
        if leaf is not None:
            return leaf
        leaf = len(expressions)
        self._ids[expr] = leaf
        self._plans = None
        expressions.append(expr)
        anchors, exact = anchors_of(expr)
        self.exact.append(exact and anchors is not None)
        if not self.exact[-1]:
            self._inexact[leaf] = expr
        if anchors is None:
            self.scanned += 1
            for t in object_types(expr):
                self._scan.setdefault(t, []).append(leaf)
            return leaf
        self.anchored += 1
        for a in anchors:
            where = (a.object_type, a.path)
            if a.kind == "eq":
                table = self._eq_tables.get(where)
                if table is None:
                    table = self._eq_tables[where] = {}
                    self._eq.setdefault(a.object_type, []).append(
                        (_single_key(a.path), _chain(a.path), a.path, table)
                    )
                for key in a.keys:
                    ids = table.setdefault(key, [])
                    if not ids or ids[-1] != leaf:
                        ids.append(leaf)
            else:
                cidr = self._cidr_tables.get(where)
                if cidr is None:
                    cidr = self._cidr_tables[where] = _CidrTable()
                    self._cidr.setdefault(a.object_type, []).append(
                        (_single_key(a.path), _chain(a.path), a.path, cidr)
                    )
                for version, network, prefix in a.keys:
                    cidr.add(version, network, prefix, leaf)
        return leaf

    def match(self, roots: Collection[Mapping[str, Any]], objects: Mapping[str, Any]) -> list[int]:
        """Leaf ids of the expressions that hold for an observation with these root objects."""
        hits: list[int] = []
        scan: list[int] = []
        plans = self._plans if self._plans is not None else self._make_plans()
        resolve = objects.get
        for obj in roots:
            plan = plans.get(obj.get("type"))  # type: ignore[arg-type]
            if plan is None:
                continue
            entries, centries, more = plan
            if entries:
                for key, chain, path, table in entries:
                    if key is not None or chain is not None:
                        v = obj.get(key) if key is not None else _chain_value(obj, chain, resolve)  # type: ignore[arg-type]
                        tv = type(v)
                        if tv is str or tv is int or tv is float:
                            ids = table.get(v)
                            if ids:
                                hits.extend(ids)
                        continue
                    try:
                        values = values_at(obj, path, resolve)
                    except MatchError:
                        continue
                    for v in values:
                        tv = type(v)
                        if tv is str or tv is int or tv is float:
                            ids = table.get(v)
                            if ids:
                                hits.extend(ids)
            if centries:
                for key, chain, path, cidr in centries:
                    if key is not None or chain is not None:
                        v = obj.get(key) if key is not None else _chain_value(obj, chain, resolve)  # type: ignore[arg-type]
                        if type(v) is str:
                            cidr.lookup(v, hits)
                        continue
                    try:
                        values = values_at(obj, path, resolve)
                    except MatchError:
                        continue
                    for v in values:
                        if type(v) is str:
                            cidr.lookup(v, hits)
            if more:
                scan.extend(more)
        if not hits and not scan:
            return hits
        result: list[int] = []
        seen: set[int] = set()
        exact = self.exact
        for leaf in hits:
            if leaf in seen:
                continue
            seen.add(leaf)
            if exact[leaf] or self._holds(leaf, roots, objects):
                result.append(leaf)
        for leaf in scan:
            if leaf not in seen:
                seen.add(leaf)
                if self._holds(leaf, roots, objects):
                    result.append(leaf)
        return result

    def equality_keys(self) -> set[Any]:
        """Every value an equality anchor looks up (of any object type and path)."""
        keys: set[Any] = set()
        for table in self._eq_tables.values():
            keys.update(table)
        return keys

    def networks(self) -> _CidrTable | None:
        """One table of every ``ISSUBSET`` network anchor (of any object type and path); None if none."""
        if not self._cidr_tables:
            return None
        merged = _CidrTable()
        for cidr in self._cidr_tables.values():
            for version, levels in cidr.by_version.items():
                bits = _BITS[version]
                for prefix, table in levels.items():
                    for shifted in table:
                        merged.add(version, shifted << (bits - prefix), prefix, 0)
        return merged

    def network_paths(self) -> set[tuple[str, tuple[PathStep, ...]]]:
        """(object type, property path) of every ``ISSUBSET`` network anchor."""
        return set(self._cidr_tables)

    def scanned_types(self) -> frozenset[str]:
        """Object types that brackets without anchors are evaluated on."""
        return frozenset(self._scan)

    def _make_plans(self) -> dict[str, tuple[list[_EqEntry], list[_CidrEntry], list[int]]]:
        """Per object type, everything to look up: one dict probe per object in :meth:`match`."""
        types = set(self._eq) | set(self._cidr) | set(self._scan)
        self._plans = {t: (self._eq.get(t, []), self._cidr.get(t, []), self._scan.get(t, [])) for t in types}
        return self._plans

    def _holds(self, leaf: int, roots: Collection[Mapping[str, Any]], objects: Mapping[str, Any]) -> bool:
        try:
            return observation_holds(self._inexact[leaf], roots, objects)
        except MatchError:
            return False  # data this expression cannot be evaluated on does not match it


def scan(
    expressions: Sequence[ComparisonExpr], roots: Sequence[Mapping[str, Any]], objects: Mapping[str, Any]
) -> list[int]:
    """The plain reference for :meth:`ComparisonIndex.match`: evaluate every expression."""
    out = []
    for i, expr in enumerate(expressions):
        try:
            if observation_holds(expr, roots, objects):
                out.append(i)
        except MatchError:
            continue
    return out
