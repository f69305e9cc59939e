"""API tokens (only their SHA-256 is stored) and the two ways clients present them.

Tokens are 256-bit random strings, so a fast hash is enough: there is nothing to brute-force.
``Authorization: Bearer TOKEN`` or HTTP Basic with the organisation name as user and the token as password.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from dataclasses import dataclass

TOKEN_PREFIX = "kzn_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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
