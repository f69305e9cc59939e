"""Small helpers every CLI sub-app shares: one error line, token files, consoles."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from rich.console import Console

from kizuna.errors import InputError, NotFound

#: Rich console for tables and progress (stdout) and for errors (stderr).
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def read_token_file(path: str | os.PathLike[str]) -> str:
    """The secret in ``path``, stripped. NotFound / InputError with the file named otherwise; a file that
    others than its owner may read is refused (``chmod 600`` it: a token is a password)."""
    p = Path(path)
    try:
        if stat.S_IMODE(p.stat().st_mode) & 0o077:
            raise InputError(
                "token file must be readable by its owner only (chmod 600 it); it holds a secret",
                path=str(p),
            )
        text = p.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise NotFound(f"{p}: token file not found") from None
    except OSError as exc:
        raise InputError(f"cannot read token file: {exc.strerror}", path=str(p)) from None
    if not text or "\n" in text:
        raise InputError("token file must hold exactly one non-empty line", path=str(p))
    return text


def write_secret_file(path: str | os.PathLike[str], secret: str) -> None:
    """Write ``secret`` to a new file readable by its owner only; refuses to overwrite one."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InputError("a file already exists here; refusing to overwrite it", path=str(p)) from None
    except OSError as exc:
        raise InputError(f"cannot create the file: {exc.strerror}", path=str(p)) from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(secret + "\n")


def check_output_file(path: str | os.PathLike[str], option: str = "--out") -> Path:
    """Refuse, before any work, an output file whose directory is missing or not writable (one clear line,
    nothing created)."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise InputError(f"{option}: is a directory, not a file", path=str(p))
    if not parent.is_dir():
        raise InputError(f"{option}: directory {parent} does not exist", path=str(p))
    if not os.access(parent, os.W_OK):
        raise InputError(f"{option}: directory {parent} is not writable", path=str(p))
    return p


def check_output_dir(path: str | os.PathLike[str], option: str = "--out") -> Path:
    """An output directory: an existing writable one, or a new one whose parent exists (never a chain of
    missing directories made silently)."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InputError(f"{option}: not a directory", path=str(p))
    if not p.exists():
        check_output_file(p, option)
    elif not os.access(p, os.W_OK):
        raise InputError(f"{option}: directory is not writable", path=str(p))
    return p
