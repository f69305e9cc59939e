"""Small helpers every CLI sub-app shares: consoles, one error line, token files, output files.

* ``out`` (stdout) prints tables and results; ``err`` (stderr) prints messages. Neither interprets Rich
  markup or emoji (paths, patterns and STIX text contain ``[...]`` and ``:name:``), and ``err`` never wraps:
  a message is one line on a terminal, in a pipe and in a log file, however long.
* :func:`output_file` checks an output path *before* any work is done, and :func:`write_output` writes it
  through a temporary file beside it, so a file is never overwritten without ``--force``, never left
  half-written, and a path that cannot be written fails at once with one line and nothing created.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from kizuna.errors import Conflict, InputError, NotFound

#: Rich console for tables and results (stdout) and for messages and progress (stderr).
out = Console(highlight=False, markup=False, emoji=False)
err = Console(stderr=True, highlight=False, markup=False, emoji=False, soft_wrap=True)

#: The help text of every ``--force`` option that lets a command replace an existing output file.
FORCE_HELP = "Replace the output file if it exists (without it, an existing file is refused)."


def say(message: str) -> None:
    """One line on stderr (a note, a result summary): never wrapped, never interpreted as markup."""
    err.print(message)


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
    except IsADirectoryError:
        raise InputError("is a folder, not a token file", path=str(p)) from None
    except OSError as exc:
        raise InputError(f"cannot read token file: {exc.strerror}", path=str(p)) from None
    if not text or "\n" in text:
        raise InputError("token file must hold exactly one non-empty line", path=str(p))
    return text


def input_file(path: str | os.PathLike[str], what: str = "input file") -> Path:
    """``path`` when it is a readable file; NotFound / InputError naming it otherwise."""
    p = Path(path)
    if not p.exists():
        raise NotFound(f"{p}: {what} not found")
    if p.is_dir():
        raise InputError(f"is a folder, not a {what}", path=str(p))
    if not os.access(p, os.R_OK):
        raise InputError(f"cannot read the {what} (permission denied)", path=str(p))
    return p


def output_file(path: str | os.PathLike[str], *, force: bool, what: str = "output file") -> Path:
    """Check an output file before any work: refuse an existing file unless ``force``, a folder, a missing
    parent folder, and a place this process may not write. Returns the path; creates nothing."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise InputError(f"is a folder; give a file name for the {what}", path=str(p))
    if p.exists() or p.is_symlink():
        if not force:
            raise Conflict(f"{p}: {what} already exists; refusing to overwrite it (--force replaces it)")
        if not os.access(p, os.W_OK):
            raise InputError(f"cannot replace the {what} (permission denied)", path=str(p))
    _writable_folder(parent, what, p.name)
    return p


def _writable_folder(folder: Path, what: str, name: str) -> None:
    if folder.exists() and not folder.is_dir():
        raise InputError(f"is a file, not a folder (for the {what} {name})", path=str(folder))
    if not folder.is_dir():
        raise NotFound(f"{folder}: folder does not exist (for the {what} {name})")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"cannot write the {what} {name} here (permission denied)", path=str(folder))


def output_dir(path: str | os.PathLike[str], *, what: str = "output folder") -> Path:
    """Check a folder that files will be written into: it may exist (its files are checked one by one
    with :func:`output_file`) or be created in a writable parent. Creates nothing."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InputError(f"is a file, not a folder, for the {what}", path=str(p))
    if p.is_dir():
        _writable_folder(p, what, p.name)
    else:
        _writable_folder(p.parent if str(p.parent) else Path("."), what, p.name)
    return p


def write_output(
    path: str | os.PathLike[str], write: Callable[[Path], None], *, force: bool, what: str = "output file"
) -> Path:
    """Write ``path`` by calling ``write(temporary_path)`` and moving the result into place.

    The temporary file sits beside ``path`` (same suffix, so writers that choose a format from the name
    still do), so a failure leaves nothing behind and the move is atomic. Without ``force`` an existing
    file is refused, also when one appears while ``write`` runs."""
    p = output_file(path, force=force, what=what)
    parent = p.parent if str(p.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{p.name}.", suffix=p.suffix, dir=parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        if force:
            os.replace(tmp, p)
        else:
            try:
                os.link(tmp, p)  # fails if a file appeared meanwhile: never overwrite silently
            except FileExistsError:
                raise Conflict(
                    f"{p}: {what} already exists; refusing to overwrite it (--force replaces it)"
                ) from None
            except OSError:  # file systems without hard links: re-check, then rename
                if p.exists():
                    raise Conflict(
                        f"{p}: {what} already exists; refusing to overwrite it (--force replaces it)"
                    ) from None
                os.replace(tmp, p)
    except OSError as exc:
        raise InputError(f"cannot write the {what}: {exc.strerror}", path=str(p)) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return p


def write_text_output(
    path: str | os.PathLike[str], text: str, *, force: bool, what: str = "output file"
) -> Path:
    """:func:`write_output` for a text file (UTF-8)."""

    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    return write_output(path, write, force=force, what=what)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
