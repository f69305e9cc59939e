"""The compiled-indicator cache of ``kizuna match --bundle``: validating, selecting and compiling 100,000
indicators costs seconds of CPU on every run; a run over the same bundles loads them instead.

An entry is keyed by a SHA-256 of the bundles' bytes (each with its length, in order), of kizuna's own
source and data files (the validator, the pattern compiler, the warning lists) and of the Python version,
so a different bundle, a different kizuna or Python is a different key: an entry is never stale. What it
holds does not depend on the time (:class:`~kizuna.detect.indicators.Prepared`: ``valid_until`` is
parsed, not judged), so ``--now`` - or the clock - is applied after loading; the matcher compiled last is
kept with the ids it was compiled from and reused only when the selection gives the same ids.

Files live in ``$XDG_CACHE_HOME/kizuna/match`` (default ``~/.cache/kizuna/match``), the folder mode 0700,
files 0600, written whole (temporary file and rename). A file is used only when it and its folder belong
to this user and nobody else may write them, and when the SHA-256 it carries of its payload holds: a
corrupt or foreign file is ignored (and replaced). At most :data:`KEEP` entries are kept, the least
recently used are removed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import os
import pickle
import stat
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

import kizuna
from kizuna.detect import pattern
from kizuna.detect.indicators import Indicator, Prepared
from kizuna.detect.matcher import Matcher

MAGIC = b"kizuna compiled indicators 2\n"
KEEP = 4  # entries kept in the folder
_SUFFIX = ".kzc"


@dataclass
class Compiled:
    """The time-independent result of loading bundles: prepared indicators, the validator's refusals
    (messages in bundle order), and the last matcher with the indicator ids it was compiled from."""

    prepared: list[Prepared]
    refused: list[str]
    active_ids: tuple[str, ...] = ()
    matcher: Matcher | None = None

    def matcher_for(self, ids: tuple[str, ...]) -> Matcher | None:
        return self.matcher if self.matcher is not None and ids == self.active_ids else None


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/kizuna/match``; ``~/.cache`` when the variable is unset, empty or relative (as the
    XDG base directory specification says)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return root / "kizuna" / "match"


@lru_cache(maxsize=1)
def code_digest() -> bytes:
    """SHA-256 of kizuna's source and data files and of the Python version: what an entry depends on
    besides the bundles."""
    h = hashlib.sha256(sys.version.encode())
    root = Path(kizuna.__file__).parent
    for path in sorted(root.rglob("*")):
        if path.suffix in (".py", ".json") and path.is_file():
            h.update(str(path.relative_to(root)).encode() + b"\0")
            data = path.read_bytes()
            h.update(len(data).to_bytes(8, "big"))
            h.update(data)
    return h.digest()


def cache_key(bundles: list[bytes]) -> str:
    h = hashlib.sha256(code_digest())
    for data in bundles:
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


def _trusted(path: Path) -> bool:
    """Owned by this user, and nobody else may write it."""
    try:
        st = path.stat()
    except OSError:
        return False
    return st.st_uid == os.getuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def load(key: str, folder: Path | None = None) -> Compiled | None:
    """The entry of ``key``, or None when there is none that can be trusted and read whole."""
    folder = folder or cache_dir()
    path = folder / f"{key}{_SUFFIX}"
    if not (_trusted(folder) and _trusted(path)):
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None
    head = len(MAGIC)
    digest, payload = data[head : head + 32], memoryview(data)[head + 32 :]
    if data[:head] != MAGIC or hashlib.sha256(payload).digest() != digest:
        return None
    try:
        entry = pickle.loads(payload)
    except Exception:  # a payload that passed its digest but does not load: treat as absent
        return None
    if not isinstance(entry, Compiled):
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used
    return entry


def store(key: str, entry: Compiled, folder: Path | None = None) -> bool:
    """Write the entry of ``key`` (whole, mode 0600); False when the folder cannot be used."""
    folder = folder or cache_dir()
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _trusted(folder):
            return False
        buffer = io.BytesIO()
        _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(entry)
        payload = buffer.getvalue()
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(MAGIC)
                f.write(hashlib.sha256(payload).digest())
                f.write(payload)
            os.replace(tmp, folder / f"{key}{_SUFFIX}")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _prune(folder)
    except OSError:
        return False
    return True


class _Pickler(pickle.Pickler):
    """Pickles an entry so that it loads fast: what it holds most of is rebuilt by calling constructors
    (the default for slotted and frozen dataclasses sets each field from interpreted code), and an
    indicator's expression and STIX object are left to be made when first read
    (:class:`~kizuna.detect.indicators.Indicator`: a loaded matcher has its own expressions)."""

    def reducer_override(self, obj: Any) -> Any:
        kind = type(obj)
        if kind is Indicator:
            raw: Any = obj.raw
            with contextlib.suppress(TypeError):  # not JSON (not read from a bundle): kept as it is
                raw = orjson.dumps(raw)
            return Indicator, (obj.id, obj.name, obj.pattern, None, obj.tlp, obj.listed_on, raw)
        if kind is Prepared:
            return Prepared, (
                obj.id,
                obj.revoked,
                obj.until_text,
                obj.until,
                obj.indicator,
                obj.skip,
                obj.error,
            )
        fields = _FIELDS.get(kind)
        if fields is not None:
            return kind, tuple([getattr(obj, name) for name in fields])
        return NotImplemented


#: init fields of the pattern's expression classes (frozen dataclasses), in order
_FIELDS: dict[type, tuple[str, ...]] = {
    kind: tuple(f.name for f in dataclasses.fields(kind) if f.init)
    for kind in (
        pattern.Comparison,
        pattern.BoolAnd,
        pattern.BoolOr,
        pattern.Observation,
        pattern.ObsAnd,
        pattern.ObsOr,
        pattern.FollowedBy,
        pattern.Within,
        pattern.Repeats,
        pattern.StartStop,
    )
}


def _prune(folder: Path) -> None:
    entries = []
    for path in folder.glob(f"*{_SUFFIX}"):
        try:
            entries.append((path.stat().st_mtime, path))
        except OSError:
            continue
    entries.sort(reverse=True)
    for _mtime, path in entries[KEEP:]:
        path.unlink(missing_ok=True)
