"""Resume mid-lookup: a crawl in archive-first mode killed (SIGKILL) or stopped (SIGINT)
while its archive lookups are in flight continues on re-run as a live crawl does. Each URL
ends exactly once in fetch.parquet with one WARC record, and the URLs committed before the
stop are not asked of the archives again."""

from __future__ import annotations

import json
import signal
from collections import Counter
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from webtext.crawl.config import CrawlConfig
from webtext.crawl.shardstore import read_status
from webtext.crawl.stage import crawl_build, plan_shards, start_shard
from webtext.crawl.warcfile import count_records, iter_responses
from webtext.layout import BuildLayout
from webtext.records import URLS_SCHEMA
from webtext.world.archive import ArchiveService, archive_overrides, bench_captures
from webtext.world.miniweb import MiniWeb

N_PAGES = 90
HOLD_AFTER = 120  # archive requests served before the server holds every request (~40 pages)


def _write_urls(build, captures) -> None:
    rows = [dict(url=c.url, domain="gone.test", karma=3, karma_sum=3, n_submissions=1,
                 subreddits=[], submission_ids=[], first_created_utc=int(c.when.timestamp()))
            for c in captures]
    pq.write_table(pa.Table.from_pylist(rows, schema=URLS_SCHEMA), build / "urls.parquet")


def _config(web: MiniWeb) -> CrawlConfig:
    # A long timeout: lookups held by the paused server must not time out before the stop.
    return CrawlConfig(**(web.crawl_overrides() | archive_overrides()), archive_lookup="first",
                       download_timeout=60.0, autothrottle=False, download_delay=0.0,
                       concurrent_per_domain=8, cc_index_rate=1000.0, cc_data_rate=1000.0,
                       wayback_rate=1000.0, progress_interval=0.05, fsync_interval=0.5)


def _looked_up(service: ArchiveService) -> Counter:
    """How many CDX queries each URL got (both archives), from the services' own logs."""
    out: Counter = Counter()
    for name in ("cc-index", "ia"):
        for _, path, _ in service.requests(name):
            url = parse_qs(urlsplit(path).query).get("url")
            if url:
                out[url[0]] += 1
    return out


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_a_crawl_stopped_mid_lookup_resumes_exactly(tmp_path, sig):
    captures = bench_captures(N_PAGES, 4000)
    urls = [c.url for c in captures]
    service = ArchiveService(captures)
    build = tmp_path / "build"
    build.mkdir()
    with MiniWeb(archive=service) as web:
        _write_urls(build, captures)
        layout = BuildLayout(build)
        config = _config(web)
        plan_shards(layout, 1)
        web.pause(after=HOLD_AFTER)
        proc = start_shard(layout, config, 0)
        last: dict = {}
        assert proc.stdout is not None
        for line in proc.stdout:
            last = json.loads(line)
            if last.get("done", 0) >= 20:
                break
        asked_before = _looked_up(service)
        # The progress counts recovered pages as pages, not as URLs that failed.
        assert last["archived"] == last["new"] and last["errors"] == 0, last
        proc.send_signal(sig)
        if sig == signal.SIGINT:
            web.resume()  # the held requests finish, so the clean stop completes
        proc.wait(timeout=60)
        web.resume()
        rows, _ = read_status(build / "crawl" / "00000" / "status.jsonl")
        committed = {p.url for p, _ in rows}
        assert not (build / "crawl" / "00000" / "done.json").exists()
        assert 20 <= len(committed) < N_PAGES and len(committed) == len(rows)
        # Stopped mid-lookup: some URLs had been asked of the archives but had no row yet.
        assert set(asked_before) - committed
        service.reset()
        stats = crawl_build(layout, config)
        asked_after = _looked_up(service)
    assert stats["status"] == {"archived_cc": N_PAGES // 2, "archived_ia": N_PAGES // 2}
    assert not committed & set(asked_after)  # committed URLs are not looked up again
    assert set(asked_after) == set(urls) - committed
    table = pq.read_table(build / "fetch.parquet")
    assert sorted(table.column("url").to_pylist()) == sorted(urls)  # each URL exactly once
    responses = []
    for path in sorted((build / "warc").glob("*.warc.gz")):
        count_records(path)  # raises if any record is torn
        responses += [r.source_url for r in iter_responses(path)]
    assert sorted(responses) == sorted(urls)  # one record per URL: none missing, none twice
