"""The one exception tree of the library.

::

    KizunaError                   anything kizuna reports to a user (exit status 2 on the CLI)
     ├── InputError               a bad file, value, query or cursor given by the user; names file and line
     │    ├── NotAcceptable       the client accepts no media type the hub answers with
     │    └── UnsupportedMedia    a request body in a media type the hub does not take
     ├── InvalidObject            a STIX object that fails validation (reason in the message)
     ├── AuthenticationFailed     no credentials, or unknown or revoked ones
     ├── PermissionDenied         the caller may not do this
     ├── NotFound                 an organisation, collection, object or file that does not exist
     ├── Conflict                 a duplicate name, a database that already exists
     ├── TooLarge                 a request or file beyond a documented limit
     ├── TooManyRequests          more at once than a limit allows (open streams); retry later
     │    └── TooManyFailures     too many failed authentications from a source or for a name
     ├── StoreError               the storage backend failed or is inconsistent
     └── RemoteError              a hub or peer answered with an error or garbage

Library errors never carry HTTP codes: each interface maps the classes (the TAXII API in
``kizuna/hub/taxii/errors.py``, the CLI in ``kizuna/cli.py``). ``InputError`` is also a ``ValueError``,
so code that parses values can catch either.
"""

from __future__ import annotations


class KizunaError(Exception):
    """Base of every error kizuna reports to a user.

    ``title`` is a short summary for interfaces that show one (a TAXII error resource's ``title``); the
    message (``str(exc)``) is the full reason.
    """

    exit_code = 2
    default_title = "error"

    def __init__(self, message: str = "", *, title: str | None = None) -> None:
        super().__init__(message)
        self.title = title or self.default_title


class InputError(KizunaError, ValueError):
    """Bad user input. ``path`` and ``line`` (1-based) locate it when known."""

    default_title = "bad request"

    def __init__(
        self, message: str, *, path: str | None = None, line: int | None = None, title: str | None = None
    ) -> None:
        self.path = path
        self.line = line
        self.reason = message
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{message}", title=title)


class NotAcceptable(InputError):
    default_title = "not acceptable"


class UnsupportedMedia(InputError):
    default_title = "unsupported media type"


class InvalidObject(KizunaError):
    default_title = "invalid object"


class AuthenticationFailed(KizunaError):
    default_title = "authentication required"


class TooManyRequests(KizunaError):
    """More at once than a documented limit allows; ``retry_after_s`` says when to try again."""

    default_title = "too many requests"

    def __init__(self, message: str, *, retry_after_s: int = 5) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message)


class TooManyFailures(TooManyRequests):
    """Failed authentications beyond the rate limit; ``retry_after_s`` says when to try again."""

    default_title = "too many failed authentications"

    def __init__(self, message: str = "too many failed authentications", *, retry_after_s: int = 60) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message)


class PermissionDenied(KizunaError):
    default_title = "forbidden"


class NotFound(KizunaError):
    default_title = "not found"


class Conflict(KizunaError):
    default_title = "conflict"


class TooLarge(KizunaError):
    default_title = "request too large"


class StoreError(KizunaError):
    default_title = "storage unavailable"


class RemoteError(KizunaError):
    """A remote hub answered badly, or could not be reached. ``status`` is its HTTP status when there was
    one; ``url`` the address asked; ``remote_title`` and ``remote_description`` the two parts of the TAXII
    error resource it answered with, when it did."""

    default_title = "remote error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        url: str | None = None,
        remote_title: str | None = None,
        remote_description: str | None = None,
    ) -> None:
        self.status = status
        self.url = url
        self.remote_title = remote_title
        self.remote_description = remote_description
        super().__init__(message)
