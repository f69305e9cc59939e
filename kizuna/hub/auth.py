"""API tokens, the two ways clients present them, and the limit on failed authentication.

Tokens are ``kzn_<key-id>_<secret>``: a key id of 16 hex digits, which finds the token's row and is not
secret (``kizuna hub token list``, logs and audit records name it), and a secret of 256 random bits (43
URL-safe characters) of which only the SHA-256 is stored. The secret is checked by one constant-time compare
(:func:`hmac.compare_digest`); an unknown key id is compared against a dummy, so the time taken does not
tell which part was wrong. A fast hash is enough: 256 random bits cannot be brute-forced. Tokens of the first
format (``kzn_`` and 43 characters) keep working until revoked; they are found by the SHA-256 of the whole
token.

``Authorization: Bearer TOKEN``, or HTTP Basic with the organisation name as user and the token as password.
Tokens are never taken from a URL (a query string ends up in logs and browser history).

Failed authentication is limited (:class:`Authenticator`): a source address with ``failures`` failures in
``window_s`` seconds is answered 429 without its credentials being looked at, until the window has moved on;
a key id or organisation name with as many failures, and every failure once the whole hub has seen
``global_failures`` of them (a spray across many names), is answered 429 instead of 401; past that ceiling
failures are no longer written, so the counters and the audit chain stay bounded. Valid credentials
are never slowed, and a valid token for a name someone else is failing on still works (its owner is not
locked out by whoever knows its key id). The counters live in the store, so every worker shares them; every
failure is audited (``auth.fail``) with its source, key id or user, and reason.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kizuna.errors import AuthenticationFailed, TooManyFailures
from kizuna.hub import logs
from kizuna.hub.models import Org, TokenRecord
from kizuna.stix.ids import Clock, to_us

if TYPE_CHECKING:
    from kizuna.hub.store.protocols import Directory

_log = logs.logger("auth")
TOKEN_PREFIX = "kzn_"
_TOKEN_RE = re.compile(r"kzn_([0-9a-f]{16})_([A-Za-z0-9_-]{43})", re.ASCII)
#: What a token's secret is compared against when its key id is unknown (same length, same work).
_DUMMY_HASH = "0" * 64
#: How often a token's ``last used`` time is written (one write per token and worker at most this often).
LAST_USED_EVERY_S = 60


def new_token() -> str:
    """A new token: ``kzn_<key-id>_<secret>`` (64 bits of key id, 256 bits of secret)."""
    return f"{TOKEN_PREFIX}{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenKey:
    """What the store keeps of a token: its key id ("" for a token of the first format, whose row is found
    by ``secret_hash``) and the SHA-256 of its secret (of the whole token for the first format)."""

    key_id: str
    secret_hash: str


def hash_token(token: str) -> TokenKey:
    """The :class:`TokenKey` of ``token`` (what is stored, and how its row is found)."""
    m = _TOKEN_RE.fullmatch(token)
    if m is not None:
        return TokenKey(m.group(1), _sha256(m.group(2)))
    return TokenKey("", _sha256(token))


def key_id_of(token: str) -> str:
    """The key id a presented token names, for logs and audit records ("" when it names none)."""
    m = _TOKEN_RE.fullmatch(token)
    return "" if m is None else m.group(1)


def looks_like_token(text: str) -> bool:
    """Could ``text`` be a kizuna token (either format)? Used to refuse tokens in URLs."""
    return TOKEN_PREFIX in text


def secret_matches(record: TokenRecord | None, key: TokenKey) -> bool:
    """Does ``key`` match the stored ``record``? One constant-time compare whether or not there is one."""
    stored = _DUMMY_HASH if record is None else record.secret_hash
    same = hmac.compare_digest(stored.encode(), key.secret_hash.encode())
    return same and record is not None and record.legacy == (key.key_id == "")


@dataclass(frozen=True, slots=True)
class Credentials:
    token: str
    user: str | None  # set for HTTP Basic: must be the token's organisation


def parse_authorization(header: str | None) -> Credentials | None:
    """Credentials from an ``Authorization`` header; None when absent or malformed."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if not value:
        return None
    if scheme.lower() == "bearer":
        return Credentials(token=value, user=None)
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, sep, password = decoded.partition(":")
        if not sep or not password:
            return None
        return Credentials(token=password, user=user)
    return None


WWW_AUTHENTICATE = 'Bearer realm="kizuna", Basic realm="kizuna", charset="UTF-8"'


@dataclass(frozen=True, slots=True)
class AuthLimits:
    """Limits on failed authentication (see the module docstring)."""

    failures: int = 10
    window_s: int = 300
    global_failures: int = 1000


@dataclass(frozen=True, slots=True)
class Authenticated:
    org: Org
    key_id: str


