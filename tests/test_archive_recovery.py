"""Link-rot recovery through the crawler, against loopback archives that speak the real formats.

The fixture world's rotted pages (spec.ROTTED) are dead live (404 or a host that is gone) and
archived as each case says (archive.world_captures): in both archives (the closest capture
wins), in one, in neither, behind an archived redirect, only as a PDF, only as a truncated
record. The archive services run inside the mini-web (archive.ArchiveService), so every
archive request goes through the crawler's loopback proxy like a live one.
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from webtext.crawl.config import CrawlConfig
from webtext.crawl.stage import archive_warning, crawl_build
from webtext.crawl.warcfile import read_response
from webtext.layout import BuildLayout
from webtext.records import FETCH_SCHEMA, URLS_SCHEMA
from webtext.world.archive import HOSTS, ArchiveCapture, ArchiveService, world_captures
from webtext.world.miniweb import MiniWeb

TEST_CRAWL = {"download_timeout": 2.0, "autothrottle": False, "download_delay": 0.0,
              "retry_backoff_base": 0.05, "retry_backoff_max": 0.2, "concurrent_per_domain": 8,
              "cc_index_rate": 200.0, "cc_data_rate": 200.0, "wayback_rate": 200.0}


def rotted(world):
    return [p for p in world.pages if p.kind == "rotted"]


def write_urls(build: Path, pages) -> None:
    rows = [dict(url=p.url, domain=p.host, karma=5, karma_sum=5, n_submissions=1,
                 subreddits=["news"], submission_ids=[f"s{i}"],
                 first_created_utc=p.submitted_utc or 1514764800)
            for i, p in enumerate(pages)]
    build.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=URLS_SCHEMA), build / "urls.parquet")


def crawl(build: Path, web: MiniWeb, pages, **overrides) -> dict[str, dict]:
    write_urls(build, pages)
    config = CrawlConfig(**(TEST_CRAWL | web.crawl_overrides() | overrides))
    crawl_build(BuildLayout(build), config, shards=1)
    table = pq.read_table(build / "fetch.parquet")
    assert table.schema.equals(FETCH_SCHEMA)
    return {r["url"]: r for r in table.to_pylist()}


@pytest.fixture(scope="module")
def archive_web(world):
    service = ArchiveService(world_captures(world))
    with MiniWeb(world, archive=service) as web:
        yield web, service


@pytest.fixture(scope="module")
def recovered(tmp_path_factory, world, archive_web):
    """A crawl in "dead" mode of every rotted page, one live article and one live 410."""
    web, service = archive_web
    web.reset()
    service.reset()
    article = next(p for p in world.pages if p.kind == "article")
    gone = next(p for p in world.pages if p.kind == "http_410")  # dead, archived nowhere
    build = tmp_path_factory.mktemp("recover") / "build"
    rows = crawl(build, web, [*rotted(world), article, gone], archive_lookup="dead")
    return {"rows": rows, "build": build, "article": article, "gone": gone,
            "access": web.access_log(), "service_log": list(service.log)}


def test_every_url_ends_as_its_case_says(recovered, world):
    rows = recovered["rows"]
    for page in rotted(world):
        assert rows[page.url]["status"] == page.recovered_status, page.case
    assert rows[recovered["article"].url]["status"] == "fetched"
    gone = rows[recovered["gone"].url]
    assert gone["status"] == "http_error" and gone["http_status"] == 410
    assert "archives: cc: no capture; ia: no capture" in gone["error"]
    assert rows[recovered["article"].url]["archive"] is None  # alive: never looked up


def _case(world, rows, case):
    page = next(p for p in rotted(world) if p.case == case)
    return page, rows[page.url]


def test_closest_capture_wins(recovered, world):
    captures = world_captures(world)
    for case, archive in (("both_cc_closer", "cc"), ("both_ia_closer", "ia")):
        page, row = _case(world, recovered["rows"], case)
        mine = sorted((c for c in captures if c.url == page.url),
                      key=lambda c: c.when.timestamp() - page.submitted_utc)
        assert {c.archive for c in mine} == {"cc", "ia"}  # archived in both
        assert mine[0].archive == archive
        assert row["archive"] == archive
        assert row["archive_capture_time"] == f"{mine[0].when:%Y-%m-%dT%H:%M:%SZ}"
    # A capture before the submission is used when there is nothing after it in the window.
    page, row = _case(world, recovered["rows"], "ia_before_only")
    assert row["status"] == "archived_ia" and row["archive_capture_time"] < "2016-03-31"


def test_archived_redirects_are_followed_inside_the_archive(recovered, world):
    for case in ("ia_redirect", "cc_redirect"):
        page, row = _case(world, recovered["rows"], case)
        target = page.url.replace(".html", "-moved.html")
        assert row["final_url"] == target and row["http_status"] == 200
    # The redirect targets were asked of the archives only, never of the live site.
    assert not [p for h, p in recovered["access"] if h == "oldnews.test" and "moved" in p]


def test_not_html_and_truncated_captures_are_refused(recovered, world):
    rows = recovered["rows"]
    _, pdf = _case(world, rows, "cc_not_html")
    assert pdf["status"] == "http_error" and "200 application/pdf" in pdf["error"]
    _, cut = _case(world, rows, "cc_truncated")
    assert cut["status"] == "http_error" and cut["warc_file"] is None
    assert "the CDX row says" in cut["error"]  # verification failed, said so, not accepted
    _, later = _case(world, rows, "cc_truncated_ia_later")
    assert later["status"] == "archived_ia"  # the next capture, from the other archive


def test_provenance_in_fetch_parquet_and_warc(recovered, world):
    build = recovered["build"]
    pages = {p.url: p for p in rotted(world)}
    archived = [r for r in recovered["rows"].values() if r["status"].startswith("archived_")]
    assert len(archived) == sum(1 for p in pages.values() if p.recovered_status.startswith(
        "archived_"))
    for row in archived:
        archive = row["status"].removeprefix("archived_")
        assert row["archive"] == archive
        if archive == "cc":
            assert row["archive_record_id"].startswith("<urn:uuid:cc-main-")
        else:
            assert row["archive_record_id"].startswith("http://web.archive.test/web/")
            assert row["archive_record_id"].endswith("id_/" + row["final_url"])
        rec = read_response(build / row["warc_file"], row["warc_offset"])
        assert rec.source_url == row["url"] and rec.target_uri == row["final_url"]
        assert rec.date == row["archive_capture_time"]
        assert rec.body == pages[row["url"]].html(world.seed).encode("utf-8")
        with gzip.open(build / row["warc_file"]) as f:
            text = f.read().decode("utf-8", "replace")
        assert f"WARC-Webtext-Archive: {archive}" in text
        assert f"WARC-Webtext-Archive-Record-ID: {row['archive_record_id']}" in text


def test_archive_traffic_goes_through_the_crawler(recovered):
    """Through the loopback proxy (the mini-web logs it), Range on the data server, no
    robots.txt asked of the archive services."""
    hosts = {h for h, _ in recovered["access"]}
    assert set(HOSTS) <= hosts
    assert not [p for h, p in recovered["access"] if h in HOSTS and p == "/robots.txt"]
    data = [code for _, service, _, code in recovered["service_log"] if service == "cc-data"]
    assert data and set(data) == {206}


FAILS = {"cc-index": 429, "cc-data": 503, "ia": 429}


def test_429_and_503_recover_and_rates_hold(tmp_path, world, archive_web):
    """Each service answers 429 (the data server: 503) first; the crawler backs off and
    retries, and the URLs end as without them. At 10 requests/s per service, the servers' own
    logs never show two requests to one service closer than the configured interval allows."""
    web, service = archive_web
    web.reset()
    service.reset()
    for name, code in FAILS.items():
        service.fail_next(name, 2, code)
    pages = [p for p in rotted(world) if p.case in (
        "both_cc_closer", "cc_only", "ia_only", "ia_redirect", "dead_host_cc")]
    rate = 10.0
    rows = crawl(tmp_path / "b", web, pages, archive_lookup="dead", cc_index_rate=rate,
                 cc_data_rate=rate, wayback_rate=rate)
    assert {u: r["status"] for u, r in rows.items()} == {p.url: p.recovered_status
                                                       for p in pages}
    for name in ("cc-index", "cc-data", "ia"):
        log = service.requests(name)
        codes = [code for _, _, code in log]
        code = FAILS[name]
        assert codes[:2] == [code, code] and code not in codes[2:], (name, codes)
        times = [t for t, _, _ in log]
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        # Scrapy spaces the starts of a slot's requests by 1/rate; arrival can shift by a
        # few milliseconds of scheduling, never by half the interval.
        assert min(gaps) > 0.5 / rate, (name, min(gaps))
        assert (len(times) - 1) / (times[-1] - times[0]) <= rate * 1.05


def test_archive_first_mode_never_asks_the_live_site_for_archived_pages(tmp_path, world,
                                                                        archive_web):
    web, service = archive_web
    web.reset()
    article = next(p for p in world.pages if p.kind == "article")
    pages = [*rotted(world), article]
    rows = crawl(tmp_path / "first", web, pages, archive_lookup="first",
                 archive_fallback_live=True)
    live = {(h, p) for h, p in web.access_log() if h not in HOSTS}
    for page in rotted(world):
        row = rows[page.url]
        assert row["status"] == page.recovered_status, page.case
        asked = (page.host, page.path) in live
        assert asked == (not page.recovered_status.startswith("archived_")), page.case
    assert rows[article.url]["status"] == "fetched"  # in no archive: fetched live
    assert "archives: cc: no capture; ia: no capture" not in (rows[article.url]["error"] or "")

    rows = crawl(tmp_path / "first-only", web, [article], archive_lookup="first")
    assert rows[article.url]["status"] == "archive_missing"
    assert "cc: no capture" in rows[article.url]["error"]


def _cc_queries(service: ArchiveService, url: str) -> int:
    paths = [path for _, path, _ in service.requests("cc-index") if "?" in path]
    return sum(1 for p in paths if parse_qs(urlsplit(p).query).get("url") == [url])


def test_common_crawl_is_not_asked_for_crawls_that_cannot_win(tmp_path):
    """Common Crawl's crawls are asked nearest first; once the Wayback Machine has offered a
    capture closer than any the next crawl can hold, that crawl is not asked. Should the
    closer capture fail (here: a parked-domain page), the crawls skipped are asked after all."""
    ref = datetime(2017, 3, 10, tzinfo=UTC)
    page = (b"<html><head><title>Gone</title></head><body>"
            + b"<p>The archived article keeps its words.</p>" * 40 + b"</body></html>")
    near, parked = "http://gone.test/near.html", "http://gone.test/parked.html"
    service = ArchiveService([
        ArchiveCapture("ia", near, ref + timedelta(days=1), body=page),
        ArchiveCapture("ia", parked, ref + timedelta(days=1),
                       body=b"<html><body>This domain is for sale</body></html>"),
        # In the third crawl after the submission (May 2017): asked only once the Wayback
        # Machine's closer capture has failed.
        ArchiveCapture("cc", parked, ref + timedelta(days=70), body=page),
    ])
    urls = [SimpleNamespace(url=u, host="gone.test", submitted_utc=int(ref.timestamp()))
            for u in (near, parked)]
    with MiniWeb(archive=service) as web:
        rows = crawl(tmp_path / "b", web, urls, archive_lookup="first", cc_max_indexes=3)
    assert rows[near]["status"] == "archived_ia"
    # The crawl holding the submission is asked alongside the Wayback Machine; the two after
    # it cannot hold a capture as close as the Wayback Machine's, and are not asked.
    assert _cc_queries(service, near) == 1
    assert rows[parked]["status"] == "archived_cc"
    assert rows[parked]["archive_capture_time"].startswith("2017-05-19")
    # The Wayback capture was fetched first (and refused as parked), then the skipped crawls.
    assert [p for _, p, _ in service.requests("ia") if p.endswith("id_/" + parked)]
    assert _cc_queries(service, parked) >= 3


def test_a_cut_off_wayback_reply_is_refused(tmp_path):
    """A Wayback `id_` reply that stops before its Content-Length is a failed request, never
    a page: the next capture (here Common Crawl's) is used, or the URL ends archive_missing."""
    ref = datetime(2017, 3, 10, tzinfo=UTC)
    page = (b"<html><head><title>Gone</title></head><body>"
            + b"<p>The archived article keeps its words.</p>" * 40 + b"</body></html>")
    both, only = "http://gone.test/cut-both.html", "http://gone.test/cut-only.html"
    service = ArchiveService([
        ArchiveCapture("ia", both, ref + timedelta(days=1), body=page, truncated=True),
        ArchiveCapture("cc", both, ref + timedelta(days=6), body=page),
        ArchiveCapture("ia", only, ref + timedelta(days=1), body=page, truncated=True),
    ])
    urls = [SimpleNamespace(url=u, host="gone.test", submitted_utc=int(ref.timestamp()))
            for u in (both, only)]
    with MiniWeb(archive=service) as web:
        build = tmp_path / "b"
        rows = crawl(build, web, urls, archive_lookup="first")
    assert [p for _, p, _ in service.requests("ia") if p.endswith("id_/" + both)]
    assert rows[both]["status"] == "archived_cc"
    rec = read_response(build / rows[both]["warc_file"], rows[both]["warc_offset"])
    assert rec.body == page
    assert rows[only]["status"] == "archive_missing"
    assert rows[only]["warc_file"] is None
    error = rows[only]["error"]
    assert "ia 20170311000000: connection_error: ResponseDataLossError: the reply ended" \
        in error, error
    assert error.count("cc: no capture") == 1, error


def test_an_archived_redirect_chain_is_followed_hop_by_hop(tmp_path):
    """Two archived redirects in a row, in each archive, end at the page; a chain longer than
    max_redirects is refused with the reason, like a live one."""
    ref = datetime(2017, 3, 10, tzinfo=UTC)
    page = (b"<html><head><title>Moved twice</title></head><body>"
            + b"<p>The archived article keeps its words.</p>" * 40 + b"</body></html>")

    def chain(archive: str, name: str, hops: int) -> list[ArchiveCapture]:
        urls = [f"http://gone.test/{name}-{i}.html" for i in range(hops + 1)]
        out = [ArchiveCapture(archive, u, ref + timedelta(days=2, hours=i), status=301,
                              location=nxt, body=b"moved")
               for i, (u, nxt) in enumerate(zip(urls, urls[1:], strict=False))]
        return [*out, ArchiveCapture(archive, urls[-1], ref + timedelta(days=2, hours=hops),
                                     body=page)]

    captures = chain("ia", "ia", 2) + chain("cc", "cc", 2) + chain("ia", "long", 3)
    service = ArchiveService(captures)
    starts = [c.url for c in captures if c.url.endswith("-0.html")]
    urls = [SimpleNamespace(url=u, host="gone.test", submitted_utc=int(ref.timestamp()))
            for u in starts]
    with MiniWeb(archive=service) as web:
        build = tmp_path / "b"
        rows = crawl(build, web, urls, archive_lookup="first", max_redirects=2)
    for name, status in (("ia", "archived_ia"), ("cc", "archived_cc")):
        row = rows[f"http://gone.test/{name}-0.html"]
        assert row["status"] == status
        assert row["final_url"] == f"http://gone.test/{name}-2.html"
        assert read_response(build / row["warc_file"], row["warc_offset"]).body == page
    long = rows["http://gone.test/long-0.html"]
    assert long["status"] == "archive_missing"
    assert "more than 2 archived redirects" in long["error"], long["error"]


def test_a_missing_index_is_an_error_not_an_empty_answer(tmp_path):
    """pywb answers "no captures" with a 404 that says so; a 404 for an index it does not
    serve is a broken service, and the URL's error says which index and what it answered
    instead of passing for "no capture"."""
    ref = datetime(2017, 3, 10, tzinfo=UTC)
    page = b"<html><body>" + b"<p>The archived article keeps its words.</p>" * 40 + b"</body>"
    url = "http://gone.test/broken-index.html"
    service = ArchiveService([ArchiveCapture("cc", url, ref + timedelta(days=2), body=page)])
    service.drop_index("CC-MAIN-2017-09")  # March 2017: the crawl holding the capture
    build = tmp_path / "b"
    write_urls(build, [SimpleNamespace(url=url, host="gone.test",
                                       submitted_utc=int(ref.timestamp()))])
    with MiniWeb(archive=service) as web:
        config = CrawlConfig(**(TEST_CRAWL | web.crawl_overrides() | {
            "archive_lookup": "first", "archive_services": ["cc"]}))
        stats = crawl_build(BuildLayout(build), config, shards=1)
    rows = {r["url"]: r for r in pq.read_table(build / "fetch.parquet").to_pylist()}
    row = rows[url]
    assert row["status"] == "archive_missing"
    assert ("cc: CDX CC-MAIN-2017-09: HTTP 404 (\"No index found for collection "
            "'CC-MAIN-2017-09'\"), not pywb's 'No Captures found' answer") in row["error"], \
        row["error"]
    # The run says so in one line, not only in the URL's error column.
    assert stats["archive_errors"] == {"cc": 1}
    warning = archive_warning(stats)
    assert warning.startswith("1 archive request(s) failed (Common Crawl 1, first: CDX "
                              "CC-MAIN-2017-09: HTTP 404") and "cc_collinfo_url" in warning
    assert archive_warning({"archive_errors": {}}) is None



def test_archive_pick_first_asks_the_wayback_machine_only_for_what_common_crawl_lacks(
        tmp_path, world, archive_web):
    web, service = archive_web
    web.reset()
    service.reset()
    pages = [p for p in rotted(world) if p.case in ("both_ia_closer", "ia_only", "cc_only")]
    rows = crawl(tmp_path / "first", web, pages, archive_lookup="dead", archive_pick="first")
    by_case = {p.case: rows[p.url] for p in pages}
    # In both archives, the Wayback capture closer: Common Crawl's is taken all the same.
    assert by_case["both_ia_closer"]["status"] == "archived_cc"
    assert by_case["ia_only"]["status"] == "archived_ia"
    assert by_case["cc_only"]["status"] == "archived_cc"
    asked_ia = {parse_qs(urlsplit(p).query).get("url", [""])[0]
                for _, p, _ in service.requests("ia") if p.startswith("/cdx/")}
    assert asked_ia == {p.url for p in pages if p.case == "ia_only"}


def test_webtext_crawl_ends_with_the_archive_warning(tmp_path, capsys, caplog):
    """Through the CLI: a broken Common Crawl index makes `webtext crawl` end with one warning
    line that names the service, the count, the first failure and the keys to check."""
    import logging

    import tomli_w

    from webtext.cli import main

    ref = datetime(2017, 3, 10, tzinfo=UTC)
    url = "http://gone.test/cli-broken-index.html"
    service = ArchiveService([ArchiveCapture("cc", url, ref + timedelta(days=2),
                                             body=b"<html><body><p>words</p></body></html>")])
    service.drop_index("CC-MAIN-2017-09")
    build = tmp_path / "b"
    write_urls(build, [SimpleNamespace(url=url, host="gone.test",
                                       submitted_utc=int(ref.timestamp()))])
    with MiniWeb(archive=service) as web:
        config = tmp_path / "crawl.toml"
        config.write_text(tomli_w.dumps({"crawl": TEST_CRAWL | web.crawl_overrides() | {
            "archive_lookup": "first", "archive_services": ["cc"]}}))
        with caplog.at_level(logging.WARNING):
            assert main(["crawl", str(build), "--config", str(config)]) == 0
    assert "crawl: 1 URLs: 1 archive_missing" in capsys.readouterr().out
    warnings = [r.getMessage() for r in caplog.records if "archive request(s) failed" in
                r.getMessage()]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("crawl: 1 archive request(s) failed (Common Crawl 1, first: "
                                  "CDX CC-MAIN-2017-09: HTTP 404")
