"""Every sharing decision lives in ``kizuna/hub/policy.py``: a test that fails when one is re-implemented.

The decisions are listed below with the policy function that owns each. For each, the known inline forms
of re-deciding it elsewhere are searched for in the syntax tree of every module of ``kizuna/``:

* comparing TLP levels (``TLP.RED``, a ``ceiling``, a ``max_tlp``) decides a read, write or egress rule;
* testing a grant's ``can_read`` / ``can_write`` decides access to a collection;
* testing ``peer_hub`` decides whether an account is another hub's;
* choosing between an object's marking and a ``default_tlp`` decides an unmarked object's TLP;
* writing an origin string (``"peer:..."``, ``"org:..."``) decides provenance that egress compares.

Only policy (and the stores, which persist the facts and translate policy's predicates) may hold them; a few
display-only uses are allowed by name.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kizuna.hub import policy

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "kizuna"

#: decision -> the policy function that makes it (each must exist and be called from its paths).
DECISIONS = {
    "effective ceiling of an organisation": "effective_ceiling",
    "may read a collection": "may_read_collection",
    "may write a collection": "may_write",
    "collection visible at all": "may_see_collection",
    "may read an object (reference)": "may_read",
    "may read an object (in a query)": "visible",
    "RED recipients honoured": "granted_recipients",
    "RED recipients acceptable": "recipient_refusal",
    "TLP of an unmarked object": "unmarked_tlp",
    "TLP of a marked object (custom and unknown markings)": "marked_tlp",
    "who may change an id (owner, no existence oracle)": "ownership",
    "a non-owner's own copy is private": "own_copy_restricted",
    "who may delete a version": "may_delete",
    "order in which one write is disclosed": "disclosure_rank",
    "how a sighting is routed home": "sighting_route",
    "onward sharing TLP": "check_reshare_tlp",
    "a peer account without an agreement": "no_agreement_refusal",
    "another hub's account": "is_peer_account",
    "what an agreement may allow": "check_agreement_tlp",
    "what may leave to a peer (in a query)": "egress",
    "what may leave to a peer (reference)": "may_leave",
    "what may enter from a peer": "ingress_refusal",
    "provenance of a peer's objects": "peer_origin",
    "provenance of a local post": "org_origin",
    "recipients of a routed sighting": "routed_sighting_recipients",
    "whose grants route a sighting (local or peer poster)": "sighting_router",
    "how a sighting sent home names who saw it": "sighter_refs",
    "which sightings go home": "goes_home",
    "what the agreement lets go home": "home_refusal",
    "ways to name a sighter": "check_sighter",
}

#: Modules that may hold the forms: policy itself, the stores (facts and predicate translation) and the
#: marking table (which names the levels; it decides nothing about who receives them).
OWNERS = ("kizuna/hub/policy.py", "kizuna/hub/store/", "kizuna/stix/markings.py")
#: Display-only uses, allowed by (module, form).
DISPLAY = {("kizuna/hub/cli.py", "peer_hub")}

_TEST_POSITIONS = (ast.If, ast.IfExp, ast.While, ast.Assert)


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    form: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.form}"


def _tests(tree: ast.AST) -> Iterator[ast.expr]:
    """Every expression used as a condition."""
    for node in ast.walk(tree):
        if isinstance(node, _TEST_POSITIONS):
            yield node.test
        elif isinstance(node, ast.comprehension):
            yield from node.ifs
        elif isinstance(node, ast.BoolOp):
            yield from node.values


def _attrs(expr: ast.AST) -> set[str]:
    return {n.attr for n in ast.walk(expr) if isinstance(n, ast.Attribute)}


def inline_forms(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for op in operands:
                if isinstance(op, ast.Attribute) and (
                    op.attr in ("ceiling", "max_tlp")
                    or (isinstance(op.value, ast.Name) and op.value.id == "TLP")
                ):
                    yield node.lineno, "TLP comparison"
                    break
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.startswith(("peer:", "org:"))
        ):
            yield node.lineno, "origin string"
        if isinstance(node, ast.IfExp) and "default_tlp" in _attrs(node):
            yield node.lineno, "unmarked default"
    for test in _tests(tree):
        for attr in ("can_read", "can_write", "peer_hub"):
            if attr in _attrs(test):
                yield test.lineno, attr


def findings() -> list[Finding]:
    out: list[Finding] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(OWNERS) or "/data/" in rel:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for line, form in inline_forms(tree):
            if (rel, form) not in DISPLAY:
                out.append(Finding(rel, line, form))
    return out


def test_every_decision_is_a_policy_function() -> None:
    missing = [f for f in DECISIONS.values() if not callable(getattr(policy, f, None))]
    assert missing == []


#: Plain references of the query predicates: property tests hold each predicate to its reference.
REFERENCES = {"may_read", "may_leave"}


def test_every_decision_is_used_outside_tests() -> None:
    """A decision nobody calls is a decision made somewhere else (the references are the tests')."""
    sources = {
        p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8")
        for p in PACKAGE.rglob("*.py")
        if "/data/" not in p.as_posix()
    }
    unused = [
        name
        for name in DECISIONS.values()
        if name not in REFERENCES
        and not any(
            f"policy.{name}(" in text or (rel == "kizuna/hub/policy.py" and text.count(f"{name}(") > 1)
            for rel, text in sources.items()
        )
    ]
    assert unused == []


def test_the_references_are_the_property_tests_oracles() -> None:
    tests = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("test_*.py"))
    assert all(f"{name}(" in tests for name in REFERENCES)


def test_no_decision_is_made_outside_policy() -> None:
    found = findings()
    assert found == [], "decided outside hub/policy.py:\n" + "\n".join(map(str, found))


def test_the_search_sees_each_inline_form() -> None:
    """The search is not blind: each known inline form is found in a sample."""
    sample = ast.parse(
        "if level > TLP.AMBER: pass\n"
        "if org.ceiling >= tlp: pass\n"
        "if grant.can_write: pass\n"
        "ok = [c for c in cs if c.grant.can_read]\n"
        "peer = org.peer_hub and x\n"
        "tlp = obj.tlp if obj.tlp is not None else collection.default_tlp\n"
        "origin = 'peer:' + name\n"
    )
    forms = sorted({form for _, form in inline_forms(sample)})
    assert forms == sorted(
        {"TLP comparison", "can_write", "can_read", "peer_hub", "unmarked default", "origin string"}
    )
