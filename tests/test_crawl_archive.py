"""Archive mode: a rebuild takes its pages from existing WARC files instead of the live web."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from webtext.crawl.archive import archive_shard, build_index
from webtext.crawl.config import CrawlConfig
from webtext.crawl.shardstore import ShardStore, read_status
from webtext.crawl.stage import crawl_build
from webtext.crawl.warcfile import HttpCapture, WarcAppender, count_records, read_response
from webtext.layout import BuildLayout
from webtext.records import URLS_SCHEMA

HTML = [("Content-Type", "text/html; charset=utf-8")]


def _capture(url, status=200, headers=HTML, body=b"<html><p>archived</p></html>", source=None):
    return HttpCapture(url=url, source_url=source or url, status=status,
                       response_headers=list(headers), body=body,
                       fetched_at="2019-05-01T12:00:00Z")


@pytest.fixture()
def archive(tmp_path):
    """An older crawl's WARC file: a page, a redirect, a 404, a PDF, a redirect loop, and a
    record made for a URL that redirected elsewhere (WARC-Webtext-URL != target)."""
    path = tmp_path / "old.warc.gz"
    w = WarcAppender(path)
    w.append(_capture("http://a.test/page"))
    w.append(_capture("http://a.test/moved", 301, [("Location", "/new")], b""))
    w.append(_capture("http://a.test/new"))
    w.append(_capture("http://a.test/gone", 404, HTML, b"<html>404</html>"))
    w.append(_capture("http://a.test/doc.pdf", 200, [("Content-Type", "application/pdf")], b"%PDF"))
    w.append(_capture("http://a.test/loop", 302, [("Location", "/loop")], b""))
    w.append(_capture("http://b.test/final", source="http://b.test/short"))
    w.append(_capture("http://C.TEST:80/story?utm_source=feed&id=7"))  # another crawler's URI
    w.close()
    return path


def test_archive_statuses_follow_the_live_rules(tmp_path, archive):
    layout = BuildLayout(tmp_path / "build")
    store = ShardStore(layout, 0)
    store.recover()
    urls = ["http://a.test/page", "http://a.test/moved", "http://a.test/gone",
            "http://a.test/doc.pdf", "http://a.test/loop", "http://b.test/short",
            "http://a.test/never-archived", "http://c.test/story?id=7"]
    counts = archive_shard(store, urls, build_index([archive]), CrawlConfig())
    store.close()
    got = dict(store.done)
    assert got == {
        "http://a.test/page": "fetched", "http://a.test/moved": "fetched",
        "http://a.test/gone": "http_error", "http://a.test/doc.pdf": "not_html",
        "http://a.test/loop": "too_many_redirects", "http://b.test/short": "fetched",
        "http://a.test/never-archived": "archive_missing",
        "http://c.test/story?id=7": "fetched",
    }
    assert sum(counts.values()) == len(urls)
    pages = {p.url: p for p, _ in read_status(store.status_path)[0]}
    moved = pages["http://a.test/moved"]
    assert moved.final_url == "http://a.test/new" and moved.fetched_at == "2019-05-01T12:00:00Z"
    rec = read_response(layout.root / moved.warc_file, moved.warc_offset)
    assert rec.source_url == "http://a.test/moved" and rec.body == b"<html><p>archived</p></html>"


def test_fallback_live_leaves_missing_urls_to_the_crawler(tmp_path, archive):
    store = ShardStore(BuildLayout(tmp_path / "b"), 0)
    store.recover()
    archive_shard(store, ["http://a.test/page", "http://a.test/never-archived"],
                  build_index([archive]), CrawlConfig(archive_fallback_live=True))
    store.close()
    assert list(store.done) == ["http://a.test/page"]


def test_rebuild_from_a_previous_crawl_fetches_nothing(tmp_path, archive):
    """crawl_build --archive: every URL ends with a status, no live request is made (the
    config's proxy points at a closed port, so a live fetch could only fail)."""
    build = tmp_path / "rebuild"
    build.mkdir()
    urls = ["http://a.test/page", "http://a.test/moved", "http://a.test/gone",
            "http://a.test/never-archived"]
    rows = [dict(url=u, domain=u.split("/")[2], karma=3, karma_sum=3, n_submissions=1,
                 subreddits=[], submission_ids=[], first_created_utc=1546300800) for u in urls]
    import pyarrow as pa

    pq.write_table(pa.Table.from_pylist(rows, schema=URLS_SCHEMA), build / "urls.parquet")
    config = CrawlConfig(address_guard="loopback", loopback_proxy="127.0.0.1:9")
    stats = crawl_build(BuildLayout(build), config, shards=2, archives=[archive])
    assert stats["status"] == {"fetched": 2, "http_error": 1, "archive_missing": 1}
    table = pq.read_table(build / "fetch.parquet")
    assert table.column("url").to_pylist() == urls
    for name in stats["warc_files"]:
        assert count_records(build / name)["response"] >= 1
    assert not (build / "logs").exists()  # no crawl process was started
