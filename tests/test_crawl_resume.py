"""Resume: a crawl killed with SIGKILL (or stopped with SIGINT) continues on re-run, each URL
ends exactly once in fetch.parquet, and every WARC file reads end to end."""

from __future__ import annotations

import json
import signal
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from webtext.crawl.config import CrawlConfig
from webtext.crawl.shardstore import ShardStore, read_status
from webtext.crawl.stage import crawl_build, plan_shards, start_shard
from webtext.crawl.warcfile import HttpCapture, count_records, iter_responses
from webtext.layout import BuildLayout
from webtext.records import URLS_SCHEMA, FetchedPage
from webtext.world.miniweb import MiniWeb

N_PAGES = 240


def _write_urls(build, urls):
    rows = [dict(url=u, domain=u.split("/")[2], karma=3, karma_sum=3, n_submissions=1,
                 subreddits=[], submission_ids=[], first_created_utc=0) for u in urls]
    pq.write_table(pa.Table.from_pylist(rows, schema=URLS_SCHEMA), build / "urls.parquet")


def _config(web: MiniWeb) -> CrawlConfig:
    # A long timeout: requests held by the paused server must not time out before the kill.
    return CrawlConfig(**web.crawl_overrides(), download_timeout=60.0, autothrottle=False,
                       download_delay=0.0, concurrent_per_domain=8, progress_interval=0.05,
                       fsync_interval=0.5)


def _interrupt_midway(layout, config, web, sig) -> dict:
    """Start the crawl process, let the server serve 100 pages then hold every request, and
    send `sig` once at least 60 pages are committed. Returns the last progress message."""
    web.pause(after=100)
    proc = start_shard(layout, config, 0)
    last = {}
    for line in proc.stdout:
        last = json.loads(line)
        if last.get("done", 0) >= 60:
            proc.send_signal(sig)
            break
    if sig == signal.SIGINT:
        web.resume()  # let the held requests finish so the clean stop completes
    proc.wait(timeout=60)
    web.resume()
    return last


def _check_build(build, urls):
    table = pq.read_table(build / "fetch.parquet")
    got = table.column("url").to_pylist()
    assert got == urls and len(set(got)) == len(urls)  # every URL exactly once
    assert Counter(table.column("status").to_pylist()) == {"fetched": len(urls)}
    responses = []
    for path in sorted((build / "warc").glob("*.warc.gz")):
        count_records(path)  # raises if any record is torn
        responses += [r.source_url for r in iter_responses(path)]
    assert sorted(responses) == sorted(urls)  # no duplicate, no missing record


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_interrupted_crawl_resumes_exactly(tmp_path, sig):
    build = tmp_path / "build"
    build.mkdir()
    with MiniWeb(bench_pages=N_PAGES, bench_page_bytes=8000) as web:
        urls = web.bench_urls()
        _write_urls(build, urls)
        layout = BuildLayout(build)
        config = _config(web)
        plan_shards(layout, 1)
        last = _interrupt_midway(layout, config, web, sig)
        assert 60 <= last["done"] < N_PAGES
        rows, _ = read_status(build / "crawl" / "00000" / "status.jsonl")
        assert not (build / "crawl" / "00000" / "done.json").exists()
        assert len({p.url for p, _ in rows}) == len(rows) < N_PAGES
        served_before = Counter(web.access_log())
        stats = crawl_build(layout, config)
        served_after = Counter(web.access_log()) - served_before
    assert stats["status"] == {"fetched": N_PAGES}
    # Committed URLs were not fetched again.
    committed = {p.url.split("bench.test", 1)[1] for p, _ in rows}
    assert not committed & {path for (_, path) in served_after}
    _check_build(build, urls)


def _capture(url: str, body: bytes = b"<html>x</html>") -> HttpCapture:
    return HttpCapture(url=url, source_url=url, status=200,
                       response_headers=[("Content-Type", "text/html")], body=body,
                       fetched_at="2026-01-01T00:00:00Z", request_headers=[("Accept", "*/*")])


def _page(url: str, status: str = "fetched") -> FetchedPage:
    return FetchedPage(url=url, final_url=url, status=status, http_status=200, n_bytes=14)


