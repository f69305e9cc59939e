"""Following growing logs, as ``tail -F`` does: new whole lines, rotation by rename and by copy-truncate.

A :class:`LogTail` follows one path. Each :meth:`LogTail.read` returns the whole lines appended since the
last call (a line still being written waits for its newline) and where the next read starts
(:class:`Position`: the file's device and inode, the byte offset after the last whole line returned, the
lines before it). The caller stores positions durably *with* what it made of the lines, so a restart
resumes exactly there:

* **rename** (``mv app.log app.log.1``, then a new ``app.log``): the path names another inode. The old
  file is read to its end first (it is still open), then the new one from its start. After a restart the
  stored inode is looked for among the files of the same folder (``app.log.1``), so lines written before
  the rotation are not skipped.
* **copy-truncate** (``cp app.log app.log.1; : > app.log``): the same inode, now shorter than the offset:
  the file is read again from its start. Lines appended between the copy and the truncation are lost to
  every reader of such a rotation; that is the rotation's own flaw (``logrotate`` says so).
* ``-`` follows standard input; it cannot be resumed (a pipe has no offset), so its position is not kept.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from kizuna.errors import InputError

STDIN = "-"
#: Largest read from one log per call, so one busy log cannot starve the others (or the flushes).
READ_BYTES = 4 << 20


@dataclass(frozen=True, slots=True)
class Position:
    """Where reading a log resumes: its file (device, inode), the byte offset, the lines before it."""

    dev: int = 0
    inode: int = 0
    offset: int = 0
    line: int = 0

    def to_json(self) -> dict[str, int]:
        return {"dev": self.dev, "inode": self.inode, "offset": self.offset, "line": self.line}

    @classmethod
    def from_json(cls, data: object) -> Position:
        if not isinstance(data, dict) or not all(isinstance(data.get(k), int) for k in ("inode", "offset")):
            raise ValueError("not a log position")
        return cls(int(data.get("dev", 0)), data["inode"], data["offset"], int(data.get("line", 0)))


@dataclass(slots=True)
class Lines:
    """Whole lines read from one file: ``data`` (ending with a newline), from line ``first_line + 1``;
    ``restart``: the lines start a new file (after a rotation or truncation), whose header state is new."""

    data: bytes
    first_line: int
    restart: bool


class LogTail:
    """One followed log path (or ``-``). Not thread-safe; call :meth:`read` from one loop."""

    def __init__(self, path: str, position: Position | None = None, *, from_end: bool = False) -> None:
        self.path = path
        self.position = position or Position()
        self._from_end = from_end and position is None
        self._handle: BinaryIO | None = None
        self._rest = b""  # stdin: a line not yet ended
        self._eof_stdin = False
        if path == STDIN:
            os.set_blocking(0, False)
            return
        p = Path(path)
        if p.exists() and not p.is_file():
            raise InputError("not a regular file", path=path)
        if not p.parent.is_dir():
            raise InputError("log folder not found", path=path)

    @property
    def resumable(self) -> bool:
        return self.path != STDIN

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    # -- reading ---------------------------------------------------------------------------------------
    def read(self, limit: int = READ_BYTES) -> Lines | None:
        """Whole lines appended since the last read (None: none yet)."""
        if self.path == STDIN:
            return self._read_stdin(limit)
        if self._handle is None and not self._open():
            return None
        handle = self._handle
        assert handle is not None
        pos = self.position
        lines = self._read_from(handle, pos, limit)
        if lines is not None:
            return lines
        # nothing new in the open file: has the path been rotated or truncated?
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None  # renamed away, the new one not created yet: keep reading the old one
        if (st.st_dev, st.st_ino) != (pos.dev, pos.inode):
            self.close()  # renamed: the old file was read to its end above
            self.position = Position()
            self._pending_restart = True
            if not self._open():
                return None
        elif st.st_size < pos.offset:  # copy-truncate
            self.position = Position(pos.dev, pos.inode, 0, 0)
            self._pending_restart = True
        else:
            return None
        assert self._handle is not None
        return self._read_from(self._handle, self.position, limit)

    _pending_restart = False

    def _read_from(self, handle: BinaryIO, pos: Position, limit: int) -> Lines | None:
        data = os.pread(handle.fileno(), limit, pos.offset)
        if not data:
            return None
        end = data.rfind(b"\n")
        if end < 0:
            if len(data) >= limit:  # one line longer than a read: take it whole
                end = len(data) - 1
            else:
                return None
        data = data[: end + 1]
        restart, self._pending_restart = self._pending_restart, False
        count = data.count(b"\n")
        self.position = Position(pos.dev, pos.inode, pos.offset + len(data), pos.line + count)
        return Lines(data, pos.line, restart)

    def _open(self) -> bool:
        """Open the file the stored position names (found again after a rotation), or the path."""
        pos = self.position
        if pos.inode and self._handle is None:
            found = self._find_inode(pos.dev, pos.inode)
            if found is not None:
                self._handle = found
                return True
            # the stored file is gone: the path is a new file, read from its start
            self.position = Position()
            self._pending_restart = True
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 - kept open across reads, closed in close()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise InputError(f"cannot read log file: {exc.strerror}", path=self.path) from None
        st = os.fstat(handle.fileno())
        if not stat.S_ISREG(st.st_mode):
            handle.close()
            raise InputError("not a regular file", path=self.path)
        self._handle = handle
        offset = st.st_size if self._from_end else 0
        if self._from_end:
            # start after the last whole line
            tail = os.pread(handle.fileno(), min(offset, 1 << 16), max(0, offset - (1 << 16)))
            offset -= len(tail) - (tail.rfind(b"\n") + 1) if b"\n" in tail else len(tail)
            self._from_end = False
        self.position = Position(st.st_dev, st.st_ino, offset, 0)
        return True

    def _find_inode(self, dev: int, inode: int) -> BinaryIO | None:
        """The file with this inode: the path itself, or a rotated name in the same folder."""
        path = Path(self.path)
        candidates = [path, *sorted(p for p in path.parent.glob(path.name + "*") if p != path)]
        for candidate in candidates:
            try:
                st = candidate.stat()
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == (dev, inode) and stat.S_ISREG(st.st_mode):
                handle = open(candidate, "rb")  # noqa: SIM115 - closed in close()
                st2 = os.fstat(handle.fileno())
                if (st2.st_dev, st2.st_ino) != (dev, inode):
                    handle.close()
                    continue
                if st2.st_size < self.position.offset:  # truncated while we were away
                    self.position = Position(dev, inode, 0, 0)
                    self._pending_restart = True
                return handle
        return None

    def _read_stdin(self, limit: int) -> Lines | None:
        if self._eof_stdin:
            return None
        try:
            data = os.read(0, limit)
        except BlockingIOError:
            return None
        if not data:
            self._eof_stdin = True
            data = b"\n" if self._rest else b""
        buf = self._rest + data
        end = buf.rfind(b"\n")
        if end < 0:
            self._rest = buf
            return None
        self._rest = buf[end + 1 :]
        out = buf[: end + 1]
        first = self.position.line
        self.position = Position(0, 0, 0, first + out.count(b"\n"))
        return Lines(out, first, False)

    @property
    def at_eof_stdin(self) -> bool:
        return self._eof_stdin
