"""Time-interval relations used by WITHIN and START/STOP (STIX 2.1 section 9.5).

Both functions are generic over any ordered type (datetimes in kizuna, ints in tests).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum
from typing import Any


class Overlap(IntEnum):
    """How closed interval [a1, b1] meets [a2, b2]."""

    NONE = 0
    OVERLAP = 1  # they share more than an end point
    TOUCH_INNER = 2  # b1 == a2 only
    TOUCH_OUTER = 3  # b2 == a1 only
    TOUCH_POINT = 4  # all four equal


def overlap(min1: Any, max1: Any, min2: Any, max2: Any) -> Overlap:
    """Relation of [min1, max1] to [min2, max2] (each min <= max)."""
    if min1 == max1 == min2 == max2:
        return Overlap.TOUCH_POINT
    if max1 == min2:
        return Overlap.TOUCH_INNER
    if max2 == min1:
        return Overlap.TOUCH_OUTER
    if min2 <= max1 and min1 <= max2:
        return Overlap.OVERLAP
    return Overlap.NONE


def intervals_within(intervals: Iterable[tuple[Any, Any]], duration: Any) -> bool:
    """Whether one window of length ``duration`` touches every (first, last) interval.

    The window that starts at the earliest ``last`` reaches furthest right among the windows that
    still touch that interval, so it is the only candidate: every interval must start by its end.
    """
    spans = list(intervals)
    earliest_last = min(last for _first, last in spans)
    window_end = earliest_last + duration
    return all(bool(first <= window_end) for first, _last in spans)


def in_start_stop(first: Any, last: Any, start: Any, stop: Any) -> bool:
    """Whether an observation interval can have a timestamp in [start, stop) (stop excluded)."""
    return bool(start < stop and first < stop and last >= start)
