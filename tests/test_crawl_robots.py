"""robots.txt that cannot be had (RFC 9309 sections 2.3.1.3 and 2.3.1.4), against real servers
on 127.0.0.1, through one crawl (a subprocess, as every crawl):

- robots.txt 503 (after the crawler's retries) -> every URL of the host is `robots_unreachable`
  and nothing but robots.txt is ever requested from it;
- robots.txt that times out -> the same;
- robots.txt refused (a port that is bound but not listening, so it passes the loopback guard
  and nothing else can take it) -> the same;
- robots.txt 404, even with an error page that reads like "Disallow: /" -> allow all.
The new status is counted in crawl_stats.json, linkrot.json and the stats funnel.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scrapy
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
)
from scrapy.utils.test import get_crawler
from twisted.internet import defer

from webtext.crawl.config import CrawlConfig
from webtext.crawl.fetcher import (
    AddressBlocked,
    RobotsMiddleware,
    RobotsUnreachable,
    UnreachableRobots,
    classify,
)
from webtext.crawl.stage import crawl_build
from webtext.layout import BuildLayout
from webtext.records import URLS_SCHEMA, FetchStatus

RETRY_TIMES = 1  # so robots.txt is asked 1 + RETRY_TIMES times before the verdict
PAGES = 5  # URLs per host
# What each host's robots.txt does; "refused" has no server at all.
ROBOTS = {
    "down.test": (503, b"User-agent: *\nAllow: /\n"),  # the 5xx body must not count either
    "gone.test": (404, b"User-agent: *\nDisallow: /\n"),  # an error page, not the file
    "slow.test": "hang",
}
REFUSED = "refused.test"
HOSTS = [*ROBOTS, REFUSED]
PAGE = b"<html><head><title>t</title></head><body><p>a page</p></body></html>\n"


class _Site(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, robots: tuple[int, bytes] | str, release: threading.Event):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.robots = robots
        self.release = release
        self.log: list[str] = []
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Site

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # the site's own log is the record

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.log.append(self.path)
        if self.path == "/robots.txt":
            if self.server.robots == "hang":
                self.server.release.wait(60)  # past the crawl's timeout (and its retry)
                return
            status, body = self.server.robots
            return self._send(status, body, "text/plain")
        self._send(200, PAGE, "text/html; charset=utf-8")

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def crawled(tmp_path_factory) -> Iterator[dict[str, Any]]:
    release = threading.Event()
    sites = {host: _Site(robots, release) for host, robots in ROBOTS.items()}
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1},
                                daemon=True) for s in sites.values()]
    # Bound, never listening: a connection to it is refused (RST), and while this socket
    # holds the port no other process can start listening on it.
    closed = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    closed.bind(("127.0.0.1", 0))
    ports = {host: s.server_address[1] for host, s in sites.items()}
    ports[REFUSED] = closed.getsockname()[1]
    try:
        for t in threads:
            t.start()
        build = tmp_path_factory.mktemp("robots") / "build"
        build.mkdir()
        rows = [dict(url=f"http://{host}:{ports[host]}/page-{i}.html", domain=host, karma=3,
                     karma_sum=3, n_submissions=1, subreddits=[], submission_ids=[],
                     first_created_utc=1546300800)
                for i in range(PAGES) for host in HOSTS]
        pq.write_table(pa.Table.from_pylist(rows, schema=URLS_SCHEMA), build / "urls.parquet")
        # Loopback guard, no proxy: each request goes straight to its own port on 127.0.0.1.
        config = CrawlConfig(address_guard="loopback", hosts={h: "127.0.0.1" for h in HOSTS},
                             download_timeout=2.0, autothrottle=False, download_delay=0.0,
                             concurrent_per_domain=4, retry_times=RETRY_TIMES,
                             retry_backoff_base=0.05, retry_backoff_max=0.2, fsync_interval=0.0,
                             shards=1)
        stats = crawl_build(BuildLayout(build), config)
        logs = {host: list(s.log) for host, s in sites.items()}
        rerun = crawl_build(BuildLayout(build), config)  # a finished build: asks nothing
        rerun_logs = {host: s.log[len(logs[host]):] for host, s in sites.items()}
        table = pq.read_table(build / "fetch.parquet").to_pylist()
        yield {"build": build, "stats": stats, "rerun": rerun, "logs": logs,
               "rerun_logs": rerun_logs, "rows": _by_host(table)}
    finally:
        release.set()
        for s in sites.values():
            s.shutdown()
            s.server_close()
        closed.close()


def _by_host(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """fetch.parquet rows by host name (the URL's authority without its port)."""
    out: dict[str, list[dict[str, Any]]] = {h: [] for h in HOSTS}
    for r in rows:
        out[r["url"].split("/")[2].split(":")[0]].append(r)
    return out


@pytest.mark.parametrize("host,cause", [("down.test", "HTTP 503"),
                                        ("slow.test", "DownloadTimeoutError"),
                                        (REFUSED, "DownloadConnectionRefusedError")])
def test_unreachable_robots_txt_disallows_the_whole_host(crawled, host, cause):
    rows = crawled["rows"][host]
    assert len(rows) == PAGES
    assert {r["status"] for r in rows} == {FetchStatus.ROBOTS_UNREACHABLE.value}
    for r in rows:
        assert cause in r["error"] and "RFC 9309" in r["error"], r["error"]
        assert r["http_status"] is None and r["warc_file"] is None and r["n_bytes"] == 0


@pytest.mark.parametrize("host", ["down.test", "slow.test"])
def test_only_robots_txt_is_requested_with_the_crawlers_retries(crawled, host):
    # The robots.txt request follows RETRY_TIMES like any request; no page is ever requested.
    assert crawled["logs"][host] == ["/robots.txt"] * (1 + RETRY_TIMES)


def test_robots_txt_404_allows_all_whatever_its_body(crawled):
    rows = crawled["rows"]["gone.test"]
    assert {r["status"] for r in rows} == {FetchStatus.FETCHED.value}
    assert Counter(crawled["logs"]["gone.test"]) == Counter(
        ["/robots.txt"] + [f"/page-{i}.html" for i in range(PAGES)])


def test_new_status_is_counted_in_stats_and_linkrot(crawled):
    from webtext.flows.corpusstats import compute_stats

    unreachable = 3 * PAGES  # down, slow, refused
    assert crawled["stats"]["status"] == {"fetched": PAGES, "robots_unreachable": unreachable}
    report = json.loads((crawled["build"] / "linkrot.json").read_text())
    assert report["by_status"] == {"fetched": PAGES, "robots_unreachable": unreachable}
    assert report["by_domain"]["down.test"]["status"] == {"robots_unreachable": PAGES}
    assert report["by_year"]["2019"]["urls"] == len(HOSTS) * PAGES
    stats = compute_stats(BuildLayout(crawled["build"]))
    urls_step = next(s for s in stats["funnel"] if s["step"] == "urls")
    assert urls_step["reasons"] == {"robots_unreachable": unreachable} and urls_step["adds_up"]


def test_terminal_status_is_not_retried_on_rerun(crawled):
    assert crawled["rerun"]["status"] == crawled["stats"]["status"]
    assert crawled["rerun_logs"] == {host: [] for host in ROBOTS}


# ---------------------------------------------------------------------- the verdict, unit
def _verdict_after(exc: Exception) -> object:
    """What RobotsMiddleware stores for a site whose robots.txt download raised `exc`."""
    mw = RobotsMiddleware(get_crawler(settings_dict={"ROBOTSTXT_OBEY": True}))
    mw._parsers["a.test"] = waiting = defer.Deferred()
    mw._robots_error(exc, "a.test")
    fired: list[object] = []
    waiting.addCallback(fired.append)
    assert fired == [mw._parsers["a.test"]]  # the waiting requests got the same verdict
    return mw._parsers["a.test"]


@pytest.mark.parametrize("exc", [DownloadConnectionRefusedError("refused"),
                                 DownloadTimeoutError("timeout"), CannotResolveHostError("dns"),
                                 DownloadFailedError("reset")])
def test_network_errors_make_robots_txt_unreachable(exc):
    assert isinstance(_verdict_after(exc), UnreachableRobots)


@pytest.mark.parametrize("exc", [AddressBlocked("blocked address: 10.0.0.1"),
                                 IgnoreRequest("max redirections reached"),
                                 DownloadCancelledError()])
def test_the_crawlers_own_refusals_keep_allow_all(exc):
    assert _verdict_after(exc) is None  # Scrapy's "no robots.txt"


def test_unreachable_verdict_refuses_with_its_own_status():
    mw = RobotsMiddleware(get_crawler(settings_dict={"ROBOTSTXT_OBEY": True}))
    with pytest.raises(RobotsUnreachable) as info:
        mw.process_request_2(UnreachableRobots("robots.txt answered HTTP 503"),
                             scrapy.Request("http://a.test/x"))
    assert classify(info.value) == FetchStatus.ROBOTS_UNREACHABLE
