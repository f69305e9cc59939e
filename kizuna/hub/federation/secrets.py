"""Peer credentials, encrypted with a key the hub keeps outside its database.

The key is a Fernet key (AES-128-CBC + HMAC-SHA256) in ``<database>.key``, created with mode 0600 by
``kizuna hub init``. A stolen database alone reveals no peer credential.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from kizuna.errors import Conflict, NotFound, StoreError


def key_path(db_path: str | os.PathLike[str]) -> Path:
    return Path(f"{os.fspath(db_path)}.key")


def create_key(db_path: str | os.PathLike[str]) -> Path:
    """Write a new key file beside the database, readable by its owner only."""
    path = key_path(db_path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise Conflict(f"{path}: a key file already exists; refusing to overwrite it") from None
    with os.fdopen(fd, "wb") as f:
        f.write(Fernet.generate_key())
    return path


class SecretBox:
    """Encrypts and decrypts peer credentials with the hub's key."""

    def __init__(self, db_path: str | os.PathLike[str]) -> None:
        path = key_path(db_path)
        try:
            key = path.read_bytes().strip()
        except FileNotFoundError:
            raise NotFound(
                f"{path}: the hub's key file is missing (it is created by 'kizuna hub init')"
            ) from None
        if path.stat().st_mode & 0o077:
            raise StoreError(f"{path}: key file must be readable by its owner only (chmod 600)")
        try:
            self._fernet = Fernet(key)
        except ValueError:
            raise StoreError(f"{path}: not a valid key file") from None

    def seal(self, secret: str) -> bytes:
        return self._fernet.encrypt(secret.encode())

    def open(self, sealed: bytes) -> str:
        try:
            return self._fernet.decrypt(sealed).decode()
        except InvalidToken:
            raise StoreError("a peer credential cannot be decrypted with this hub's key") from None
