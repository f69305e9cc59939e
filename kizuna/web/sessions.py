"""Web UI sessions: a random id in an HttpOnly cookie, mapped in memory to the organisation that logged in.

The raw token never leaves the login request: a session keeps only the token's key id (not a secret), so that
every page can check the token is still valid and fetch the organisation's current ceiling. Sessions
live in the :class:`Sessions` object of one app (no globals); restarting the hub logs everyone out.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from kizuna.errors import InputError
from kizuna.stix.ids import Clock

#: How long a session lasts after login (an analyst's working day).
DEFAULT_TTL = timedelta(hours=8)

#: Sessions kept at most; the oldest goes first when a login would exceed it.
DEFAULT_MAX_SESSIONS = 10_000


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    org_id: int
    key_id: str
    expires_utc: datetime


class Sessions:
    """The live sessions of one web UI, bounded in count and time."""

    def __init__(
        self, clock: Clock, *, ttl: timedelta = DEFAULT_TTL, max_sessions: int = DEFAULT_MAX_SESSIONS
    ) -> None:
        if max_sessions < 1:
            raise InputError("max_sessions must be at least 1")
        self._clock = clock
        self.ttl = ttl
        self._max = max_sessions
        self._by_id: dict[str, Session] = {}  # insertion order = age
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_id)

    def create(self, org_id: int, key_id: str) -> Session:
        now = self._clock()
        session = Session(secrets.token_urlsafe(32), org_id, key_id, now + self.ttl)
        with self._lock:
            self._purge(now)
            while len(self._by_id) >= self._max:
                del self._by_id[next(iter(self._by_id))]
            self._by_id[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session ``session_id`` names; None (and forgotten) when unknown or expired."""
        if not session_id:
            return None
        with self._lock:
            session = self._by_id.get(session_id)
            if session is None:
                return None
            if self._clock() >= session.expires_utc:
                del self._by_id[session_id]
                return None
            return session

    def end(self, session_id: str | None) -> bool:
        """Forget the session; True when there was one."""
        if not session_id:
            return False
        with self._lock:
            return self._by_id.pop(session_id, None) is not None

    def _purge(self, now: datetime) -> None:
        expired = [sid for sid, s in self._by_id.items() if now >= s.expires_utc]
        for sid in expired:
            del self._by_id[sid]
