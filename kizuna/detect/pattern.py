"""STIX 2.1 patterns as a small typed AST, parsed with ``stix2-patterns`` (OASIS).

::

    ObservationExpr  = Observation(comparison)          [ ... ]
                     | ObsAnd / ObsOr / FollowedBy(l, r)
                     | Within(child, seconds) | Repeats(child, times) | StartStop(child, start, stop)
    ComparisonExpr   = Comparison(object_type, path, op, value, negated)
                     | BoolAnd / BoolOr(l, r)

``parse_pattern`` is the full parse: the ANTLR grammar of ``stix2-patterns`` builds the parse tree and
:func:`_convert` turns it into the AST. ANTLR in Python costs ~0.1 ms per simple pattern, so
:func:`parse_pattern` first tries :func:`fast_parse` - a small hand parser for the common form
``[type:path = 'string' OR ...]`` - and falls back to ANTLR for anything else. A test checks that both
give the same AST on random patterns. Results are cached by pattern text.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field, fields
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeAlias

from kizuna.errors import InputError
from kizuna.stix.ids import parse_timestamp

#: A path step: a property name, a list index, or ``None`` for ``[*]``.
PathStep: TypeAlias = str | int | None
#: A pattern literal after coercion.
Scalar: TypeAlias = str | int | float | bool | bytes | datetime
Literal: TypeAlias = Scalar | frozenset[Any]

OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "IN", "LIKE", "MATCHES", "ISSUBSET", "ISSUPERSET", "EXISTS")


class PatternError(InputError):
    """A pattern that cannot be compiled (bad syntax or a bad literal)."""


class PatternSyntaxError(PatternError):
    """The STIX patterning grammar rejects the text (``stix2patterns`` ParseException)."""


# -- AST ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Comparison:
    object_type: str
    path: tuple[PathStep, ...]
    op: str
    value: Literal | None  # None for EXISTS
    negated: bool = False
    #: the literal's Python type name: keeps ``= 1`` and ``= true`` apart (1 == True in Python)
    kind: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", type(self.value).__name__)


@dataclass(frozen=True, slots=True)
class BoolAnd:
    left: ComparisonExpr
    right: ComparisonExpr


@dataclass(frozen=True, slots=True)
class BoolOr:
    left: ComparisonExpr
    right: ComparisonExpr


ComparisonExpr: TypeAlias = Comparison | BoolAnd | BoolOr


@dataclass(frozen=True, slots=True)
class Observation:
    comparison: ComparisonExpr


@dataclass(frozen=True, slots=True)
class ObsAnd:
    left: ObservationExpr
    right: ObservationExpr


@dataclass(frozen=True, slots=True)
class ObsOr:
    left: ObservationExpr
    right: ObservationExpr


@dataclass(frozen=True, slots=True)
class FollowedBy:
    left: ObservationExpr
    right: ObservationExpr


@dataclass(frozen=True, slots=True)
class Within:
    child: ObservationExpr
    seconds: float


@dataclass(frozen=True, slots=True)
class Repeats:
    child: ObservationExpr
    times: int


@dataclass(frozen=True, slots=True)
class StartStop:
    child: ObservationExpr
    start: datetime
    stop: datetime


ObservationExpr: TypeAlias = Observation | ObsAnd | ObsOr | FollowedBy | Within | Repeats | StartStop


def _pickled_by_constructor(cls: type) -> None:
    """Pickle a node as a call of its constructor: loading a compiled set of 100,000 patterns (the
    compiled-indicator cache) then costs a third less than with frozen dataclasses' own
    ``__setstate__``."""
    names = tuple(f.name for f in fields(cls) if f.init)

    def __reduce__(self: Any) -> tuple[Any, tuple[Any, ...]]:
        return cls, tuple(getattr(self, name) for name in names)

    setattr(cls, "__reduce__", __reduce__)  # noqa: B010 (a method added to each node class)


for _node in (
    Comparison,
    BoolAnd,
    BoolOr,
    Observation,
    ObsAnd,
    ObsOr,
    FollowedBy,
    Within,
    Repeats,
    StartStop,
):
    _pickled_by_constructor(_node)


def observations_of(expr: ObservationExpr) -> list[Observation]:
    """The bracketed observation expressions of ``expr``, left to right."""
    if isinstance(expr, Observation):
        return [expr]
    if isinstance(expr, ObsAnd | ObsOr | FollowedBy):
        return observations_of(expr.left) + observations_of(expr.right)
    return observations_of(expr.child)


def comparisons_of(expr: ComparisonExpr) -> list[Comparison]:
    if isinstance(expr, Comparison):
        return [expr]
    return comparisons_of(expr.left) + comparisons_of(expr.right)


_HEX_RE = re.compile(r"^[0-9A-Fa-f]+$")


def lower_hash_literals(expr: ObservationExpr) -> ObservationExpr:
    """The pattern with hexadecimal string literals compared to ``hashes`` properties in lower case.

    STIX patterning compares strings exactly, and hash values appear in either case; log readers
    write lower case, so indicators are normalised the same way before matching.
    """

    def comparison(c: ComparisonExpr) -> ComparisonExpr:
        if isinstance(c, BoolAnd | BoolOr):
            return type(c)(comparison(c.left), comparison(c.right))
        if "hashes" not in c.path[:-1]:
            return c
        if isinstance(c.value, str) and _HEX_RE.match(c.value):
            return Comparison(c.object_type, c.path, c.op, c.value.lower(), c.negated)
        if isinstance(c.value, frozenset) and all(isinstance(v, str) and _HEX_RE.match(v) for v in c.value):
            return Comparison(c.object_type, c.path, c.op, frozenset(v.lower() for v in c.value), c.negated)
        return c

    def walk(e: ObservationExpr) -> ObservationExpr:
        if isinstance(e, Observation):
            return Observation(comparison(e.comparison))
        if isinstance(e, ObsAnd | ObsOr | FollowedBy):
            return type(e)(walk(e.left), walk(e.right))
        if isinstance(e, Within):
            return Within(walk(e.child), e.seconds)
        if isinstance(e, Repeats):
            return Repeats(walk(e.child), e.times)
        return StartStop(walk(e.child), e.start, e.stop)

    return walk(expr)


# -- literals -----------------------------------------------------------------------------------------
#: A STIX timestamp (upper-case ``T`` and ``Z``, any sub-second digits, truncated to microseconds);
#: ValueError when malformed or out of range. One parser for the whole package.
parse_stix_timestamp = parse_timestamp


_STRING_ESCAPE = re.compile(r"\\(['\\])")


def unquote_string(token: str) -> str:
    """``'it\\'s'`` -> ``it's`` (the grammar's only escapes are ``\\'`` and ``\\\\``)."""
    body = token[1:-1]
    return _STRING_ESCAPE.sub(r"\1", body) if "\\" in body else body


def _coerce(kind: str, text: str) -> Scalar:
    try:
        if kind in ("IntPosLiteral", "IntNegLiteral"):
            return int(text)
        if kind in ("FloatPosLiteral", "FloatNegLiteral"):
            return float(text)
        if kind == "StringLiteral":
            return unquote_string(text)
        if kind == "BoolLiteral":
            return text.lower() == "true"
        if kind == "BinaryLiteral":
            return base64.standard_b64decode(text[2:-1])
        if kind == "HexLiteral":
            return binascii.a2b_hex(text[2:-1])
        if kind == "TimestampLiteral":
            return parse_stix_timestamp(text[2:-1])
    except (ValueError, binascii.Error) as exc:
        raise PatternError(f"invalid {kind}: {text} ({exc})") from None
    raise PatternError(f"unsupported literal {kind}: {text}")


def _check_set(values: list[Scalar], text: str) -> frozenset[Any]:
    """Set literals hold one type (ints and floats may mix)."""
    if not values:
        return frozenset()
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    first = type(values[0])
    if not numeric and any(type(v) is not first for v in values):
        raise PatternError(f"set literal mixes types: {text}")
    return frozenset(values)


# -- ANTLR parse tree -> AST ----------------------------------------------------------------------------
class _TreeGrab:
    """``Pattern.visit(v)`` calls ``v.visit(tree)``: this hands the parse tree back."""

    def visit(self, tree: Any) -> Any:
        return tree


class _Converter:
    def __init__(self, parser: Any) -> None:
        self.names: list[str] = list(parser.symbolicNames)

    def kind(self, terminal: Any) -> str:
        return str(self.names[terminal.getSymbol().type])

    def literal(self, ctx: Any) -> Scalar:
        node = ctx
        while node.getChildCount() and not hasattr(node, "getSymbol"):
            node = node.getChild(0)
        return _coerce(self.kind(node), node.getText())

    def terminal_value(self, terminal: Any) -> Scalar:
        return _coerce(self.kind(terminal), terminal.getText())

    def pattern(self, ctx: Any) -> ObservationExpr:
        return self.obs(ctx.observationExpressions())

    def obs(self, ctx: Any) -> ObservationExpr:
        name = type(ctx).__name__
        if name == "ObservationExpressionsContext":
            parts = ctx.observationExpressions()
            if parts:
                return FollowedBy(self.obs(parts[0]), self.obs(parts[1]))
            return self.obs(ctx.observationExpressionOr())
        if name == "ObservationExpressionOrContext":
            parts = ctx.observationExpressionOr()
            if parts:
                return ObsOr(self.obs(parts[0]), self.obs(parts[1]))
            return self.obs(ctx.observationExpressionAnd())
        if name == "ObservationExpressionAndContext":
            parts = ctx.observationExpressionAnd()
            if parts:
                return ObsAnd(self.obs(parts[0]), self.obs(parts[1]))
            return self.obs(ctx.observationExpression())
        if name == "ObservationExpressionSimpleContext":
            return Observation(self.comparison(ctx.comparisonExpression()))
        if name == "ObservationExpressionCompoundContext":
            return self.obs(ctx.observationExpressions())
        if name == "ObservationExpressionRepeatedContext":
            times = self.terminal_value(ctx.repeatedQualifier().IntPosLiteral())
            assert isinstance(times, int)
            if times < 1:
                raise PatternError(f"invalid repetition count: {times}")
            return Repeats(self.obs(ctx.observationExpression()), times)
        if name == "ObservationExpressionWithinContext":
            q = ctx.withinQualifier()
            value = self.terminal_value(q.FloatPosLiteral() or q.IntPosLiteral())
            assert isinstance(value, int | float)
            if value <= 0:
                raise PatternError(f"invalid WITHIN value (must be positive): {value}")
            return Within(self.obs(ctx.observationExpression()), float(value))
        if name == "ObservationExpressionStartStopContext":
            q = ctx.startStopQualifier()
            start, stop = (self._timestamp(q, i) for i in (0, 1))
            return StartStop(self.obs(ctx.observationExpression()), start, stop)
        raise PatternError(f"unsupported observation expression {name}")

    def _timestamp(self, q: Any, i: int) -> datetime:
        node = q.TimestampLiteral(i) if q.TimestampLiteral() else q.StringLiteral(i)
        value = self.terminal_value(node)
        if isinstance(value, str):  # STIX 2.0 wrote START '...' with a string literal
            try:
                value = parse_stix_timestamp(value)
            except ValueError as exc:
                raise PatternError(str(exc)) from None
        assert isinstance(value, datetime)
        return value

    def comparison(self, ctx: Any) -> ComparisonExpr:
        name = type(ctx).__name__
        if name == "ComparisonExpressionContext":
            parts = ctx.comparisonExpression()
            if parts:
                return BoolOr(self.comparison(parts[0]), self.comparison(parts[1]))
            return self.comparison(ctx.comparisonExpressionAnd())
        if name == "ComparisonExpressionAndContext":
            parts = ctx.comparisonExpressionAnd()
            if parts:
                return BoolAnd(self.comparison(parts[0]), self.comparison(parts[1]))
            return self.comparison(ctx.propTest())
        if name == "PropTestParenContext":
            return self.comparison(ctx.comparisonExpression())
        negated = bool(getattr(ctx, "NOT", lambda: None)())
        if name == "PropTestExistsContext":
            object_type, path = self.path(ctx.objectPath())
            return Comparison(object_type, path, "EXISTS", None, negated)
        object_type, path = self.path(ctx.objectPath())
        value: Literal
        if name == "PropTestEqualContext":
            op = "=" if ctx.EQ() else "!="
            value = self.literal(ctx.primitiveLiteral())
        elif name == "PropTestOrderContext":
            op = next(
                o for o, tok in (("<=", "LE"), (">=", "GE"), ("<", "LT"), (">", "GT")) if getattr(ctx, tok)()
            )
            value = self.literal(ctx.orderableLiteral())
        elif name == "PropTestSetContext":
            op = "IN"
            set_ctx = ctx.setLiteral()
            value = _check_set([self.literal(p) for p in set_ctx.primitiveLiteral()], set_ctx.getText())
        else:
            op = {
                "PropTestLikeContext": "LIKE",
                "PropTestRegexContext": "MATCHES",
                "PropTestIsSubsetContext": "ISSUBSET",
                "PropTestIsSupersetContext": "ISSUPERSET",
            }.get(name, "")
            if not op:
                raise PatternError(f"unsupported comparison {name}")
            value = self.terminal_value(ctx.StringLiteral())
            if op == "MATCHES":
                _check_regex(str(value))
        return Comparison(object_type, path, op, value, negated)

    def path(self, ctx: Any) -> tuple[str, tuple[PathStep, ...]]:
        type_ctx = ctx.objectType()
        object_type = type_ctx.getText()
        first = ctx.firstPathComponent()
        steps: list[PathStep] = [self._key(first)]
        comp = ctx.objectPathComponent()
        if comp is not None:
            self._components(comp, steps)
        return object_type, tuple(steps)

    def _key(self, ctx: Any) -> str:
        if ctx.IdentifierWithoutHyphen():
            return str(ctx.IdentifierWithoutHyphen().getText())
        return unquote_string(ctx.StringLiteral().getText())

    def _components(self, ctx: Any, out: list[PathStep]) -> None:
        name = type(ctx).__name__
        if name == "PathStepContext":
            for child in ctx.objectPathComponent():
                self._components(child, out)
        elif name == "KeyPathStepContext":
            out.append(self._key(ctx))
        elif name == "IndexPathStepContext":
            if ctx.ASTERISK():
                out.append(None)
            else:
                value = self.terminal_value(ctx.IntPosLiteral() or ctx.IntNegLiteral())
                assert isinstance(value, int)
                out.append(value)
        else:
            raise PatternError(f"unsupported path component {name}")


def _check_regex(text: str) -> None:
    try:
        re.compile(text)
    except re.error as exc:
        raise PatternError(f"invalid MATCHES regular expression {text!r}: {exc}") from None


def antlr_parse(text: str, version: str = "2.1") -> ObservationExpr:
    """The full parse with the ``stix2-patterns`` ANTLR grammar (``version`` "2.1" or "2.0")."""
    from stix2patterns.exceptions import ParseException

    if version == "2.0":
        from stix2patterns.v20.pattern import Pattern
    else:
        from stix2patterns.v21.pattern import Pattern
    try:
        tree = Pattern(text).visit(_TreeGrab())
    except ParseException as exc:
        raise PatternSyntaxError(f"{exc} in pattern {text!r}") from exc
    return _Converter(tree.parser).pattern(tree)


# -- fast path for the common simple forms -------------------------------------------------------------
_KEYWORDS = frozenset(
    [
        "AND",
        "OR",
        "NOT",
        "FOLLOWEDBY",
        "LIKE",
        "MATCHES",
        "ISSUPERSET",
        "ISSUBSET",
        "EXISTS",
        "LAST",
        "IN",
        "START",
        "STOP",
        "SECONDS",
        "true",
        "false",
        "WITHIN",
        "REPEATS",
        "TIMES",
    ]
)
_ID = r"[A-Za-z_][A-Za-z0-9_]*"
_STR = r"'(?:[^'\\]|\\['\\])*'"
_TOKEN = re.compile(
    rf"(?P<ws> +)|(?P<str>{_STR})|(?P<typed>{_ID}(?:-[A-Za-z0-9_-]*)?)(?=:)|(?P<id>{_ID})"
    r"|(?P<int>0|[1-9][0-9]*)(?![0-9.])|(?P<op>!=|=|:|\.|\[|\]|\(|\))"
)

Token = tuple[str, str]

#: the strings of _STR, without a backtracking step per character
_STR_UNROLLED = r"'[^'\\]*(?:\\['\\][^'\\]*)*'"
#: The most common form of all, one comparison written canonically (``[type:path = 'value']``, one space
#: either side of the operator): recognised by one regular expression, same AST as :class:`_FastParser`.
_SIMPLE = re.compile(
    rf"\[(?P<type>{_ID}(?:-[A-Za-z0-9_-]*)?)"
    rf":(?P<path>(?:{_ID}|{_STR_UNROLLED})(?:\.(?:{_ID}|{_STR_UNROLLED}))*)"
    rf"(?: (?P<op>!=|=) (?:(?P<str>{_STR_UNROLLED})|(?P<int>0|[1-9][0-9]*))"
    rf"| (?P<set>ISSUBSET|ISSUPERSET) (?P<net>{_STR_UNROLLED}))\]"
)
_PATH_KEY = re.compile(rf"{_ID}|{_STR}")


def _simple_parse(text: str) -> Observation | None:
    m = _SIMPLE.fullmatch(text)
    if m is None:
        return None
    object_type = m.group("type")
    if object_type in _KEYWORDS:
        return None
    path = m.group("path")
    if "'" not in path:
        keys = path.split(".")
        if not _KEYWORDS.isdisjoint(keys):
            return None
        steps: list[PathStep] = list(keys)
    else:
        steps = []
        for key in _PATH_KEY.findall(path):
            if key[0] == "'":
                steps.append(unquote_string(key))
            elif key in _KEYWORDS:
                return None
            else:
                steps.append(key)
    value: str | int
    op = m.group("op")
    if op is None:
        op, value = m.group("set"), unquote_string(m.group("net"))
    elif m.group("str") is not None:
        value = unquote_string(m.group("str"))
    else:
        value = int(m.group("int"))
    return Observation(Comparison(object_type, tuple(steps), op, value, False))


class _NotSimple(Exception):
    """The text is not in the subset the fast parser handles (the full parser decides)."""


def fast_parse(text: str) -> ObservationExpr | None:
    """Parse the common forms without ANTLR; None when the text is anything else.

    Handled: brackets holding ``type:path = 'string'`` / ``!=`` comparisons (or ``= integer``, or
    ``ISSUBSET`` / ``ISSUPERSET 'string'``) joined by AND/OR (no parentheses inside), combined with
    AND, OR, FOLLOWEDBY, parentheses and integer ``WITHIN n SECONDS`` / ``REPEATS n TIMES``. Only
    ASCII spaces separate tokens. Anything else - START/STOP, other operators or literals, syntax
    errors - is left to :func:`antlr_parse`.
    """
    simple = _simple_parse(text)
    if simple is not None:
        return simple
    tokens: list[Token] = []
    pos = 0
    n = len(text)
    match = _TOKEN.match
    while pos < n:
        m = match(text, pos)
        if m is None:
            return None
        kind = m.lastgroup or ""
        if kind != "ws":
            tokens.append((kind, m.group()))
        pos = m.end()
    parser = _FastParser(tokens)
    try:
        expr = parser.followed_by()
    except (_NotSimple, IndexError):
        return None
    return expr if parser.i == len(tokens) else None


class _FastParser:
    def __init__(self, tokens: list[Token]) -> None:
        self.t = tokens
        self.i = 0

    def peek_word(self) -> str:
        if self.i < len(self.t) and self.t[self.i][0] == "id":
            return self.t[self.i][1]
        return ""

    def expect(self, kind: str, text: str | None = None) -> str:
        k, tok = self.t[self.i]
        if k != kind or (text is not None and tok != text):
            raise _NotSimple
        self.i += 1
        return tok

    def followed_by(self) -> ObservationExpr:
        expr = self.obs_or()
        while self.peek_word() == "FOLLOWEDBY":
            self.i += 1
            expr = FollowedBy(expr, self.obs_or())
        return expr

    def obs_or(self) -> ObservationExpr:
        expr = self.obs_and()
        while self.peek_word() == "OR":
            self.i += 1
            expr = ObsOr(expr, self.obs_and())
        return expr

    def obs_and(self) -> ObservationExpr:
        expr = self.qualified()
        while self.peek_word() == "AND":
            self.i += 1
            expr = ObsAnd(expr, self.qualified())
        return expr

    def qualified(self) -> ObservationExpr:
        kind, tok = self.t[self.i]
        expr: ObservationExpr
        if (kind, tok) == ("op", "["):
            self.i += 1
            expr = Observation(self.comparison_or())
            self.expect("op", "]")
        elif (kind, tok) == ("op", "("):
            self.i += 1
            expr = self.followed_by()
            self.expect("op", ")")
        else:
            raise _NotSimple
        while True:
            word = self.peek_word()
            if word == "WITHIN":
                self.i += 1
                seconds = int(self.expect("int"))
                self.expect("id", "SECONDS")
                if seconds <= 0:
                    raise _NotSimple
                expr = Within(expr, float(seconds))
            elif word == "REPEATS":
                self.i += 1
                times = int(self.expect("int"))
                self.expect("id", "TIMES")
                if times < 1:
                    raise _NotSimple
                expr = Repeats(expr, times)
            else:
                return expr

    def comparison_or(self) -> ComparisonExpr:
        expr = self.comparison_and()
        while self.peek_word() == "OR":
            self.i += 1
            expr = BoolOr(expr, self.comparison_and())
        return expr

    def comparison_and(self) -> ComparisonExpr:
        expr: ComparisonExpr = self.comparison()
        while self.peek_word() == "AND":
            self.i += 1
            expr = BoolAnd(expr, self.comparison())
        return expr

    def comparison(self) -> Comparison:
        object_type = self.expect("typed")
        if object_type in _KEYWORDS:
            raise _NotSimple
        self.expect("op", ":")
        steps: list[PathStep] = [self.key()]
        while self.t[self.i] == ("op", "."):
            self.i += 1
            steps.append(self.key())
        kind, op = self.t[self.i]
        self.i += 1
        value: str | int
        if kind == "op" and op in ("=", "!="):
            kind, tok = self.t[self.i]
            self.i += 1
            if kind == "str":
                value = unquote_string(tok)
            elif kind == "int":
                value = int(tok)
            else:
                raise _NotSimple
        elif kind == "id" and op in ("ISSUBSET", "ISSUPERSET"):
            value = unquote_string(self.expect("str"))
        else:
            raise _NotSimple
        return Comparison(object_type, tuple(steps), op, value, False)

    def key(self) -> str:
        kind, tok = self.t[self.i]
        self.i += 1
        if kind == "id" and tok not in _KEYWORDS:
            return tok
        if kind == "str":
            return unquote_string(tok)
        raise _NotSimple


@lru_cache(maxsize=262_144)
def parse_pattern(text: str, version: str = "2.1") -> ObservationExpr:
    """Parse a STIX pattern into the AST (cached by text). PatternError / PatternSyntaxError if invalid."""
    if version == "2.1":
        fast = fast_parse(text)
        if fast is not None:
            return fast
    return antlr_parse(text, version)
