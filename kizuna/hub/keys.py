"""The hub's secrets, kept in one file outside its database: ``<database>.key``, mode 0600.

The file holds one Fernet key (``kizuna hub init`` writes it; keep it with the database, apart from its
backups). From it come, each under its own label: the encryption of peer credentials (Fernet: AES-128-CBC
and HMAC-SHA256), the MAC key of the audit chain and its checkpoints, and the key that authenticates the
cursors handed to clients. A stolen database alone reveals no peer credential, and whoever can write the
database but not read this file cannot rewrite the audit chain unnoticed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stat
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from kizuna.errors import Conflict, NotFound, StoreError


def key_path(db_path: str | os.PathLike[str]) -> Path:
    """Where the key file of the database at ``db_path`` lives."""
    return Path(f"{os.fspath(db_path)}.key")


class HubKeys:
    """One hub's keys (see the module docstring)."""

    def __init__(self, fernet_key: bytes) -> None:
        try:
            self._fernet = Fernet(fernet_key)
        except ValueError:
            raise StoreError("not a valid hub key") from None
        self._master = base64.urlsafe_b64decode(fernet_key)

    @classmethod
    def generate(cls) -> HubKeys:
        """Fresh keys held in memory only (tests and throw-away hubs)."""
        return cls(Fernet.generate_key())

    @classmethod
    def create(cls, path: str | os.PathLike[str]) -> HubKeys:
        """Write a new key file at ``path``, readable by its owner only; refuses to overwrite one."""
        p = Path(path)
        key = Fernet.generate_key()
        try:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise Conflict(f"{p}: a key file already exists; refusing to overwrite it") from None
        except OSError as exc:
            raise StoreError(f"{p}: cannot create the key file: {exc.strerror}") from None
        with os.fdopen(fd, "wb") as f:
            f.write(key)
            f.flush()
            os.fsync(f.fileno())
        return cls(key)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> HubKeys:
        p = Path(path)
        try:
            mode = p.stat().st_mode
            key = p.read_bytes().strip()
        except FileNotFoundError:
            raise NotFound(
                f"{p}: the hub's key file is missing (it is created by 'kizuna hub init')"
            ) from None
        except OSError as exc:
            raise StoreError(f"{p}: cannot read the key file: {exc.strerror}") from None
        if stat.S_IMODE(mode) & 0o077:
            raise StoreError(f"{p}: key file must be readable by its owner only (chmod 600)")
        try:
            return cls(key)
        except StoreError:
            raise StoreError(f"{p}: not a valid key file") from None

    def derive(self, purpose: str) -> bytes:
        """A 32-byte key for one purpose (``"audit"``, ``"cursor"``), independent of the others."""
        return hmac.new(self._master, b"kizuna key: " + purpose.encode(), hashlib.sha256).digest()

    # -- peer credentials -----------------------------------------------------------------------------
    def seal(self, secret: str) -> bytes:
        return self._fernet.encrypt(secret.encode())

    def open(self, sealed: bytes) -> str:
        try:
            return self._fernet.decrypt(sealed).decode()
        except InvalidToken:
            raise StoreError("a peer credential cannot be decrypted with this hub's key") from None
