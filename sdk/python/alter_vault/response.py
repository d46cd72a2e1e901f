"""The upstream API's answer, as the application reads it."""

from __future__ import annotations

import json as jsonlib
from typing import Any, Mapping


class Response:
    """An upstream answer: any status, the API's own 4xx and 5xx included.

    ``headers`` is case-insensitive (``resp.headers["content-type"]``).
    """

    def __init__(self, status_code: int, reason: str, headers: Mapping[str, str], content: bytes, url: str) -> None:
        self.status_code = status_code
        self.reason = reason
        self.headers = headers
        self.content = content
        self.url = url

    @property
    def ok(self) -> bool:
        """True for a status below 400."""
        return self.status_code < 400

    @property
    def text(self) -> str:
        """The body decoded with the charset of Content-Type (UTF-8 if none)."""
        charset = "utf-8"
        ct = self.headers.get("Content-Type") or ""
        for part in ct.split(";")[1:]:
            k, _, v = part.strip().partition("=")
            if k.lower() == "charset" and v:
                charset = v.strip('"')
        try:
            return self.content.decode(charset, errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON (ValueError if it is not)."""
        return jsonlib.loads(self.content)

    def __repr__(self) -> str:
        return "<Response [%d]>" % self.status_code
