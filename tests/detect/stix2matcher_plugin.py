"""pytest plugin: run stix2-matcher's own test suite against kizuna's matcher.

Usage (what ``tests/detect/test_conformance.py`` runs)::

    PYTHONPATH=tests/detect python -m pytest -p stix2matcher_plugin --pyargs stix2matcher.test.v21

At import time (before the suite's modules are collected and do ``from stix2matcher.matcher import
match``) this swaps ``stix2matcher.matcher.match`` for :func:`kizuna.detect.stix2matcher_compat.match`,
and the suite's two interval helpers for kizuna's, so every assertion exercises kizuna's code.

Known exception, marked xfail(strict) so it is reported and must keep failing the same way:
``test_combinatorial_explosion_match[... START '...' STOP '...']`` writes START/STOP with plain string
literals; the ``stix2-patterns`` 2.x grammar (used by stix2-matcher 3.0.0 itself, which fails the same
case) only accepts ``t'...'`` timestamp literals there. None of the cases is timing-dependent.
"""

from __future__ import annotations

from typing import Any

import pytest
import stix2matcher.matcher as upstream

from kizuna.detect import intervals
from kizuna.detect.stix2matcher_compat import match

upstream.match = match
upstream._overlap = intervals.overlap
upstream._timestamp_intervals_within = intervals.intervals_within

KNOWN_UPSTREAM_FAILURES = {
    "test_combinatorial_explosion_match[[person:age < 20] REPEATS 10 TIMES START "
    "'2004-10-11T21:40:00Z' STOP '2004-10-11T21:50:00Z']": (
        "START/STOP with string literals is not STIX 2.x grammar in stix2-patterns 2.x; "
        "stix2-matcher 3.0.0 fails it too"
    ),
}


def pytest_collection_modifyitems(config: Any, items: list[pytest.Item]) -> None:
    for item in items:
        reason = KNOWN_UPSTREAM_FAILURES.get(item.name)
        if reason:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))


def pytest_report_header(config: Any) -> str:
    return f"stix2matcher.matcher.match is {upstream.match.__module__}.{upstream.match.__qualname__}"
