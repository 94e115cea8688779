"""Races between requests in flight, each once seen as a flaky test of the fixture world:

- a response refused at its headers (not HTML) must not leave a closing connection in the pool,
  where the next request would be written into it, cut off, and resent by Twisted (the site
  would see that request twice);
- every request waiting for a site's robots.txt must be checked against it, not only the first
  (Scrapy hands the parsed robots.txt to the first waiter and None, meaning "allowed", to the
  others).
Both need many requests in flight at once, so both tests crawl one site with high concurrency.
"""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq

from webtext.crawl.config import CrawlConfig
from webtext.crawl.stage import crawl_build
from webtext.layout import BuildLayout
from webtext.records import URLS_SCHEMA
from webtext.world.miniweb import MiniWeb
from webtext.world.spec import FAULT_SITE, ROBOTS_SITE

N = 100


def _crawl(build, web: MiniWeb, host: str, paths: list[str]) -> tuple[dict, Counter]:
    """Crawl http://host/path for every path with 16 requests in flight; return the crawl's
    stats and how often the server saw each path of that host."""
    rows = [dict(url=f"http://{host}{p}", domain=host, karma=3, karma_sum=3, n_submissions=1,
                 subreddits=[], submission_ids=[], first_created_utc=0) for p in paths]
    pq.write_table(pa.Table.from_pylist(rows, schema=URLS_SCHEMA), build / "urls.parquet")
    config = CrawlConfig(**web.crawl_overrides(), download_timeout=5.0, autothrottle=False,
                         download_delay=0.0, concurrent_requests=32, concurrent_per_domain=16,
                         retry_times=0)
    stats = crawl_build(BuildLayout(build), config)
    return stats, Counter(path for h, path in web.access_log() if h == host)


def test_refused_bodies_do_not_cause_duplicate_requests(tmp_path):
    paths = [p for i in range(N) for p in (f"/fault/image?i={i}", f"/fault/http_404?i={i}",
                                            f"/fault/pdf?i={i}", f"/fault/http_410?i={i}")]
    with MiniWeb() as web:
        stats, requests = _crawl(tmp_path, web, FAULT_SITE, paths)
    assert stats["status"] == {"not_html": 2 * N, "http_error": 2 * N}
    assert set(requests) == {"/robots.txt", *paths}
    assert {path: n for path, n in requests.items() if n != 1} == {}  # each requested once


def test_every_request_waiting_for_robots_txt_obeys_it(tmp_path):
    paths = [f"/private/report-{i}.html" for i in range(N)]  # all disallowed by robots.txt
    with MiniWeb() as web:
        stats, requests = _crawl(tmp_path, web, ROBOTS_SITE, paths)
    assert requests == Counter(["/robots.txt"])  # no disallowed path was ever requested
    assert stats["status"] == {"robots_denied": N}
