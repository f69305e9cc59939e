"""The indicator set of ``kizuna match --follow``: it follows a hub collection's versions as they arrive.

:class:`LiveIndicators` keeps one compiled :class:`~kizuna.detect.matcher.Matcher` and changes it in place,
so matching never stops for a reload:

* a new indicator, or a new version of one, is compiled and added under a fresh matcher key; the key of
  the version it replaces is retired (its brackets stay in the index, and :meth:`LiveIndicators.current`
  drops their hits);
* a revoked version retires the indicator; a version whose ``valid_until`` has passed stops matching at
  that moment (:meth:`LiveIndicators.current` is asked with the time of matching);
* when retired keys outnumber live ones the matcher is rebuilt from the live indicators (rarely: an
  indicator set churns slowly).

The rules for which version counts and which are left out are those of a one-shot ``kizuna match``
(:func:`kizuna.detect.indicators.select_indicators`, called on each version), and
:meth:`LiveIndicators.reference` is that function over every version seen: the plain reference that the
live set must agree with.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kizuna.detect.decoders import Prefilter
from kizuna.detect.indicators import Indicator, Selection, select_indicators
from kizuna.detect.matcher import Matcher
from kizuna.detect.pattern import parse_stix_timestamp
from kizuna.detect.warninglists import WarningLists
from kizuna.hub.client import HubClient
from kizuna.hub.stream_client import ObjectStream
from kizuna.stix.markings import TLP


@dataclass(slots=True)
class _Live:
    indicator: Indicator
    key: str
    until: datetime | None


class LiveIndicators:
    """Indicators by id, compiled in one matcher that only grows until it is rebuilt."""

    def __init__(self, warninglists: WarningLists | None, *, include_listed: bool = False) -> None:
        self.warninglists = warninglists
        self.include_listed = include_listed
        self.matcher = Matcher()
        self.prefilter = Prefilter.of(self.matcher.index)
        self._latest: dict[str, Mapping[str, Any]] = {}  # id -> the version that counts
        self._live: dict[str, _Live] = {}  # id -> its live version's matcher key
        self._by_key: dict[str, _Live] = {}
        self._retired = 0
        self._serial = 0
        self._tlp: dict[str, TLP | None] = {}  # id -> the TLP of the last version that matched
        self.flagged = 0  # versions left out because a value is on a warning list
        self.warnings: list[str] = []

    def __len__(self) -> int:
        return len(self._live)

    def apply(self, objects: Iterable[Mapping[str, Any]], now: datetime) -> int:
        """Take these object versions (any order; non-indicators ignored); returns how many changed the set.
        The matcher and its prefilter are ready for the next event when it returns."""
        changed = 0
        for obj in objects:
            ident = obj.get("id")
            if obj.get("type") != "indicator" or not isinstance(ident, str):
                continue
            prev = self._latest.get(ident)
            if prev is not None and str(obj.get("modified", "")) < str(prev.get("modified", "")):
                continue  # an older version than the one that counts
            self._latest[ident] = obj
            changed += 1
            self._retire(ident)
            sel = select_indicators(
                [obj], now=now, warninglists=self.warninglists, include_listed=self.include_listed
            )
            self.warnings.extend(sel.errors)
            self.flagged += len(sel.flagged)
            for ind in sel.active:
                self._serial += 1
                live = _Live(ind, f"{ind.id}#{self._serial}", _until(ind.raw))
                self.matcher.add(live.key, ind.expr)
                self._live[ind.id] = self._by_key[live.key] = live
                self._tlp[ind.id] = ind.tlp
        if changed:
            if self._retired > max(1000, len(self._live)):
                self._rebuild()
            self.prefilter = Prefilter.of(self.matcher.index)
        return changed

    def _retire(self, ident: str) -> None:
        live = self._live.pop(ident, None)
        if live is not None:
            del self._by_key[live.key]
            self._retired += 1

    def _rebuild(self) -> None:
        self.matcher = Matcher()
        for live in self._live.values():
            self.matcher.add(live.key, live.indicator.expr)
        self._retired = 0

    def current(self, key: str, when: datetime) -> Indicator | None:
        """The indicator a matcher key stands for, if that version still counts at ``when``."""
        live = self._by_key.get(key)
        if live is None or (live.until is not None and live.until <= when):
            return None
        return live.indicator

    def tlp_of(self, ident: str) -> TLP | None:
        """The TLP of the last version of ``ident`` that matched (its sightings carry it)."""
        return self._tlp.get(ident)

    def active_ids(self, when: datetime) -> set[str]:
        """Ids of the indicators that match at ``when``."""
        return {i for i, live in self._live.items() if live.until is None or live.until > when}

    def reference(self, when: datetime) -> Selection:
        """The plain reference: a one-shot run's selection over every version seen, at ``when``."""
        return select_indicators(
            list(self._latest.values()),
            now=when,
            warninglists=self.warninglists,
            include_listed=self.include_listed,
        )


def _until(obj: Mapping[str, Any]) -> datetime | None:
    until = obj.get("valid_until")
    if not isinstance(until, str):
        return None
    try:
        return parse_stix_timestamp(until)
    except ValueError:
        return None


def stream_indicators(
    hub: str,
    token: str,
    collection: str,
    added_after_us: int | None,
    stop: threading.Event,
    on_state: Callable[[str, str | None], None],
    put: Callable[[list[dict[str, Any]]], None],
) -> None:
    """Follow the indicators of a hub collection's change stream until ``stop``: each batch's objects go
    to ``put``, ``on_state`` hears the stream connect and fail (it reconnects by itself). KizunaError when
    the hub cannot be followed at all (no stream)."""
    with HubClient(hub, token) as client:
        stream = ObjectStream(
            client,
            collection,
            types=("indicator",),
            added_after_us=added_after_us,
            max_backoff_s=5.0,
            on_state=on_state,
        )
        for batch in stream.batches(stop):
            if batch is not None:
                put([e.object for e in batch.events])
