"""The rules that turn a final HTTP response into a terminal fetch status.

In:  a response's status code, Content-Type header and body size, and the crawl limits.
Out: a `FetchStatus` value. Shared by the live fetcher (fetcher.py) and the archive mode
     (archive.py), so a page read from a WARC file gets the status a live fetch would give it.

Rules: 2xx is `fetched` if its media type is in the allow list (HTML, XHTML) and its body is
within the size cap, else `not_html` / `too_large`; every other final status is `http_error`
(redirects are followed before this point; a 3xx without a usable Location ends here too).
"""

from __future__ import annotations

import time
from typing import Any

from webtext.records import FetchStatus


def media_type(content_type: str | bytes | None) -> str:
    """The media type of a Content-Type value, lower case, without parameters ("" if none)."""
    if content_type is None:
        return ""
    if isinstance(content_type, bytes):
        content_type = content_type.decode("latin-1")
    return content_type.split(";", 1)[0].strip().lower()


def allowed_type(content_type: str | bytes | None, allowed: list[str]) -> bool:
    return media_type(content_type) in allowed


def response_status(code: int, content_type: str | None, n_bytes: int, *,
                    allowed_types: list[str], max_bytes: int) -> FetchStatus:
    """The terminal status of a final (non-redirect) response."""
    if not 200 <= code < 300:
        return FetchStatus.HTTP_ERROR
    if not allowed_type(content_type, allowed_types):
        return FetchStatus.NOT_HTML
    if n_bytes > max_bytes:
        return FetchStatus.TOO_LARGE
    return FetchStatus.FETCHED


_LAST_SECOND: list[Any] = [None, ""]  # (epoch second, its text): pages come many per second


def utc_now() -> str:
    """The current time as ISO 8601 UTC with a Z, as WARC-Date and `fetched_at` use."""
    second = int(time.time())
    if second != _LAST_SECOND[0]:
        _LAST_SECOND[:] = [second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))]
    return _LAST_SECOND[1]
