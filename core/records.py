"""The typed records that flow between stages, and the contracts they are stored in.

One module for all of them (docs/design.md, "Conventions" 1), so that a column written by one
stage is read under the same name by the next: writers build their tables from these schemas,
readers select columns by the names defined here. The data contracts are described in
docs/design.md, "Data contracts"; columns may be added to a schema here, never renamed.

In:  nothing (plain definitions).
Out: `UrlRecord`, `FetchedPage`, the closed sets of reason codes, the pyarrow schemas of
     `urls.parquet`, `fetch.parquet`, `docs/*.parquet` (with its quality-signal columns),
     `dedup.parquet` and dedup/'s signature tables, the column names of the token shards, and
     `TokensManifest`, the typed `manifest.json` of a tokens dir (format `TOKENS_FORMAT`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict


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
    # Dead live (or looked up first), recovered from a web archive (crawl/recover.py).
    ARCHIVED_CC = "archived_cc"  # from Common Crawl: CDX index, then one WARC record by Range
    ARCHIVED_IA = "archived_ia"  # from the Wayback Machine: CDX, then the raw `id_` capture


# The statuses whose URL has a page in the build's WARC files, which clean/ turns into documents.
PAGE_STATUSES = frozenset({FetchStatus.FETCHED.value, FetchStatus.ARCHIVED_CC.value,
                           FetchStatus.ARCHIVED_IA.value})


def doc_id(url: str) -> str:
    """Stable id of a document: a hash of its normalised URL (the docs contract)."""
    return hashlib.blake2b(url.encode("utf-8"), digest_size=8).hexdigest()


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
    # Provenance of a page taken from an archive (None for a live fetch): "cc", "ia", or
    # "warc" (a given WARC collection); when the archive captured it (ISO 8601, UTC); the
    # archive's own id of the capture (Common Crawl: its WARC-Record-ID; Wayback: the `id_`
    # capture URL; a WARC collection: the WARC-Record-ID).
    archive: str | None = None
    archive_capture_time: str | None = None
    archive_record_id: str | None = None


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
        ("archive", pa.string()),
        ("archive_capture_time", pa.string()),
        ("archive_record_id", pa.string()),
    ]
)


def records_to_table(records: list, schema: pa.Schema) -> pa.Table:
    """Turn a list of dataclass records into a table with exactly the given schema."""
    columns = {name: [getattr(r, name) for r in records] for name in schema.names}
    return pa.table(columns, schema=schema)


# --- docs/*.parquet (clean stage) --------------------------------------------------------------


class DocsColumn(StrEnum):
    """The columns of `docs/*.parquet` other than the quality signals, in the order written."""

    DOC_ID = "doc_id"  # `doc_id(url)` of the normalised URL
    URL = "url"
    FINAL_URL = "final_url"
    DOMAIN = "domain"
    KARMA = "karma"
    KARMA_SUM = "karma_sum"
    TITLE = "title"
    DATE = "date"
    TEXT = "text"
    N_CHARS = "n_chars"
    N_WORDS = "n_words"
    LANG = "lang"
    LANG_SCORE = "lang_score"
    ENCODING = "encoding"
    CHARSET_SOURCE = "charset_source"
    DECODE_ERRORS = "decode_errors"
    ERROR = "error"
    WARC_FILE = "warc_file"
    WARC_OFFSET = "warc_offset"
    REASONS = "reasons"  # failed-rule codes (clean's `Reason`); empty = passes every rule


_INT, _FLOAT, _STR = pa.int64(), pa.float64(), pa.string()

# One column per quality signal, in the order written, with its type; null when a page has no
# text. clean/quality.py measures exactly these (and checks at import that it names them all).
SIGNAL_COLUMNS: dict[str, pa.DataType] = {
    "n_lines": _INT,
    "gopher_mean_word_length": _FLOAT,
    "gopher_hash_ratio": _FLOAT,
    "gopher_ellipsis_ratio": _FLOAT,
    "gopher_bullet_lines_frac": _FLOAT,
    "gopher_ellipsis_lines_frac": _FLOAT,
    "gopher_alpha_words_frac": _FLOAT,
    "gopher_stop_words": _INT,
    "gopher_dup_line_frac": _FLOAT,
    "gopher_dup_para_frac": _FLOAT,
    "gopher_dup_line_char_frac": _FLOAT,
    "gopher_dup_para_char_frac": _FLOAT,
    **{f"gopher_top_{n}gram_char_frac": _FLOAT for n in (2, 3, 4)},
    **{f"gopher_dup_{n}gram_char_frac": _FLOAT for n in (5, 6, 7, 8, 9, 10)},
    "c4_long_word_lines": _INT,
    "c4_no_punct_lines": _INT,
    "c4_short_lines": _INT,
    "c4_javascript_lines": _INT,
    "c4_policy_lines": _INT,
    "c4_kept_lines": _INT,
    "c4_sentences": _INT,
    "c4_lorem_ipsum": _INT,
    "c4_curly_bracket": _INT,
    "fineweb_line_punct_frac": _FLOAT,
    "fineweb_short_line_frac": _FLOAT,
    "fineweb_dup_line_char_frac": _FLOAT,
    "fineweb_newline_word_ratio": _FLOAT,
    "replaced_char_frac": _FLOAT,  # U+FFFD per character (decode_error)
}

_D = DocsColumn
DOCS_SCHEMA = pa.schema(
    [
        (_D.DOC_ID, _STR),
        (_D.URL, _STR),
        (_D.FINAL_URL, _STR),
        (_D.DOMAIN, _STR),
        (_D.KARMA, _INT),
        (_D.KARMA_SUM, _INT),
        (_D.TITLE, _STR),
        (_D.DATE, _STR),
        (_D.TEXT, _STR),
        (_D.N_CHARS, _INT),
        (_D.N_WORDS, _INT),
        (_D.LANG, _STR),
        (_D.LANG_SCORE, _FLOAT),
        (_D.ENCODING, _STR),
        (_D.CHARSET_SOURCE, _STR),
        (_D.DECODE_ERRORS, _INT),
        (_D.ERROR, _STR),
        (_D.WARC_FILE, _STR),
        (_D.WARC_OFFSET, _INT),
        *SIGNAL_COLUMNS.items(),
        (_D.REASONS, pa.list_(_STR)),
    ]
)


# --- dedup.parquet and dedup/signatures/*.parquet (dedup stage) --------------------------------


class DedupColumn(StrEnum):
    """The columns of `dedup.parquet`, one row per document, in the order written."""

    DOC_ID = "doc_id"
    CLUSTER_ID = "cluster_id"  # the kept document's doc_id (its own id when kept)
    KEEP = "keep"
    DUP_OF = "dup_of"
    DUP_KIND = "dup_kind"  # a DupKind value (dedup/clusters.py), null when kept
    JACCARD_EST = "jaccard_est"
    CONTAMINATED = "contaminated"  # shares an n-gram with the evaluation texts
    DUP_BUILD = "dup_build"  # earlier build holding the kept copy (earlier_snapshot only)


DEDUP_SCHEMA = pa.schema([
    (DedupColumn.DOC_ID, _STR),
    (DedupColumn.CLUSTER_ID, _STR),
    (DedupColumn.KEEP, pa.bool_()),
    (DedupColumn.DUP_OF, _STR),
    (DedupColumn.DUP_KIND, _STR),
    (DedupColumn.JACCARD_EST, _FLOAT),
    (DedupColumn.CONTAMINATED, pa.bool_()),
    (DedupColumn.DUP_BUILD, _STR),
])


class SignatureColumn(StrEnum):
    """The per-document columns stored beside dedup/'s MinHash signatures
    (`dedup/signatures/<shard>.parquet`, parallel to the rows of `.minhash/<shard>.npy`)."""

    DOC_ID = "doc_id"
    TEXT_HASH = "text_hash"  # exact-duplicate key of the text
    HAS_SIG = "has_sig"  # false for a document too short to have a signature
    KARMA = "karma"
    N_CHARS = "n_chars"


META_SCHEMA = pa.schema([
    (SignatureColumn.DOC_ID, _STR),
    (SignatureColumn.TEXT_HASH, pa.uint64()),
    (SignatureColumn.HAS_SIG, pa.bool_()),
    (SignatureColumn.KARMA, _INT),
    (SignatureColumn.N_CHARS, _INT),
])


# --- tokens/<recipe>-<digest8>/ (tokenize stage) -----------------------------------------------

TOKENS_FORMAT = "webtext-tokens/1"  # `format` of manifest.json and of the shards' metadata
TOKENS_MANIFEST_FILE = "manifest.json"  # written last: its presence means the dir is complete
TOKENS_SPLITS = ("train", "val")


class TokensColumn(StrEnum):
    """The columns of a token shard (`train-*.parquet`, `val-*.parquet`), in the order written."""

    DOC_ID = "doc_id"
    TOKENS = "tokens"  # list<uint16|uint32> (`TokensManifest.dtype`), ends with the eod id
    N_TOKENS = "n_tokens"
    N_BYTES = "n_bytes"  # UTF-8 bytes of the text the tokens encode


class _Manifest(BaseModel):
    # Field names come from the contract, some of which pydantic reserves ("model_type").
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class TokensShard(_Manifest):
    """One finished token shard, as listed in the manifest."""

    file: str
    split: Literal["train", "val"]
    docs: int
    tokens: int
    bytes: int
    sha256: str


class TokensSplit(_Manifest):
    """The totals of one split over its shards."""

    docs: int
    tokens: int
    bytes: int


class TokensRecipe(_Manifest):
    """The recipe the documents were selected by, and the held-out ids left out."""

    name: str
    digest: str  # covers the recipe, the held-out ids, the tokenizer and the output settings
    config: dict[str, Any]  # the recipe's RecipeConfig, as written in the config
    exclude: dict[str, Any] | None = None  # {"count": held-out ids, "sha256": of their list}


class TokensTokenizer(_Manifest):
    """The SentencePiece model the shards were encoded with (a file of the tokens dir)."""

    file: str
    sha256: str
    vocab_size: int
    eod_id: int
    model_type: str
    trained: bool | None = None  # trained for this dir (false: an existing one reused)


class TokensManifest(_Manifest):
    """`manifest.json` of a tokens dir, written last by the tokenize stage, read by train/.

    `selection`, `stats` and `versions` are written by the tokenize stage; a tokens dir made
    another way (train/fixture.py) may leave them out.
    """

    format: Literal["webtext-tokens/1"]
    name: str = ""  # the folder's name, <recipe>-<digest8>
    recipe: TokensRecipe
    tokenizer: TokensTokenizer
    dtype: Literal["uint16", "uint32"]
    splits: dict[str, TokensSplit]
    shards: list[TokensShard]
    selection: dict[str, Any] | None = None  # sha256 of the selected documents, and the funnel
    stats: dict[str, Any] | None = None  # tokenizer statistics (bytes per token, ...)
    config: dict[str, Any]  # the [tokenize] table it was made with
    versions: dict[str, str] | None = None  # of the packages that decide the tokens

    def split_shards(self, split: str) -> list[TokensShard]:
        return [s for s in self.shards if s.split == split]

    def to_json(self) -> dict[str, Any]:
        """The manifest as written: every field in contract order, unset optional ones left
        out (so a fixture's manifest reads back as written)."""
        return self.model_dump(mode="json", exclude_unset=True)
