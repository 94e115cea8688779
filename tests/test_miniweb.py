"""The mini-web serves the fixture world over real HTTP, as a proxy and as an origin server."""

from __future__ import annotations

import gzip
import http.client
import io
import socket

import pytest

from webtext.world.miniweb import BOMB_INFLATED_BYTES, MiniWeb, gzip_bomb
from webtext.world.spec import DEAD_SITE, ROBOTS_SITE, page_response


@pytest.fixture(scope="module")
def web(world):
    with MiniWeb(world, slow_delay=0.2) as server:
        yield server


def _get(web, url, *, proxy=True, host=None):
    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
    if proxy:
        conn.request("GET", url)
    else:
        conn.request("GET", url, headers={"Host": host})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, dict(resp.getheaders()), body


def test_absolute_form_and_origin_form_serve_the_same_page(web, world):
    page = next(p for p in world.pages if p.kind == "article")
    _, _, want = page_response(page, world.seed)
    assert _get(web, page.url)[2] == want
    assert _get(web, page.path, proxy=False, host=page.host)[2] == want
    assert (page.host, page.path) in web.access_log()


def test_robots_txt_disallows_private_on_members_only(web):
    status, _, body = _get(web, f"http://{ROBOTS_SITE}/robots.txt")
    assert status == 200 and b"Disallow: /private/" in body
    assert b"Disallow" not in _get(web, "http://dailyreport.test/robots.txt")[2]


def test_faults_answer_as_specified(web):
    base = "http://flaky.test/fault/"
    assert _get(web, base + "http_410")[0] == 410
    assert [_get(web, base + "flaky_503")[0] for _ in range(3)] == [503, 503, 200]
    web.reset()
    assert _get(web, base + "flaky_503")[0] == 503  # counters reset
    status, headers, _ = _get(web, base + "redirect_chain")
    assert status == 301 and headers["Location"].endswith("/hop2")
    assert _get(web, base + "redirect_private")[1]["Location"] == "http://10.0.0.1/admin"
    assert _get(web, base + "lying_type")[2].startswith(b"\x89PNG")
    status, headers, body = _get(web, base + "oversize")
    assert headers.get("Transfer-Encoding") == "chunked" and len(body) == 6 * 1024 * 1024
    assert _get(web, "http://unknown-host.test/")[0] == 502


def test_reset_endpoint_sends_rst(web):
    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
    conn.request("GET", "http://flaky.test/fault/reset")
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected, socket.error)):
        conn.getresponse().read()


def test_gzip_bomb_is_small_and_inflates_to_256_mib():
    bomb = gzip_bomb()
    assert len(bomb) < 400 * 1024
    with gzip.GzipFile(fileobj=io.BytesIO(bomb)) as f:
        total = sum(len(chunk) for chunk in iter(lambda: f.read(1 << 20), b""))
    assert total == BOMB_INFLATED_BYTES


def test_pause_holds_requests_until_resume(world):
    with MiniWeb(world, bench_pages=3) as server:
        server.pause(after=1)
        assert _get(server, "http://bench.test/page/0.html")[0] == 200
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=0.5)
        conn.request("GET", "http://bench.test/page/1.html")
        with pytest.raises(TimeoutError):
            conn.getresponse()
        server.resume()
        assert _get(server, "http://bench.test/page/2.html")[0] == 200


def test_crawl_overrides_route_every_world_host_to_loopback(web, world):
    overrides = web.crawl_overrides()
    assert overrides["loopback_proxy"] == f"127.0.0.1:{web.port}"
    # Every host but the world's dead one (spec.DEAD_SITE: link rot, a DNS failure).
    assert set(overrides["hosts"]) == {p.host for p in world.pages} - {DEAD_SITE}
    assert set(overrides["hosts"].values()) == {"127.0.0.1"}
    assert "nowhere.test" not in overrides["hosts"]
