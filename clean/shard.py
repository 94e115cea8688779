"""One WARC shard in, one docs shard out: the reader and writer around `PageCleaner`.

In:  a `ShardJob` (the WARC file, the fetched pages recorded in it, the output path).
Out: docs/<shard>.parquet and its done marker; returns the marker (the shard's counts).
     Pages come out in WARC offset order, so a re-run writes the same bytes.

`forced` carries the pages that the supervisor already settled (a page whose worker was
killed past the time limit, or died on it): they get their reason without being read again,
which is how a restarted shard gets past the page that stopped it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webtext.clean.docs import PageRef, shard_counts, to_row, write_shard
from webtext.clean.page import CleanedPage, PageCleaner, RawPage, failed
from webtext.clean.reasons import Reason
from webtext.clean.warc import WarcReader, WarcRecordError


@dataclass
class ShardJob:
    name: str
    warc_path: str | None  # absolute; None for fetched pages that have no WARC record
    out_path: str
    refs: list[PageRef]
    marker: dict[str, Any] = field(default_factory=dict)  # written into the done marker
    forced: dict[int, str] = field(default_factory=dict)  # page index -> reason code


def _clean_ref(i: int, ref: PageRef, job: ShardJob, warc: WarcReader,
               cleaner: PageCleaner) -> CleanedPage:
    if i in job.forced:
        return failed(Reason(job.forced[i]), error="settled by the supervisor")
    if job.warc_path is None or ref.warc_offset is None:
        return failed(Reason.WARC_ERROR, error="fetched, but no WARC record is recorded")
    try:
        response = warc.response_at(ref.warc_offset, cleaner.config.max_html_bytes,
                                    ref.final_url)
    except WarcRecordError as e:
        return failed(Reason.WARC_ERROR, error=str(e))
    raw = RawPage(url=ref.url, body=response.body,
                  content_type=response.content_type or ref.content_type,
                  final_url=ref.final_url, fetched_at=ref.fetched_at)
    return cleaner.clean(raw)


def run_shard(job: ShardJob, cleaner: PageCleaner,
              on_page: Callable[[int], None] = lambda i: None) -> dict[str, Any]:
    """Clean every page of the shard and write it; `on_page(i)` is called before page i and
    once more with len(refs) when the pages are done and the shard is being written."""
    rows = []
    with WarcReader(Path(job.warc_path) if job.warc_path else None) as warc:
        for i, ref in enumerate(job.refs):
            on_page(i)
            rows.append(to_row(ref, _clean_ref(i, ref, job, warc, cleaner)))
    on_page(len(job.refs))
    marker = {**job.marker, "shard": job.name, **shard_counts(rows)}
    write_shard(Path(job.out_path), rows, marker)
    return marker
