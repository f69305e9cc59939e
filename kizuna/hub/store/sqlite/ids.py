"""The integer key of a STIX id in the SQLite store's indexes."""

from __future__ import annotations

import functools
import hashlib


@functools.lru_cache(maxsize=1 << 16)
def id_key(stix_id: str) -> int:
    """A signed 64-bit key for an id: the index holds 8 bytes instead of the 40-odd of the id text, so a
    write touches fewer index pages. Queries compare the id itself as well (keys may collide). One write
    looks an id up several times (held versions, owner, insert), so recent keys are remembered."""
    return int.from_bytes(hashlib.blake2b(stix_id.encode(), digest_size=8).digest(), "big", signed=True)
