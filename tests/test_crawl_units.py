"""Small pieces of the crawl stage: sharding, ordering, status rules, backoff, settings."""

from __future__ import annotations

from collections import Counter

import pytest
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
)

from webtext.crawl.config import CrawlConfig
from webtext.crawl.fetcher import AddressBlocked, backoff_delay, classify, scrapy_settings
from webtext.crawl.linkrot import linkrot_report, year_of
from webtext.crawl.outcome import media_type, response_status
from webtext.crawl.plan import interleave_by_domain, shard_of, split
from webtext.crawl.warcfile import stored_headers
from webtext.records import FetchStatus

ALLOWED = ["text/html", "application/xhtml+xml"]


def test_shard_of_is_stable_and_keeps_a_domain_together():
    rows = [(f"http://d{i % 7}.test/{i}", f"d{i % 7}.test") for i in range(100)]
    parts = split(rows, 3)
    assert sorted(u for p in parts for u in p) == sorted(u for u, _ in rows)
    for part in parts:
        assert len({shard_of(u.split("/")[2], 3) for u in part}) <= 1
    assert shard_of("example.com", 8) == shard_of("example.com", 8)


def test_interleave_round_robins_over_domains():
    rows = [("a1", "a"), ("a2", "a"), ("a3", "a"), ("b1", "b"), ("c1", "c"), ("c2", "c")]
    assert interleave_by_domain(rows) == ["a1", "b1", "c1", "a2", "c2", "a3"]


@pytest.mark.parametrize("code,ctype,n,expected", [
    (200, "text/html; charset=utf-8", 10, "fetched"),
    (200, "application/xhtml+xml", 10, "fetched"),
    (200, "TEXT/HTML", 10, "fetched"),
    (200, "application/pdf", 10, "not_html"),
    (200, None, 10, "not_html"),
    (200, "text/html", 10**9, "too_large"),
    (404, "text/html", 10, "http_error"),
    (503, "text/html", 10, "http_error"),
])
def test_response_status_rules(code, ctype, n, expected):
    assert response_status(code, ctype, n, allowed_types=ALLOWED, max_bytes=10**6) == expected


def test_media_type():
    assert media_type(b"Text/HTML ; charset=latin-1") == "text/html"
    assert media_type(None) == ""


def test_backoff_grows_is_capped_and_honours_retry_after():
    assert [backoff_delay(n, 1.0, 10.0) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 10]
    assert backoff_delay(1, 1.0, 10.0, b"7") == 7.0
    assert backoff_delay(1, 1.0, 10.0, b"3600") == 10.0  # never beyond the cap
    assert backoff_delay(2, 1.0, 10.0, b"Wed, 21 Oct 2015 07:28:00 GMT") == 2.0  # past date


@pytest.mark.parametrize("exc,status", [
    (IgnoreRequest("Forbidden by robots.txt"), FetchStatus.ROBOTS_DENIED),
    (IgnoreRequest("max redirections reached"), FetchStatus.TOO_MANY_REDIRECTS),
    (IgnoreRequest("... exceeded DOWNLOAD_MAXSIZE (5 B) during decompression."),
     FetchStatus.TOO_LARGE),
    (DownloadCancelledError(), FetchStatus.TOO_LARGE),
    (AddressBlocked("blocked address: 10.0.0.1"), FetchStatus.BLOCKED_ADDRESS),
    (CannotResolveHostError("x"), FetchStatus.DNS_ERROR),
    (DownloadTimeoutError("x"), FetchStatus.TIMEOUT),
    (DownloadFailedError("reset"), FetchStatus.CONNECTION_ERROR),
])
def test_classify_failures(exc, status):
    assert classify(exc) == status


def test_stored_headers_describe_the_decoded_payload():
    headers = stored_headers([("Content-Type", "text/html"), ("Content-Encoding", "gzip"),
                              ("Content-Length", "120")], 500)
    assert headers == [("Content-Type", "text/html"), ("X-Crawler-Content-Encoding", "gzip"),
                       ("X-Crawler-Content-Length", "120"), ("Content-Length", "500")]


def test_linkrot_report_by_year_domain_status():
    rows = [("fetched", "a.test", 1546300800), ("http_error", "a.test", 1546300800),
            ("timeout", "b.test", 1514764800), ("fetched", "b.test", None)]
    report = linkrot_report(rows)
    assert report["urls"] == 4 and report["fetched_share"] == 0.5
    assert report["by_year"]["2019"]["status"] == {"fetched": 1, "http_error": 1}
    assert report["by_year"]["unknown"]["urls"] == 1
    assert report["by_domain"]["b.test"]["fetched_share"] == 0.5
    assert year_of(0) == "unknown"


def test_default_settings_are_polite_and_safe():
    config = CrawlConfig(contact="mailto:ops@example.org")
    s = scrapy_settings(config)
    assert s["ROBOTSTXT_OBEY"] is True and s["AUTOTHROTTLE_ENABLED"] is True
    assert s["CONCURRENT_REQUESTS_PER_DOMAIN"] <= 2 and s["DOWNLOAD_DELAY"] >= 1.0
    assert s["DOWNLOAD_MAXSIZE"] == 5 * 1024 * 1024 and s["REDIRECT_MAX_TIMES"] == 5
    assert s["REMOTE_CONTROL_ENABLED"] is False and s["TELNETCONSOLE_ENABLED"] is False
    assert s["WEBTEXT_GUARD"] == "public" and s["WEBTEXT_PROXY"] is None
    assert s["USER_AGENT"].startswith("webtext/") and "mailto:ops@example.org" in s["USER_AGENT"]
    assert not Counter(s["RETRY_HTTP_CODES"]) - Counter([500, 502, 503, 504, 522, 524, 408, 429])
    assert "OSError" not in str(s["RETRY_EXCEPTIONS"])  # resets and refusals are not retried


def _urls(path, urls):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from webtext.records import URLS_SCHEMA

    rows = [dict(url=u, domain=u.split("/")[2], karma=3, karma_sum=3, n_submissions=1,
                 subreddits=[], submission_ids=[], first_created_utc=0) for u in urls]
    pq.write_table(pa.Table.from_pylist(rows, schema=URLS_SCHEMA), path / "urls.parquet")


def test_plan_is_kept_and_a_changed_input_is_refused(tmp_path):
    from webtext.crawl.stage import plan_shards, shard_urls
    from webtext.errors import UsageError
    from webtext.layout import BuildLayout

    layout = BuildLayout(tmp_path)
    urls = [f"http://d{i % 5}.test/{i}" for i in range(40)]
    _urls(tmp_path, urls)
    assert plan_shards(layout, 3) == 3
    assert sorted(u for s in range(3) for u in shard_urls(layout, s)) == sorted(urls)
    assert plan_shards(layout, None) == 3  # an existing plan keeps its shard count
    with pytest.raises(UsageError, match="--shards 3"):
        plan_shards(layout, 2)
    _urls(tmp_path, urls[:-1])
    with pytest.raises(UsageError, match="changed"):
        plan_shards(layout, None)
