"""The one cursor type: a position in a collection's ``date_added`` order.

Every stored object version has a ``date_added`` that is unique across the hub and assigned in commit
order, so "everything up to ``date_added_us``" is an exact keyset position: a reader that continues from a
:class:`Cursor` neither misses nor repeats a row. TAXII ``next``, the web UI's page links, the change stream
and both federation cursors are this type.

A peer that is not kizuna may give many objects one ``date_added`` (medallion gives a whole envelope
one), so a pull that stops in the middle of such an instant records ``complete=False``: the next pass asks
again from just before it and the intake counts what it already holds as duplicates.

Cursors handed to clients are opaque and authenticated (:class:`CursorCodec`): base64url of the position
and an HMAC-SHA256 tag under a hub key, bound to a scope (the collection and the reader), so a client can
neither forge a position nor carry one from one collection or organisation to another.

>>> codec = CursorCodec(b"k" * 32)
>>> token = codec.encode(Cursor(1769938200000000), scope="taxii:c1:7")
>>> codec.decode(token, scope="taxii:c1:7")
Cursor(date_added_us=1769938200000000, complete=True)
>>> codec.decode(token, scope="taxii:c2:7")
Traceback (most recent call last):
...
kizuna.errors.InputError: this cursor is not one the hub issued here
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass

from kizuna.errors import InputError

#: Largest date_added a cursor may hold (year 9999 in microseconds since the epoch, well inside 64 bits).
MAX_US = 253_402_300_799_999_999

_PAYLOAD = struct.Struct(">qB")
_TAG_BYTES = 16


@dataclass(frozen=True, order=True, slots=True)
class Cursor:
    """Everything added up to ``date_added_us`` has been seen (only part of that instant when not
    ``complete``)."""

    date_added_us: int
    complete: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.date_added_us <= MAX_US:
            raise InputError(f"cursor position {self.date_added_us} is out of range")


class CursorCodec:
    """Opaque, authenticated cursor tokens under one hub key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise InputError("a cursor key needs at least 16 bytes")
        self._key = key

    def _tag(self, scope: str, payload: bytes) -> bytes:
        return hmac.new(self._key, scope.encode() + b"\0" + payload, hashlib.sha256).digest()[:_TAG_BYTES]

    def encode(self, cursor: Cursor, *, scope: str) -> str:
        payload = _PAYLOAD.pack(cursor.date_added_us, int(cursor.complete))
        return base64.urlsafe_b64encode(payload + self._tag(scope, payload)).decode().rstrip("=")

    def decode(self, token: str, *, scope: str) -> Cursor:
        """The cursor in ``token``; :class:`InputError` for anything the hub did not issue in ``scope``."""
        bad = InputError("this cursor is not one the hub issued here", title="invalid cursor")
        if not isinstance(token, str) or len(token) > 64:
            raise bad
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (ValueError, binascii.Error):
            raise bad from None
        if len(raw) != _PAYLOAD.size + _TAG_BYTES:
            raise bad
        payload, tag = raw[: _PAYLOAD.size], raw[_PAYLOAD.size :]
        if not hmac.compare_digest(tag, self._tag(scope, payload)):
            raise bad
        us, complete = _PAYLOAD.unpack(payload)
        if complete not in (0, 1) or not 0 <= us <= MAX_US:
            raise bad
        return Cursor(us, bool(complete))
