"""Reads cached until the next write: collection tallies and search totals are computed once per write
(keyed by the store's generation, which every write that changes stored objects moves), not per request."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from kizuna.hub.store.protocols import ReadIndex

T = TypeVar("T")


class ReadCache:
    """A bounded map from (generation, key) to a computed read; entries of older generations are never
    served (and age out)."""

    def __init__(self, store: ReadIndex, *, max_entries: int = 4096) -> None:
        self._store = store
        self._max = max_entries
        self._entries: OrderedDict[tuple[int, Hashable], Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        full = (self._store.generation(), key)
        with self._lock:
            if full in self._entries:
                self._entries.move_to_end(full)
                self.hits += 1
                value: T = self._entries[full]
                return value
        value = compute()
        with self._lock:
            self.misses += 1
            self._entries[full] = value
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return value
