"""The errors the UI answers with an HTML page (never a traceback)."""

from __future__ import annotations


class WebError(Exception):
    """An error the UI answers with an HTML error page: its status, a title and one sentence."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.message = message


class BadParameter(WebError):
    """A query parameter or form field the UI cannot use: 400, naming it."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(400, f"Bad parameter: {name}", f"{name}: {message}")
        self.name = name


class NeedLogin(Exception):
    """No live session: the browser goes to the sign-in page, and back to ``next_path`` after."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class FormRefused(Exception):
    """A form post whose CSRF token or origin does not check out: answered 403 with what was typed."""

    def __init__(self, reason: str, action: str, fields: list[tuple[str, str]]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.action = action
        self.fields = fields
