"""The one exception tree of the library.

::

    KizunaError                 anything kizuna reports to a user (exit status 2 on the CLI)
     ├── InputError             a bad file or value given by the user; names the file and line
     ├── NotFound               an organisation, collection, object or file that does not exist
     ├── Conflict               a duplicate name, a database that already exists
     ├── InvalidObject          a STIX object that fails validation (reason in the message)
     ├── PermissionDenied       the caller may not do this
     ├── StoreError             the storage backend failed or is inconsistent
     └── RemoteError            a hub or peer answered with an error or garbage

Storage and library errors never carry HTTP codes; the TAXII layer maps them.
"""

from __future__ import annotations


class KizunaError(Exception):
    """Base of every error kizuna reports to a user."""

    exit_code = 2


class InputError(KizunaError):
    """Bad user input. ``path`` and ``line`` (1-based) locate it when known."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.reason = message
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{message}")


class NotFound(KizunaError):
    pass


class Conflict(KizunaError):
    pass


class InvalidObject(KizunaError):
    pass


class PermissionDenied(KizunaError):
    pass


class StoreError(KizunaError):
    pass


class RemoteError(KizunaError):
    """A remote hub answered badly. ``status`` is its HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)
