"""The typed records that flow between stages, and the Parquet schemas they are stored in.

One module for all of them (STYLE.md, convention 1), so that a column written by one stage is
read under the same name by the next. The data contracts are in DESIGN.md; columns may be added
to a schema here, never renamed.

In:  nothing (plain definitions).
Out: `Submission`, `UrlRecord`, `FetchedPage`, `Document`, the closed sets of reason codes, and
     the pyarrow schemas of `urls.parquet` and `fetch.parquet`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum

import pyarrow as pa


class SourceDrop(StrEnum):
    """Why a submission read from a dump did not become (part of) a kept URL.

    Every submission read ends in exactly one of these or is kept, so that
    read = kept + sum(drops) holds in `source_stats.json`. Files that cannot be read at all
    are counted apart, per file.
    """

    MALFORMED_JSON = "malformed_json"  # truncated or otherwise unparsable line
    INVALID_UTF8 = "invalid_utf8"  # bytes that are not UTF-8
    WRONG_TYPE = "wrong_type"  # a field of the wrong type (e.g. score as a list)
    NOT_A_SUBMISSION = "not_a_submission"  # valid JSON, but not a submission object
    MISSING_URL = "missing_url"  # link post without a url field
    SELF_POST = "self_post"  # text post: no outbound link
    REMOVED = "removed"  # removed by moderators/admins or deleted by the author
    NSFW = "nsfw"  # over_18
    SUBREDDIT_DENIED = "subreddit_denied"  # subreddit deny list, or not in the allow list
    BAD_URL = "bad_url"  # not http(s), no host, or unparsable
    BLOCKED_DOMAIN = "blocked_domain"  # reddit, imgur, youtube, twitter, ...
    BLOCKED_EXTENSION = "blocked_extension"  # images, video, archives, ...
    WIKIPEDIA = "wikipedia"  # WebText removed Wikipedia to keep evaluation sets clean
    LOW_KARMA = "low_karma"  # the URL's karma (max or sum) is below min_karma


class FetchStatus(StrEnum):
    """The terminal state of one URL in the crawl: every URL ends in exactly one.

    `robots_unreachable` follows RFC 9309 section 2.3.1.4: a robots.txt that answers 5xx or
    cannot be reached means complete disallow, so none of that host's URLs is requested.
    """

    FETCHED = "fetched"
    HTTP_ERROR = "http_error"  # final response 4xx/5xx (code in http_status)
    TIMEOUT = "timeout"
    DNS_ERROR = "dns_error"
    CONNECTION_ERROR = "connection_error"  # refused, reset, aborted mid-body
    ROBOTS_DENIED = "robots_denied"
    ROBOTS_UNREACHABLE = "robots_unreachable"  # robots.txt 5xx or unreachable (RFC 9309)
    TOO_LARGE = "too_large"  # body (after decompression) over the size cap
    NOT_HTML = "not_html"  # content type outside the allow list
    TOO_MANY_REDIRECTS = "too_many_redirects"
    BLOCKED_ADDRESS = "blocked_address"  # resolved to an address the guard refuses
    BAD_URL = "bad_url"  # the crawler could not build a request for it
    ARCHIVE_MISSING = "archive_missing"  # archive mode: the URL is in no given WARC file


def doc_id(url: str) -> str:
    """Stable id of a document: a hash of its normalised URL (DESIGN.md, docs contract)."""
    return hashlib.blake2b(url.encode("utf-8"), digest_size=8).hexdigest()


@dataclass(slots=True)
class Submission:
    """One Reddit link submission, as far as the source stage needs it."""

    id: str
    subreddit: str
    url: str
    score: int
    created_utc: int
    title: str = ""
    author: str = ""
    is_self: bool = False
    over_18: bool = False
    removed: bool = False


@dataclass(slots=True)
class UrlRecord:
    """One unique normalised URL and the karma of the submissions that linked to it."""

    url: str
    domain: str
    karma: int  # max score over its submissions (WebText, OpenWebText)
    karma_sum: int  # sum over its submissions (OpenWebText2)
    n_submissions: int
    subreddits: list[str] = field(default_factory=list)
    submission_ids: list[str] = field(default_factory=list)
    first_created_utc: int = 0


@dataclass(slots=True)
class FetchedPage:
    """The outcome of fetching one URL; the body itself lives in the WARC file."""

    url: str
    final_url: str
    status: str  # a FetchStatus value
    http_status: int | None = None
    content_type: str | None = None
    n_bytes: int = 0
    error: str | None = None
    fetched_at: str | None = None  # ISO 8601, UTC
    warc_file: str | None = None  # relative to the build directory
    warc_offset: int | None = None  # offset of the response record


@dataclass(slots=True)
class Document:
    """One extracted page with its signals; `reasons` lists every rule it fails."""

    doc_id: str
    url: str
    domain: str
    karma: int
    title: str
    text: str
    n_chars: int
    n_words: int
    lang: str
    lang_score: float
    signals: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)


URLS_SCHEMA = pa.schema(
    [
        ("url", pa.string()),
        ("domain", pa.string()),
        ("karma", pa.int64()),
        ("karma_sum", pa.int64()),
        ("n_submissions", pa.int64()),
        ("subreddits", pa.list_(pa.string())),
        ("submission_ids", pa.list_(pa.string())),
        ("first_created_utc", pa.int64()),
    ]
)

FETCH_SCHEMA = pa.schema(
    [
        ("url", pa.string()),
        ("final_url", pa.string()),
        ("status", pa.string()),
        ("http_status", pa.int32()),
        ("content_type", pa.string()),
        ("n_bytes", pa.int64()),
        ("error", pa.string()),
        ("fetched_at", pa.string()),
        ("warc_file", pa.string()),
        ("warc_offset", pa.int64()),
    ]
)


def records_to_table(records: list, schema: pa.Schema) -> pa.Table:
    """Turn a list of dataclass records into a table with exactly the given schema."""
    columns = {name: [getattr(r, name) for r in records] for name in schema.names}
    return pa.table(columns, schema=schema)
