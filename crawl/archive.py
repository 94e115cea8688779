"""Archive mode: take the pages for a build's URLs from existing WARC files, not the live web.

In:  WARC files (a previous crawl of webtext, or an extract of Common Crawl) and the URLs of a
     shard that have no terminal status yet.
Out: outcomes committed to the shard's store exactly as a live fetch would commit them: a
     found page is copied into the build's own WARC files (so clean/ reads one layout), its
     status decided by the same rules as a live response (outcome.py); redirects recorded in
     the archive are followed inside it (up to max_redirects). A URL the archive does not hold
     ends as `archive_missing`, unless `archive_fallback_live` leaves it to the live crawl.

So a rebuild (new filters, new recipe) need not re-crawl, and a link that has rotted since can
still be served from an archive. The index is an in-memory dict from URL to record offset,
built in one pass over the files (WARC-Webtext-URL first, then WARC-Target-URI); for
Common-Crawl-sized inputs a CDX index would replace it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urldefrag, urljoin

from webtext.crawl.config import CrawlConfig
from webtext.crawl.outcome import response_status
from webtext.crawl.shardstore import ShardStore
from webtext.crawl.warcfile import HttpCapture, iter_responses, read_response
from webtext.records import FetchedPage, FetchStatus

ArchiveIndex = dict[str, tuple[Path, int]]


def _key(url: str) -> str:
    return urldefrag(url)[0]


def build_index(paths: Iterable[Path]) -> ArchiveIndex:
    """URL -> (file, offset) of its response record; later files win for a repeated URL.

    Target URIs of other crawlers (Common Crawl keeps tracking parameters, upper-case hosts,
    default ports) are also indexed in the source stage's normal form, the form urls.parquet
    holds (webtext.crawl.urlnorm, default tracking parameters).
    """
    from webtext.crawl.config import SourceConfig
    from webtext.crawl.urlnorm import UrlNormalizer

    normalizer = UrlNormalizer(SourceConfig().tracking_params)
    by_target: ArchiveIndex = {}
    by_source: ArchiveIndex = {}
    for path in paths:
        for rec in iter_responses(Path(path)):
            by_target[_key(rec.target_uri)] = (rec.path, rec.offset)
            normal = normalizer.normalize(rec.target_uri)
            if normal is not None:
                by_target.setdefault(normal[0], (rec.path, rec.offset))
            if rec.source_url:
                by_source[_key(rec.source_url)] = (rec.path, rec.offset)
    return by_target | by_source  # a record made for a URL beats one merely at that URL


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


def _lookup(url: str, index: ArchiveIndex, config: CrawlConfig):
    """Follow the archive's own redirects from `url`: (record or None, final url, status)."""
    current = url
    for _ in range(config.max_redirects + 1):
        hit = index.get(_key(current))
        if hit is None:
            return None, current, FetchStatus.ARCHIVE_MISSING
        rec = read_response(hit[0], hit[1], max_body=config.max_page_bytes)
        location = _header(rec.headers, "location")
        if 300 <= rec.status < 400 and location:
            current = urljoin(rec.target_uri or current, location)
            continue
        return rec, rec.target_uri or current, None
    return None, current, FetchStatus.TOO_MANY_REDIRECTS


def archive_shard(store: ShardStore, urls: Iterable[str], index: ArchiveIndex,
                  config: CrawlConfig) -> Counter[str]:
    """Commit an outcome for every URL the archive can answer (all of them unless
    `archive_fallback_live`); returns counts per status committed."""
    counts: Counter[str] = Counter()
    for url in urls:
        if url in store.done:
            continue
        rec, final_url, status = _lookup(url, index, config)
        if rec is None:
            assert status is not None
            if status == FetchStatus.ARCHIVE_MISSING and config.archive_fallback_live:
                continue
            page = FetchedPage(url=url, final_url=final_url, status=status.value,
                               error="not in the given WARC files"
                               if status == FetchStatus.ARCHIVE_MISSING else "redirect loop")
            store.commit(page)
            counts[page.status] += 1
            continue
        body = rec.body or b""
        ctype = _header(rec.headers, "content-type")
        status = response_status(rec.status, ctype, len(body),
                                 allowed_types=config.allowed_content_types,
                                 max_bytes=config.max_page_bytes)
        page = FetchedPage(url=url, final_url=final_url, status=status.value,
                           http_status=rec.status, content_type=ctype,
                           n_bytes=len(body) if status == FetchStatus.FETCHED else 0,
                           fetched_at=rec.date)
        capture = None
        if status == FetchStatus.FETCHED:
            headers = [(k, v) for k, v in rec.headers if k.lower() != "content-length"]
            capture = HttpCapture(
                url=final_url, source_url=url, status=rec.status, response_headers=headers,
                body=body, fetched_at=rec.date or "",
                extra_warc_headers={"WARC-Webtext-Archive": f"{rec.path.name}#{rec.offset}"})
        else:
            page.error = f"archived response: {rec.status}"
        store.commit(page, capture)
        counts[page.status] += 1
    return counts
