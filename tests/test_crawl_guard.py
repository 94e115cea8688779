"""The address guard: public mode refuses loopback (and every other non-public address) before
any connection; loopback mode refuses everything but loopback, and never queries DNS."""

from __future__ import annotations

import ipaddress

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from twisted.internet import error

from webtext.crawl.config import CrawlConfig
from webtext.crawl.fetcher import BlockedAddressError, GuardedResolver
from webtext.crawl.guard import BlockedAddress, UnknownHost, check_ip, refusal, resolve_static
from webtext.crawl.stage import crawl_build
from webtext.layout import BuildLayout
from webtext.records import URLS_SCHEMA
from webtext.world.miniweb import MiniWeb

REFUSED_IN_PUBLIC = [
    "127.0.0.1", "127.255.255.254", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254",
    "100.64.0.1", "0.0.0.0", "224.0.0.1", "240.0.0.1", "255.255.255.255", "192.0.2.1",
    "::1", "::", "fe80::1", "fc00::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
    "2002:7f00:1::", "64:ff9b::a00:1", "2001:db8::1",
]
ALLOWED_IN_PUBLIC = ["8.8.8.8", "93.184.215.14", "2001:4860:4860::8888", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("ip", REFUSED_IN_PUBLIC)
def test_public_mode_refuses_non_public(ip):
    assert refusal(ipaddress.ip_address(ip), "public")
    with pytest.raises(BlockedAddress):
        check_ip(ipaddress.ip_address(ip), "public")


@pytest.mark.parametrize("ip", ALLOWED_IN_PUBLIC)
def test_public_mode_allows_public(ip):
    assert refusal(ipaddress.ip_address(ip), "public") is None


@pytest.mark.parametrize("ip", ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"])
def test_loopback_mode_allows_only_loopback(ip):
    assert refusal(ipaddress.ip_address(ip), "loopback") is None
    assert refusal(ipaddress.ip_address("10.0.0.1"), "loopback")
    assert refusal(ipaddress.ip_address("8.8.8.8"), "loopback")


def test_loopback_resolution_uses_only_the_host_map():
    hosts = {"a.test": "127.0.0.1"}
    assert str(resolve_static("A.test.", hosts)) == "127.0.0.1"
    assert str(resolve_static("[::1]", hosts)) == "::1"
    with pytest.raises(UnknownHost):
        resolve_static("example.com", hosts)


def test_resolver_applies_the_guard_in_loopback_mode():
    resolver = GuardedResolver(reactor=None, cache_size=0, timeout=1.0)
    resolver.mode, resolver.hosts = "loopback", {"a.test": "127.0.0.1", "evil.test": "10.0.0.1"}
    results: dict[str, object] = {}
    for name in ("a.test", "evil.test", "unknown.test"):
        resolver.getHostByName(name).addBoth(lambda r, n=name: results.__setitem__(n, r))
    assert results["a.test"] == "127.0.0.1"
    assert results["evil.test"].check(BlockedAddressError)
    assert results["unknown.test"].check(error.DNSLookupError)


def test_config_refuses_a_non_loopback_proxy():
    with pytest.raises(ValueError):
        CrawlConfig(address_guard="loopback", loopback_proxy="10.0.0.1:8080")
    with pytest.raises(ValueError):
        CrawlConfig(loopback_proxy="127.0.0.1:8080")  # public mode has no proxy
    with pytest.raises(ValueError):
        CrawlConfig(address_guard="loopback", hosts={"a.test": "not-an-ip"})


def test_public_mode_blocks_loopback_server_before_any_request(tmp_path):
    """The guard is on (public mode): URLs naming the mini-web's loopback address, in every
    spelling, end as blocked_address, and the server sees no request at all."""
    with MiniWeb() as web:
        port = web.port
        urls = [f"http://127.0.0.1:{port}/a", f"http://localhost:{port}/b",
                f"http://[::1]:{port}/c", f"http://[::ffff:127.0.0.1]:{port}/d",
                f"http://127.1:{port}/e", f"http://2130706433:{port}/f",
                f"http://0.0.0.0:{port}/g"]
        bad = ["ftp://files.test/data.txt", "http://long.test/" + "x" * 3000]  # no request
        urls += bad
        rows = [dict(url=u, domain=u.split("/")[2], karma=3, karma_sum=3, n_submissions=1,
                     subreddits=[], submission_ids=[], first_created_utc=0) for u in urls]
        pq.write_table(pa.Table.from_pylist(rows, schema=URLS_SCHEMA), tmp_path / "urls.parquet")
        config = CrawlConfig(download_timeout=2.0, autothrottle=False, download_delay=0.0,
                             contact="tests@example.invalid")
        stats = crawl_build(BuildLayout(tmp_path), config)
        assert web.access_log() == []
    assert stats["status"] == {"blocked_address": len(urls) - len(bad), "bad_url": len(bad)}
    table = pq.read_table(tmp_path / "fetch.parquet").to_pylist()
    assert all("blocked address" in r["error"] for r in table if r["status"] != "bad_url")
