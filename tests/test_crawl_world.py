"""The crawl stage against the mini-web: every URL of the fixture world ends with exactly its
expected status, through the `webtext crawl` command, in loopback mode, with two shards."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tomli_w

from webtext.cli import main
from webtext.crawl.warcfile import count_records, read_response
from webtext.records import FETCH_SCHEMA, URLS_SCHEMA, FetchStatus
from webtext.world.miniweb import MiniWeb
from webtext.world.spec import FAULTS, ROBOTS_SITE, page_response

# Small limits so the world crawls in seconds; the slow fault (5 s) outlasts the 2 s timeout.
TEST_CRAWL = {
    "download_timeout": 2.0, "autothrottle": False, "download_delay": 0.0,
    "retry_backoff_base": 0.05, "concurrent_per_domain": 8, "progress_interval": 0.2,
}


def write_urls(build: Path, pages) -> None:
    """urls.parquet straight from world pages (submission years 2018, 2019, 2020)."""
    rows = [dict(url=p.url, domain=p.host, karma=3 + i % 7, karma_sum=3 + i % 7,
                 n_submissions=1, subreddits=["news"], submission_ids=[f"s{i}"],
                 first_created_utc=1514764800 + (i % 3) * 366 * 86400)
            for i, p in enumerate(pages)]
    build.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=URLS_SCHEMA), build / "urls.parquet")


@pytest.fixture(scope="module")
def crawled(tmp_path_factory, world):
    build = tmp_path_factory.mktemp("crawl") / "build"
    write_urls(build, world.pages)
    with MiniWeb(world, slow_delay=5.0) as web:
        config = build.parent / "crawl.toml"
        config.write_text(tomli_w.dumps({"crawl": TEST_CRAWL | web.crawl_overrides()}))
        code = main(["crawl", str(build), "--shards", "2", "--config", str(config)])
        log = web.access_log()
        # A second run on a finished build fetches nothing and rewrites the same bytes.
        before = (build / "fetch.parquet").read_bytes()
        assert main(["crawl", str(build), "--config", str(config)]) == 0
        rerun_log = web.access_log()[len(log):]
    assert code == 0
    rows = pq.read_table(build / "fetch.parquet").to_pylist()
    return {"build": build, "rows": {r["url"]: r for r in rows}, "log": log,
            "rerun_log": rerun_log, "same_bytes": before == (build / "fetch.parquet").read_bytes(),
            "table": pq.read_table(build / "fetch.parquet")}


def test_one_row_per_url_and_schema(crawled, world):
    table = crawled["table"]
    assert table.schema.equals(FETCH_SCHEMA)
    assert table.column("url").to_pylist() == [p.url for p in world.pages]
    counts = Counter(table.column("status").to_pylist())
    assert sum(counts.values()) == len(world.pages)
    assert set(counts) <= {s.value for s in FetchStatus}


@pytest.mark.parametrize("status", sorted({s for s, _ in FAULTS.values()} | {"robots_denied"}))
def test_each_status_exactly_as_expected(crawled, world, status):
    expected = {p.url for p in world.pages if p.fetch_status == status}
    got = {u for u, r in crawled["rows"].items() if r["status"] == status}
    assert expected and got == expected


def test_http_status_codes_as_expected(crawled, world):
    for page in world.pages:
        if page.kind in FAULTS and FAULTS[page.kind][1] is not None:
            assert crawled["rows"][page.url]["http_status"] == page.http_status, page.url


def test_robots_disallowed_paths_never_requested(crawled):
    members = [path for host, path in crawled["log"] if host == ROBOTS_SITE]
    assert "/robots.txt" in members
    assert not [p for p in members if p.startswith("/private/")]


def test_retries_recover_flaky_and_give_up_on_500(crawled):
    log = Counter(crawled["log"])
    assert log[("flaky.test", "/fault/flaky_503")] == 3  # 503, 503, then the article
    assert log[("flaky.test", "/fault/http_500")] == 3  # RETRY_TIMES 2: three requests
    # Connection errors are not retried by RetryMiddleware (that would be 3 requests). Twisted's
    # connection pool may resend once by itself when a reused keep-alive connection dies
    # before any response (RFC 9112 section 9.3.1 allows it for idempotent requests).
    assert 1 <= log[("flaky.test", "/fault/reset")] <= 2
    assert crawled["rows"]["http://flaky.test/fault/flaky_503"]["n_bytes"] > 1000


def test_redirects_followed_and_private_target_never_contacted(crawled):
    chain = crawled["rows"]["http://flaky.test/fault/redirect_chain"]
    assert chain["final_url"] == "http://flaky.test/fault/redirect_chain/article"
    assert crawled["rows"]["http://flaky.test/fault/redirect_private"]["final_url"] == \
        "http://10.0.0.1/admin"
    assert not [h for h, _ in crawled["log"] if h in ("10.0.0.1", "nowhere.test")]
    loops = [p for h, p in crawled["log"] if p.startswith("/fault/redirect_loop")]
    # The first request + REDIRECT_MAX_TIMES 5 hops. (No resend: the mini-web closes a
    # kept-alive connection only on a /fault/reset request, and the pool takes back no connection
    # that is closing; see tests/test_crawl_races.py.)
    assert len(loops) == 6


def test_size_cap_holds_for_bomb_and_oversize_without_exhausting_memory(crawled):
    stats = json.loads((crawled["build"] / "crawl_stats.json").read_text())
    for shard in stats["per_shard"]:
        # The bomb inflates to 256 MiB: decompressing it whole would push the process far
        # above this; the cap (5 MiB) keeps it near the interpreter's own footprint.
        assert shard["max_rss_kb"] < 350 * 1024
    for url in ("http://flaky.test/fault/gzip_bomb", "http://flaky.test/fault/oversize"):
        assert crawled["rows"][url]["warc_file"] is None


def test_warc_records_match_fetch_rows(crawled, world):
    build = crawled["build"]
    fetched = [r for r in crawled["rows"].values() if r["status"] == "fetched"]
    per_file = Counter(r["warc_file"] for r in fetched)
    for name, n in per_file.items():
        counts = count_records(build / name)  # reads every record end to end
        assert counts["response"] == n and counts["request"] == n
        assert counts["warcinfo"] == 1
    pages = world.page_by_url()
    for row in fetched:
        rec = read_response(build / row["warc_file"], row["warc_offset"])
        assert rec.source_url == row["url"] and rec.target_uri == row["final_url"]
        assert len(rec.body) == row["n_bytes"]
        page = pages[row["url"]]
        if page.paragraphs:  # the exact bytes the server sent, decoded payload
            assert rec.body == page_response(page, world.seed)[2]


def test_rerun_of_finished_build_fetches_nothing(crawled):
    assert crawled["rerun_log"] == []
    assert crawled["same_bytes"]


def test_linkrot_report_counts_add_up(crawled, world):
    report = json.loads((crawled["build"] / "linkrot.json").read_text())
    assert report["urls"] == len(world.pages)
    assert report["by_status"] == dict(Counter(p.fetch_status for p in world.pages))
    assert set(report["by_year"]) == {"2018", "2019", "2020"}
    assert sum(b["urls"] for b in report["by_year"].values()) == len(world.pages)
    assert report["by_domain"][ROBOTS_SITE]["status"] == {"robots_denied": 3}
    assert sum(b["urls"] for b in report["by_domain"].values()) == len(world.pages)


def test_missing_urls_parquet_is_a_usage_error(tmp_path, capsys):
    assert main(["crawl", str(tmp_path)]) == 2
    assert "urls.parquet" in capsys.readouterr().err
