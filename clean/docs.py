"""The docs/*.parquet contract: schema, one row per fetched page, shard files and markers.

In:  a `PageRef` (where the page came from: fetch.parquet joined with urls.parquet) and the
     `CleanedPage` made of it.
Out: rows of `DOCS_SCHEMA`; `write_shard()` writes one shard atomically, then its done marker
     (`docs/.done/<shard>.json`, with the shard's counts, rules digest and package versions),
     so that a reader never takes a half-written shard for a finished one and a re-run skips
     finished shards. The markers sit in a "." folder so that docs/ opens as a dataset with
     pyarrow, pandas and `datasets` (webtext.layout.shard_marker).

Columns: `webtext.records.DOCS_SCHEMA` (docs/design.md, "Data contracts"; columns may be added,
never renamed): doc_id, url, final_url, domain, karma, karma_sum, title, date, text, n_chars,
n_words, lang, lang_score, encoding, charset_source, decode_errors, error, warc_file,
warc_offset, one column per quality signal (`SIGNAL_COLUMNS`, null when there is no text),
reasons.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from webtext.clean.page import CleanedPage
from webtext.io import atomic_path, read_json, write_json
from webtext.layout import legacy_shard_marker, shard_marker
from webtext.records import DOCS_SCHEMA, SIGNAL_COLUMNS, doc_id
from webtext.records import DocsColumn as D

ROW_GROUP_ROWS = 2000  # a reader can stream a shard without holding all of its text


@dataclass(slots=True)
class PageRef:
    """One fetched page: where its record is, and the URL's karma (fetch + urls tables)."""

    url: str
    final_url: str | None
    domain: str | None
    karma: int | None
    karma_sum: int | None
    content_type: str | None
    fetched_at: str | None
    warc_file: str | None
    warc_offset: int | None


def to_row(ref: PageRef, page: CleanedPage) -> dict[str, Any]:
    row: dict[str, Any] = {
        D.DOC_ID: doc_id(ref.url),
        D.URL: ref.url,
        D.FINAL_URL: ref.final_url,
        D.DOMAIN: ref.domain,
        D.KARMA: ref.karma,
        D.KARMA_SUM: ref.karma_sum,
        D.TITLE: page.title,
        D.DATE: page.date,
        D.TEXT: page.text,
        D.N_CHARS: len(page.text),
        D.N_WORDS: page.n_words,
        D.LANG: page.lang,
        D.LANG_SCORE: page.lang_score,
        D.ENCODING: page.encoding,
        D.CHARSET_SOURCE: page.charset_source,
        D.DECODE_ERRORS: page.decode_errors,
        D.ERROR: page.error,
        D.WARC_FILE: ref.warc_file,
        D.WARC_OFFSET: ref.warc_offset,
        D.REASONS: page.reasons,
    }
    signals = page.signals or {}
    for name in SIGNAL_COLUMNS:
        row[name] = signals.get(name)
    return row


def shard_counts(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The counts of one shard that the build's stats add up."""
    reasons: Counter[str] = Counter()
    langs: Counter[str] = Counter()
    for row in rows:
        reasons.update(row["reasons"])
        if row["lang"] is not None:
            langs[row["lang"]] += 1
    return {
        "docs": len(rows),
        "passed": sum(1 for row in rows if not row["reasons"]),
        "with_text": sum(1 for row in rows if row["text"]),
        "reasons": dict(sorted(reasons.items())),
        "langs": dict(sorted(langs.items())),
    }


def done_path(parquet_path: Path) -> Path:
    return shard_marker(parquet_path)


def write_shard(path: Path, rows: list[dict[str, Any]], marker: dict[str, Any]) -> None:
    """Write the shard's Parquet file atomically, then its done marker (the last step).

    Rows are written in URL order, not in the order the crawl happened to store the pages,
    so that two crawls of the same URLs give byte-identical docs and token shards."""
    rows = sorted(rows, key=lambda r: r["url"])
    with atomic_path(path) as tmp:
        with pq.ParquetWriter(tmp, DOCS_SCHEMA, compression="zstd") as writer:
            for start in range(0, max(len(rows), 1), ROW_GROUP_ROWS):
                chunk = rows[start:start + ROW_GROUP_ROWS]
                writer.write_table(pa.Table.from_pylist(chunk, schema=DOCS_SCHEMA))
    write_json(done_path(path), marker)
    # a marker of the old layout beside the shard would keep docs/ from opening as a dataset
    legacy_shard_marker(path).unlink(missing_ok=True)


def read_marker(path: Path) -> dict[str, Any] | None:
    """The done marker of a finished shard, or None if the shard is not finished (a marker
    of the old layout, `<shard>.done.json`, counts as not finished: see `has_legacy_marker`).
    """
    marker = done_path(path)
    if not (marker.is_file() and path.is_file()):
        return None
    try:
        data = read_json(marker)
    except ValueError:  # torn by hand or by a disk fault: the shard is simply cleaned again
        return None
    return data if isinstance(data, dict) else None


def has_legacy_marker(path: Path) -> bool:
    """Was this shard finished by a webtext that wrote `<shard>.done.json` beside it?"""
    return legacy_shard_marker(path).is_file() and Path(path).is_file()