def test_recovery_cuts_uncommitted_records_and_torn_rows(tmp_path):
    layout = BuildLayout(tmp_path)
    store = ShardStore(layout, 0, warcinfo={"software": "test"})
    store.recover()
    for i in range(3):
        store.commit(_page(f"http://a.test/{i}"), _capture(f"http://a.test/{i}"))
    store.commit(_page("http://a.test/err", "timeout"))
    # A record written without its row (killed between the two steps), a torn gzip member,
    # and a torn status line.
    warc = store._warc
    warc.append(_capture("http://a.test/uncommitted"))
    warc._file.write(b"\x1f\x8b\x08\x00garbage")
    warc._file.flush()
    store._log.write(b'{"url": "http://a.test/to')
    store._log.flush()
    # SIGKILL: nothing is closed. A new store recovers.
    store2 = ShardStore(layout, 0, warcinfo={"software": "test"})
    done = store2.recover()
    assert sorted(done) == sorted([f"http://a.test/{i}" for i in range(3)] + ["http://a.test/err"])
    path = tmp_path / "warc" / "00000-000.warc.gz"
    assert count_records(path) == {"warcinfo": 1, "response": 3, "request": 3}
    store2.commit(_page("http://a.test/3"), _capture("http://a.test/3"))
    store2.close()
    assert count_records(path) == {"warcinfo": 1, "response": 4, "request": 4}
    rows, good = read_status(tmp_path / "crawl" / "00000" / "status.jsonl")
    assert len(rows) == 5 and good == (tmp_path / "crawl" / "00000" / "status.jsonl").stat().st_size


def test_recovery_drops_rows_whose_warc_bytes_are_missing(tmp_path):
    """After a power loss the log may reach the disk before the WARC: such rows are undone."""
    layout = BuildLayout(tmp_path)
    store = ShardStore(layout, 0)
    store.recover()
    store.commit(_page("http://a.test/0"), _capture("http://a.test/0"))
    store.commit(_page("http://a.test/1"), _capture("http://a.test/1"))
    store.close()
    rows, _ = read_status(store.status_path)
    path = tmp_path / rows[1][0].warc_file
    with open(path, "r+b") as f:
        f.truncate(rows[1][1] - 10)  # the second pair lost its tail
    done = ShardStore(layout, 0).recover()
    assert list(done) == ["http://a.test/0"]
    assert count_records(path) == {"response": 1, "request": 1}


def test_warc_parts_rotate_at_the_size_limit(tmp_path):
    layout = BuildLayout(tmp_path)
    store = ShardStore(layout, 2, warc_max_bytes=1)
    store.recover()
    for i in range(3):
        store.commit(_page(f"http://a.test/{i}"), _capture(f"http://a.test/{i}"))
    store.close()
    parts = sorted(p.name for p in (tmp_path / "warc").iterdir())
    assert parts == ["00002-000.warc.gz", "00002-001.warc.gz", "00002-002.warc.gz"]
    assert ShardStore(layout, 2).recover().keys() == {f"http://a.test/{i}" for i in range(3)}


def test_a_url_commits_once(tmp_path):
    store = ShardStore(BuildLayout(tmp_path), 0)
    store.recover()
    store.commit(_page("http://a.test/0"))
    with pytest.raises(ValueError):
        store.commit(_page("http://a.test/0"))
    store.close()


def test_a_rerun_says_how_many_shards_were_done_earlier(tmp_path, capsys):
    """Issue 14, item 8: a re-run names what it skipped and what would make it run again."""
    import tomli_w

    from webtext.cli import main

    build = tmp_path / "build"
    build.mkdir()
    with MiniWeb(bench_pages=12, bench_page_bytes=2000) as web:
        _write_urls(build, web.bench_urls())
        config = tmp_path / "crawl.toml"
        config.write_text(tomli_w.dumps({"crawl": {**web.crawl_overrides(),
                                                   "autothrottle": False,
                                                   "download_delay": 0.0}}))
        assert main(["crawl", str(build), "--shards", "2", "--config", str(config)]) == 0
        first = capsys.readouterr().out
        served = len(web.access_log())
        assert main(["crawl", str(build), "--config", str(config)]) == 0
        again = capsys.readouterr().out
        assert len(web.access_log()) == served  # nothing fetched twice
    assert "done earlier" not in first
    assert "crawl: 2 of 2 shards done earlier, skipped (delete " in again