class Authenticator:
    """Checks credentials for one hub (TAXII API and web login alike) and limits failures."""

    def __init__(self, store: Directory, clock: Clock, limits: AuthLimits | None = None) -> None:
        self.store = store
        self.clock = clock
        self.limits = limits or AuthLimits()
        self._touched: dict[str, int] = {}
        self._lock = threading.Lock()

    def _window(self, now_us: int) -> int:
        return now_us - self.limits.window_s * 1_000_000

    def _retry_after(self, oldest_us: int | None, now_us: int) -> int:
        if oldest_us is None:
            return self.limits.window_s
        return max(1, -(-(oldest_us + self.limits.window_s * 1_000_000 - now_us) // 1_000_000))

    def _refuse(self, oldest_us: int | None, now_us: int) -> TooManyFailures:
        return TooManyFailures(
            f"too many failed authentications; try again in {self._retry_after(oldest_us, now_us)} s",
            retry_after_s=self._retry_after(oldest_us, now_us),
        )

    def check_source(self, source: str) -> None:
        """TooManyFailures when ``source`` has reached the limit (nothing else is looked at then)."""
        now_us = to_us(self.clock())
        counts = self.store.count_auth_failures([_addr(source)], self._window(now_us))
        n, oldest = counts.get(_addr(source), (0, None))
        if n >= self.limits.failures:
            raise self._refuse(oldest, now_us)

    def authenticate(self, header: str | None, source: str) -> Authenticated:
        """The organisation an ``Authorization`` header authenticates (run in a worker thread)."""
        self.check_source(source)
        creds = parse_authorization(header)
        if creds is None:
            if header:
                self._failed(source, "", None, "malformed Authorization header")
            raise AuthenticationFailed(
                "send 'Authorization: Bearer TOKEN' or HTTP Basic (organisation, token)"
            )
        return self.verify(creds.token, source, user=creds.user)

    def verify_login(self, token: str, source: str) -> Authenticated:
        """The web UI's login: the same limits and checks as the API."""
        self.check_source(source)
        return self.verify(token, source)

    def verify(self, token: str, source: str, *, user: str | None = None) -> Authenticated:
        """Check a token (and the HTTP Basic user that came with it); failures are counted and audited."""
        key = hash_token(token)
        record = self.store.token_record(key)
        now_us = to_us(self.clock())
        reason = ""
        if not secret_matches(record, key):
            reason = "unknown or revoked token"
        elif record is not None and record.expires_us is not None and now_us >= record.expires_us:
            reason = "expired token"
        elif record is not None and user is not None and user != record.org.name:
            reason = "the user does not match the token"
        if reason or record is None:
            self._failed(source, key.key_id, user, reason or "unknown or revoked token")
            raise AuthenticationFailed(
                "the token is unknown, expired or revoked, or the user does not match it",
                title="invalid credentials",
            )
        self._touch(record.key_id, now_us)
        return Authenticated(record.org, record.key_id)

    def session_org(self, key_id: str) -> Org | None:
        """The organisation of a live token by key id (web sessions re-check theirs on every page)."""
        record = self.store.token_by_id(key_id)
        if record is None:
            return None
        if record.expires_us is not None and to_us(self.clock()) >= record.expires_us:
            return None
        return record.org

    def _failed(self, source: str, key_id: str, user: str | None, reason: str) -> None:
        now_us = to_us(self.clock())
        subjects = [_addr(source), "all"]
        if key_id:
            subjects.append("key:" + key_id)
        elif user:
            subjects.append("user:" + user[:100])
        detail = {"source": source, "key_id": key_id or None, "user": user[:100] if user else None}
        _log.info("authentication failed: %s", reason, extra=detail)
        # past the hub-wide ceiling nothing more is written (the counters and the audit chain stay bounded
        # however many addresses a spray comes from): every failure is answered 429 until the window moves
        n, oldest = self.store.count_auth_failures(["all"], self._window(now_us))["all"]
        if n >= self.limits.global_failures:
            raise self._refuse(oldest, now_us)
        counts = self.store.record_auth_failure(
            subjects, at_us=now_us, since_us=self._window(now_us), detail={**detail, "reason": reason}
        )
        limit = {s: self.limits.failures for s in subjects} | {"all": self.limits.global_failures}
        over = [counts[s] for s in subjects if counts[s][0] > limit[s]]
        if over:
            raise self._refuse(min((o for _, o in over if o is not None), default=None), now_us)

    def _touch(self, key_id: str, now_us: int) -> None:
        with self._lock:
            last = self._touched.get(key_id)
            if last is not None and now_us - last < LAST_USED_EVERY_S * 1_000_000:
                return
            self._touched[key_id] = now_us
            if len(self._touched) > 100_000:
                self._touched.clear()
        self.store.touch_token(key_id, now_us)


def _addr(source: str) -> str:
    return "addr:" + source[:100]
