"""The source stage: Reddit submissions in, the URLs worth fetching out (WebText's link rule).

In:  a stream of raw records from `webtext.crawl.dumps` (dump lines or listing children).
Out: `SourceResult`: one `UrlRecord` per unique normalised URL whose karma >= `min_karma`, and a
     count for every submission that was not kept, by `SourceDrop` reason, such that
     read == kept + sum(dropped). A kept submission is one that contributes to a kept URL.

Rules: WebText (Radford et al. 2019, section 2.1) keeps outbound links of posts with at least 3
karma and removes Wikipedia; the karma of a URL is its best submission's score (WebText,
OpenWebText) or the sum over its submissions (OpenWebText2), per `karma_mode`. Memory grows
with the number of unique URLs, not with the number of submissions read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from webtext.crawl.config import SourceConfig
from webtext.crawl.dumps import FileError, RawRecord
from webtext.crawl.urlnorm import UrlNormalizer, host_matches
from webtext.records import SourceDrop, Submission, UrlRecord

Reject = Callable[[str, int, SourceDrop, str], None]  # file, line, reason, detail


@dataclass
class SourceResult:
    urls: list[UrlRecord]
    read: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    files: list[str] = field(default_factory=list)
    file_errors: list[FileError] = field(default_factory=list)
    urls_seen: int = 0  # unique normalised URLs before the karma rule

    def stats(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "kept": self.kept,
            "dropped": {r.value: self.dropped.get(r, 0) for r in SourceDrop},
            "urls_seen": self.urls_seen,
            "urls_kept": len(self.urls),
            "files": {
                "read": len(self.files) - len(self.file_errors),
                "unreadable": [
                    {"file": e.file, "error": e.error,
                     "records_before_error": e.records_before_error}
                    for e in self.file_errors
                ],
            },
        }


class _BadType(Exception):
    pass


_REMOVED_TEXT = frozenset(("[removed]", "[deleted]"))
_WIKIPEDIA = frozenset(("wikipedia.org",))
_UNSEEN = object()


def _int(value: Any, name: str) -> int:
    if type(value) is int:
        return value
    if isinstance(value, bool):
        raise _BadType(f"{name} is a bool")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)  # created_utc is a string in some months of the dumps
    raise _BadType(f"{name} is {type(value).__name__}: {value!r:.40}")


def _str(value: Any, name: str) -> str:
    if type(value) is str:
        return value
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _BadType(f"{name} is {type(value).__name__}")
    return value


def _bool(value: Any, name: str) -> bool:
    if value is True or value is False:
        return value
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _BadType(f"{name} is {type(value).__name__}")
    return value


def to_submission(obj: dict[str, Any]) -> Submission:
    """Typed view of a submission object; `_BadType` when a field has the wrong type."""
    g = obj.get
    sid, sr, url = g("id"), g("subreddit"), g("url")
    score, created = g("score", 0), g("created_utc", 0)
    title, author, is_self, over_18 = g("title"), g("author"), g("is_self"), g("over_18")
    # The fast path takes the types real dumps almost always have; anything else goes through
    # the checked conversions (created_utc as a string in some months, floats, wrong types).
    if not (
        type(score) is int and type(created) is int and type(sid) is str and type(sr) is str
        and (url is None or type(url) is str)
        and (title is None or type(title) is str) and (author is None or type(author) is str)
        and (is_self is None or is_self is True or is_self is False)
        and (over_18 is None or over_18 is True or over_18 is False)
    ):
        if url is not None and not isinstance(url, str):
            raise _BadType(f"url is {type(url).__name__}")
        sid, sr = _str(sid, "id"), _str(sr, "subreddit")
        score, created = _int(score, "score"), _int(created, "created_utc")
        title, author = _str(title, "title"), _str(author, "author")
        is_self, over_18 = _bool(is_self, "is_self"), _bool(over_18, "over_18")
    removed = g("removed_by_category") is not None or (
        g("selftext") in _REMOVED_TEXT or title in _REMOVED_TEXT
    )
    return Submission(sid, sr, url or "", score, created, title or "", author or "",
                      bool(is_self), bool(over_18), removed)


class SourceSelector:
    """Applies the per-submission rules and aggregates kept submissions by normalised URL."""

    def __init__(self, config: SourceConfig, on_reject: Reject | None = None):
        self.cfg = config
        self.on_reject = on_reject
        self.norm = UrlNormalizer(config.tracking_params)
        self.blocked_domains = frozenset(d.lower().lstrip(".") for d in config.blocked_domains)
        self.blocked_ext = tuple(e.lower() for e in config.blocked_extensions)
        self.allow = frozenset(s.lower() for s in config.subreddit_allow)
        self.deny = frozenset(s.lower() for s in config.subreddit_deny)
        self.result = SourceResult(urls=[])
        # url -> [domain, karma_max, karma_sum, n, subreddits, ids, first_created]
        self._agg: dict[str, list[Any]] = {}
        self._host_reason: dict[str, SourceDrop | None] = {}

    def _drop(self, rec: RawRecord, reason: SourceDrop, detail: str = "") -> None:
        self.result.dropped[reason] += 1
        if self.on_reject is not None:
            self.on_reject(rec.file, rec.line, reason, detail)

    def _host_rule(self, host: str) -> SourceDrop | None:
        if self.cfg.drop_wikipedia and host_matches(host, _WIKIPEDIA):
            return SourceDrop.WIKIPEDIA
        if host_matches(host, self.blocked_domains):
            return SourceDrop.BLOCKED_DOMAIN
        return None

    def _reason(self, sub: Submission) -> tuple[SourceDrop | None, str, str]:
        """(drop reason or None, normalised url, host) for one typed submission."""
        cfg = self.cfg
        if cfg.drop_self_posts and sub.is_self:
            return SourceDrop.SELF_POST, "", ""
        if cfg.drop_removed and sub.removed:
            return SourceDrop.REMOVED, "", ""
        if cfg.drop_nsfw and sub.over_18:
            return SourceDrop.NSFW, "", ""
        sr = sub.subreddit.lower()
        if sr in self.deny or (self.allow and sr not in self.allow):
            return SourceDrop.SUBREDDIT_DENIED, "", ""
        if not sub.url:
            return SourceDrop.MISSING_URL, "", ""
        normalized = self.norm.normalize(sub.url)
        if normalized is None:
            return SourceDrop.BAD_URL, "", ""
        url, host = normalized
        host_reason = self._host_reason.get(host, _UNSEEN)
        if host_reason is _UNSEEN:
            host_reason = self._host_rule(host)
            if len(self._host_reason) < 1_000_000:  # hosts repeat far more than URLs do
                self._host_reason[host] = host_reason
        if host_reason is not None:
            return host_reason, url, host
        path = url.split("?", 1)[0].lower()
        if path.endswith(self.blocked_ext):
            return SourceDrop.BLOCKED_EXTENSION, url, host
        return None, url, host

    def add(self, rec: RawRecord) -> None:
        self.result.read += 1
        payload = rec.payload
        if isinstance(payload, (bytes, bytearray)):
            try:
                obj = orjson.loads(payload)
            except orjson.JSONDecodeError as e:
                try:
                    payload.decode("utf-8")
                except UnicodeDecodeError:
                    self._drop(rec, SourceDrop.INVALID_UTF8, str(e))
                    return
                self._drop(rec, SourceDrop.MALFORMED_JSON, str(e))
                return
        else:
            obj = payload
        if not isinstance(obj, dict):
            self._drop(rec, SourceDrop.NOT_A_SUBMISSION, f"a JSON {type(obj).__name__}")
            return
        try:
            sub = to_submission(obj)
        except _BadType as e:
            self._drop(rec, SourceDrop.WRONG_TYPE, str(e))
            return
        reason, url, host = self._reason(sub)
        if reason is not None:
            self._drop(rec, reason, sub.url[:200])
            return
        agg = self._agg.get(url)
        if agg is None:
            self._agg[url] = [host, sub.score, sub.score, 1, [sub.subreddit], [sub.id],
                              sub.created_utc]
        else:
            agg[1] = max(agg[1], sub.score)
            agg[2] += sub.score
            agg[3] += 1
            if sub.subreddit not in agg[4]:
                agg[4].append(sub.subreddit)
            agg[5].append(sub.id)
            agg[6] = min(agg[6], sub.created_utc)

    def add_all(self, stream: Iterable[RawRecord | FileError]) -> None:
        files_seen: set[str] = set()
        for rec in stream:
            if rec.file not in files_seen:
                files_seen.add(rec.file)
                self.result.files.append(rec.file)
            if isinstance(rec, FileError):
                self.result.file_errors.append(rec)
                continue
            self.add(rec)

    def finish(self) -> SourceResult:
        """Apply the karma rule per URL and return the URLs, sorted for stable output."""
        res = self.result
        res.urls_seen = len(self._agg)
        by_sum = self.cfg.karma_mode == "sum"
        kept: list[UrlRecord] = []
        for url in sorted(self._agg):
            host, kmax, ksum, n, subs, ids, first = self._agg[url]
            if (ksum if by_sum else kmax) < self.cfg.min_karma:
                res.dropped[SourceDrop.LOW_KARMA] += n
                continue
            res.kept += n
            kept.append(UrlRecord(url=url, domain=host, karma=kmax, karma_sum=ksum,
                                  n_submissions=n, subreddits=subs, submission_ids=ids,
                                  first_created_utc=first))
        res.urls = kept
        self._agg = {}
        return res


def select_urls(
    stream: Iterable[RawRecord | FileError], config: SourceConfig, on_reject: Reject | None = None
) -> SourceResult:
    """Run the source rules over a record stream (see module docstring)."""
    selector = SourceSelector(config, on_reject)
    selector.add_all(stream)
    return selector.finish()
