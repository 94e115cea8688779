"""URL normalisation: variants of one page become one URL before they are counted or fetched.

In:  a URL string from a submission (untrusted; may be anything).
Out: the normalised URL and its host, or None when it is not a fetchable http(s) URL.

Rules (the usual canonicalisation of web crawlers, cf. RFC 3986 section 6): lower-case scheme
and host, drop the default port, drop the fragment, drop user info, drop tracking parameters
(`utm_*`, `fbclid`, ...), keep the remaining query parameters in their order and bytes, empty
path -> "/".
The host keeps its `www.` (it can serve a different site) and the path keeps its case.
"""

from __future__ import annotations

import re
from fnmatch import translate
from urllib.parse import SplitResult, urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
_SPACE = re.compile(r"\s")
# Most URLs in the dumps are already in canonical form apart from their query: lower-case
# http(s) scheme and host, no port, no user info. They take a fast path of string splits; the
# rest go through urlsplit. Both give the same result (tested).
_PLAIN_HOST = re.compile(r"[a-z0-9][a-z0-9.-]*").fullmatch


class UrlNormalizer:
    """Normalise URLs with a fixed set of tracking-parameter patterns (`utm_*` style globs)."""

    def __init__(self, tracking_params: list[str]):
        # One case-insensitive pattern for every tracking key (`utm_*` globs included).
        self._tracking_key = re.compile(
            "|".join(f"(?:{translate(p.lower())})" for p in tracking_params) or r"(?!)", re.I
        ).match
        # Does a query string hold any tracking key at all? (most do not: then it is kept as is)
        keys = "|".join(translate(p.lower()).removesuffix(r"\Z").removeprefix("(?s:").rstrip(")")
                        for p in tracking_params)
        self._any_tracking = re.compile(rf"(?:^|[&;])(?:{keys})(?:[=&;]|$)", re.I)

    def _tracking(self, key: str) -> bool:
        return self._tracking_key(key) is not None

    def _query(self, query: str) -> str:
        """The query without its tracking parameters; the others keep their exact bytes."""
        if not query or not self._any_tracking.search(query):
            return query
        match = self._tracking_key
        return "&".join(p for p in query.split("&")
                        if p and match(p.partition("=")[0]) is None)

    def normalize(self, url: str) -> tuple[str, str] | None:
        """(normalised url, host) or None if `url` is not an http(s) URL with a host."""
        url = url.strip()
        if not url or _SPACE.search(url):
            return None
        if url.startswith("https://"):
            scheme, rest = "https", url[8:]
        elif url.startswith("http://"):
            scheme, rest = "http", url[7:]
        else:
            return self._normalize_slow(url)
        rest = rest.partition("#")[0]
        rest, _, query = rest.partition("?")
        slash = rest.find("/")
        host, path = (rest, "/") if slash < 0 else (rest[:slash], rest[slash:])
        if _PLAIN_HOST(host) is None:
            return self._normalize_slow(url)
        host = host.rstrip(".")
        if not host:
            return self._normalize_slow(url)
        query = self._query(query) if query else ""
        base = f"{scheme}://{host}{path}"
        return (f"{base}?{query}" if query else base), host

    def _normalize_slow(self, url: str) -> tuple[str, str] | None:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:  # bad port, bad IPv6 literal
            return None
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            return None
        host = (parts.hostname or "").rstrip(".")
        if not host:
            return None
        if ":" in host:  # IPv6 literal: keep its brackets in the netloc
            netloc = f"[{host}]"
        else:
            netloc = host
        if port is not None and port != _DEFAULT_PORTS[scheme]:
            netloc += f":{port}"
        query = self._query(parts.query)
        path = parts.path or "/"
        return urlunsplit(SplitResult(scheme, netloc, path, query, "")), host


def host_matches(host: str, domains: frozenset[str]) -> bool:
    """True if `host` is one of `domains` or a subdomain of one (m.youtube.com ~ youtube.com)."""
    if host in domains:
        return True
    dot = host.find(".")
    while dot != -1:
        if host[dot + 1 :] in domains:
            return True
        dot = host.find(".", dot + 1)
    return False
