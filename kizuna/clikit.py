"""Small helpers every CLI sub-app shares: one error line, token files, consoles."""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console

from kizuna.errors import InputError, NotFound

#: Rich console for tables and progress (stdout) and for errors (stderr).
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def read_token_file(path: str | os.PathLike[str]) -> str:
    """The secret in ``path``, stripped. NotFound / InputError with the file named otherwise."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise NotFound(f"{p}: token file not found") from None
    except OSError as exc:
        raise InputError(f"cannot read token file: {exc.strerror}", path=str(p)) from None
    if not text or "\n" in text:
        raise InputError("token file must hold exactly one non-empty line", path=str(p))
    return text
