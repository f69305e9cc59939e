"""Web UI sessions: a random id in an HttpOnly cookie, kept in the hub's store.

The store holds the SHA-256 of the id (whoever reads the database cannot open a session), the organisation,
the key id (not a secret) of the token it signed in with (every page checks the token is still valid and
reads the organisation's current ceiling), a per-session CSRF token and when the session ends. Because
sessions live in the store, restarting the hub signs nobody out and several workers over one database
share them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from kizuna.errors import InputError
from kizuna.hub.reads import UiSession
from kizuna.hub.store.protocols import SessionStore
from kizuna.stix.ids import Clock, to_us

#: How long a session lasts after sign-in (an analyst's working day).
DEFAULT_TTL = timedelta(hours=8)

#: Sessions kept at most; the oldest goes first when a sign-in would exceed it.
DEFAULT_MAX_SESSIONS = 10_000


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Session:
    id: str  # what the cookie carries (never stored)
    org_id: int
    key_id: str
    csrf: str
    expires_us: int


class Sessions:
    """The sessions of one web UI, bounded in count and time, over a :class:`SessionStore`."""

    def __init__(
        self,
        store: SessionStore,
        clock: Clock,
        *,
        ttl: timedelta = DEFAULT_TTL,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
    ) -> None:
        if max_sessions < 1:
            raise InputError("max_sessions must be at least 1")
        self._store = store
        self._clock = clock
        self.ttl = ttl
        self._max = max_sessions

    def create(self, org_id: int, key_id: str) -> Session:
        now_us = to_us(self._clock())
        sid = secrets.token_urlsafe(32)
        expires = now_us + int(self.ttl.total_seconds() * 1_000_000)
        csrf = secrets.token_urlsafe(32)
        self._store.create_session(
            UiSession(_digest(sid), org_id, key_id, csrf, now_us, expires), max_sessions=self._max
        )
        return Session(sid, org_id, key_id, csrf, expires)

    def get(self, session_id: str | None) -> Session | None:
        """The live session ``session_id`` names; None when unknown or expired (an expired one is ended)."""
        if not session_id or len(session_id) > 200:
            return None
        found = self._store.get_session(_digest(session_id))
        if found is None:
            return None
        if to_us(self._clock()) >= found.expires_us:
            self._store.end_session(found.id_hash)
            return None
        return Session(session_id, found.org_id, found.key_id, found.csrf, found.expires_us)

    def end(self, session_id: str | None) -> bool:
        """Forget the session; True when there was one."""
        if not session_id or len(session_id) > 200:
            return False
        return self._store.end_session(_digest(session_id))


def csrf_ok(session: Session, submitted: str | None) -> bool:
    """Does a form carry its session's CSRF token?"""
    return bool(submitted) and hmac.compare_digest(session.csrf.encode(), (submitted or "").encode())
