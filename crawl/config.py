"""Config of the source stage (Reddit submissions to URLs) and of the crawl stage."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, field_validator, model_validator

from webtext.configbase import StageConfig


class SourceConfig(StageConfig):
    """Which Reddit links become URLs to fetch.

    Defaults follow WebText (Radford et al. 2019, "Language Models are Unsupervised Multitask
    Learners", section 2.1): outbound links from Reddit with at least 3 karma, Wikipedia removed.
    """


    dumps: list[str] = Field(default_factory=list, description="dump files or globs to read")
    # A run that reads no submission (empty files, files that are not dumps) or keeps no URL
    # fails, and leaves the previous urls.parquet in place: an empty URL list is almost always
    # a wrong path or filter, and the crawl would have nothing to do. True accepts it.
    allow_empty: bool = False
    # WebText: "at least 3 karma".
    min_karma: int = 3
    # WebText and OpenWebText score a URL by its best single submission; OpenWebText2 sums the
    # scores of every submission of the URL.
    karma_mode: Literal["max", "sum"] = "max"
    drop_self_posts: bool = True  # a self post links to Reddit itself, not to the web
    drop_removed: bool = True  # removed or deleted posts
    drop_nsfw: bool = True  # over_18 posts
    subreddit_allow: list[str] = Field(default_factory=list, description="empty = all allowed")
    subreddit_deny: list[str] = Field(default_factory=list)
    # Sites whose pages are not prose documents (media hosts, Reddit itself, social sites);
    # OpenWebText's blocklist drops the same kinds of host. A domain matches its subdomains.
    blocked_domains: list[str] = Field(
        default_factory=lambda: [
            "reddit.com", "redd.it", "imgur.com", "youtube.com", "youtu.be", "twitter.com",
            "x.com", "gfycat.com", "giphy.com", "streamable.com", "instagram.com",
            "facebook.com", "tiktok.com", "vimeo.com", "twitch.tv", "flickr.com",
        ]
    )
    # File types that are not HTML documents (OpenWebText's extension blocklist, abridged).
    blocked_extensions: list[str] = Field(
        default_factory=lambda: [
            ".jpg", ".jpeg", ".png", ".gif", ".gifv", ".webp", ".bmp", ".svg", ".tif", ".tiff",
            ".mp4", ".webm", ".mov", ".avi", ".mkv", ".mp3", ".wav", ".ogg", ".flac",
            ".zip", ".gz", ".tgz", ".rar", ".7z", ".tar", ".xz", ".bz2", ".exe", ".dmg",
            ".apk", ".iso", ".pdf",
        ]
    )
    # WebText removed all Wikipedia documents because it is a common data source for other
    # datasets and could overlap with test evaluation tasks (GPT-2 paper, section 2.1).
    drop_wikipedia: bool = True
    # Query parameters that only track the visitor; removed so that variants of one URL merge.
    tracking_params: list[str] = Field(
        default_factory=lambda: [
            "utm_*", "fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "ref",
            "ref_src", "igshid", "_ga", "yclid", "spm",
        ]
    )


class CrawlConfig(StageConfig):
    """How pages are fetched: politeness, limits, safety, sharding and output.

    Every value here becomes a Scrapy setting (webtext.crawl.fetcher.scrapy_settings), so the
    politeness and robustness rules are Scrapy's own, named and documented there. Sources:
    Scrapy = the Scrapy 2.19 settings reference and its "Broad Crawls" page; RFC 9309 = the
    Robots Exclusion Protocol; RFC 9110 = HTTP semantics.
    """

    # ------------------------------------------------------------------ safety
    # Address guard mode: "public" refuses private/loopback/reserved addresses (the default,
    # safe on the open web); "loopback" allows loopback only and refuses everything else, for
    # tests and the offline demo, so that nothing can reach the internet.
    address_guard: Literal["public", "loopback"] = "public"
    # Loopback mode only: "127.0.0.1:PORT" of an HTTP proxy (the mini-web) that every request,
    # robots.txt included, is sent through, so that all traffic physically goes to loopback.
    loopback_proxy: str | None = None
    # Loopback mode only: name -> IP used instead of DNS. A name not in the map is a dns_error
    # without any real DNS query; an IP that is not loopback is a blocked_address.
    hosts: dict[str, str] = Field(default_factory=dict)

    # ------------------------------------------------------------------ politeness
    # A descriptive User-Agent with a way to reach the operator (RFC 9110 section 10.1.5:
    # "a user agent SHOULD send a User-Agent field"; robots.txt rules match on its product
    # token, RFC 9309 section 2.2.1). Set `contact` to a URL or e-mail address.
    bot_name: str = "webtext"
    contact: str = ""
    user_agent: str | None = None  # overrides the generated "webtext/0.1 (+contact)" entirely
    obey_robots: bool = True  # RFC 9309; Scrapy ROBOTSTXT_OBEY
    # AutoThrottle adapts the delay per site to its latency, aiming at `target_concurrency`
    # requests in flight per site (Scrapy defaults: start 5 s, max 60 s, target 1.0).
    autothrottle: bool = True
    autothrottle_start_delay: float = Field(5.0, ge=0)
    autothrottle_max_delay: float = Field(60.0, ge=0)
    autothrottle_target_concurrency: float = Field(1.0, gt=0)
    # Minimum delay between two requests to one site; AutoThrottle never goes below it (Scrapy
    # AutoThrottle docs). One request per second per site at most.
    download_delay: float = Field(1.0, ge=0)
    # Total requests in flight. Scrapy's Broad Crawls page suggests raising the default 16
    # "to a value that fits your CPU and memory"; 32 suits a laptop-sized machine.
    concurrent_requests: int = Field(32, ge=1)
    # Requests in flight per site (Scrapy default 8; 2 is the polite value for a crawler that
    # visits many sites, each only a few times).
    concurrent_per_domain: int = Field(2, ge=1)

    # ------------------------------------------------------------------ limits
    # Scrapy's default is 180 s; its Broad Crawls page recommends lowering it so slow sites do
    # not hold slots. 30 s is still generous for one HTML page.
    download_timeout: float = Field(30.0, gt=0)
    dns_timeout: float = Field(10.0, gt=0)  # Scrapy DNS_TIMEOUT default 60 s
    # Retries for transient failures only: 5xx, 408/429 and timeouts (Scrapy's default
    # RETRY_HTTP_CODES; RETRY_TIMES 2 = three requests in all). DNS, refused and reset
    # connections are not retried: they are rarely transient and cost the site nothing to skip.
    retry_times: int = Field(2, ge=0)
    retry_http_codes: list[int] = Field(
        default_factory=lambda: [500, 502, 503, 504, 522, 524, 408, 429]
    )
    # Exponential backoff before retry n: base * 2**(n-1) seconds, capped; a Retry-After header
    # (RFC 9110 section 10.2.3) on 429/503 is honoured up to the cap. Scrapy has no built-in
    # backoff (its RetryMiddleware re-queues at once), so webtext's middleware adds it.
    retry_backoff_base: float = Field(1.0, ge=0)
    retry_backoff_max: float = Field(10.0, ge=0)
    # Body size cap, after decompression (Scrapy DOWNLOAD_MAXSIZE, which its
    # HttpCompressionMiddleware also applies while inflating, so a gzip bomb stops at the cap).
    # 5 MiB is ~100x a typical article page and below trafilatura's 20 MB file limit.
    max_page_bytes: int = Field(5 * 1024 * 1024, gt=0)
    # RFC 9110 section 15.4: "a client SHOULD detect and intervene in cyclical redirections";
    # its predecessor (RFC 2068 section 10.3) recommended at most five (Scrapy's default is 20).
    max_redirects: int = Field(5, ge=0)
    # HTML and XHTML only: the extractor reads nothing else (media types per RFC 2854, 3236).
    allowed_content_types: list[str] = Field(
        default_factory=lambda: ["text/html", "application/xhtml+xml"]
    )
    # Scrapy URLLENGTH_LIMIT default (Internet Explorer's old limit); longer URLs are bad_url.
    max_url_length: int = Field(2083, gt=0)

    # ------------------------------------------------------------------ running
    shards: int = Field(1, ge=1)  # URL shards, by domain hash; one crawl process per shard
    processes: int = Field(0, ge=0)  # shard processes at once; 0 = min(shards, CPU count)
    # Start requests held in Scrapy's scheduler at once: enough sites to keep every slot busy
    # under per-site delays, few enough that memory stays flat however long the URL list.
    frontier_size: int = Field(2000, ge=1)
    # The WARC standard's annex recommends files of about 1 GB (ISO 28500:2017, annex C);
    # Common Crawl's WARC files are about that size.
    warc_max_bytes: int = Field(1024**3, gt=0)
    # zlib level of each WARC record's gzip member; compression is the crawler's largest CPU
    # cost per page (warcio itself uses 9). Measured: on the fixture world's HTML, level 1 is
    # 4.5% larger than level 4 at 0.7x its CPU time; on the benchmark's 50 KB pages, 14% larger
    # at 0.45x (0.53 against 1.18 ms a page), which took the crawler from 6.0 to 5.1 ms of CPU
    # a page (benchmarks/crawl_bench.py). Archives that are kept for long may want 6.
    warc_gzip_level: int = Field(1, ge=1, le=9)
    # Seconds between background fsyncs of the WARC and status files; 0 = only on close (and
    # WARC rotation). Resume after SIGINT/SIGKILL does not need fsync (the kernel holds the
    # bytes), and after a power loss recovery drops rows whose WARC bytes did not survive.
    # Measured here, fsync every 5 s cost ~20% of the crawl rate (a flush per call on a
    # virtual disk); set it (e.g. 60) to bound what a power loss can cost.
    fsync_interval: float = Field(0.0, ge=0)
    progress_interval: float = Field(0.5, gt=0)  # seconds between progress messages
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # ------------------------------------------------------------------ archive mode
    # With --archive: URLs found in none of the WARC files are fetched live instead of ending
    # as archive_missing. With archive_lookup = "first": URLs in no web archive are fetched
    # live instead of ending as archive_missing.
    archive_fallback_live: bool = False

    # ------------------------------------------------------------------ web archives
    # Link-rot recovery (crawl/recover.py): "dead" looks a URL up in the web archives only when
    # its live fetch ended dead (archive_dead_http, a DNS failure, a refused connection, or a
    # parked-domain answer); "first" looks every URL up before any live request; "off" never.
    archive_lookup: Literal["off", "dead", "first"] = "off"
    archive_services: list[Literal["cc", "ia"]] = Field(default_factory=lambda: ["cc", "ia"])
    # "closest": every archive is asked and the capture closest to the submission wins;
    # "first": the archives are asked in archive_services order and the first one with a
    # usable capture wins, so later ones (the Wayback Machine, 0.25 requests/s) are asked only
    # for what earlier ones lack: fewer requests, at the cost of a capture perhaps farther away.
    archive_pick: Literal["closest", "first"] = "closest"
    # The HTTP answers that mean "this page is gone" (RFC 9110 15.5.5 Not Found, 15.5.11 Gone).
    archive_dead_http: list[int] = Field(default_factory=lambda: [404, 410])
    # Text that domain-parking services put on the page they show for a lapsed domain; a 200
    # HTML answer under archive_parked_max_bytes containing one of them counts as dead.
    archive_parked_markers: list[str] = Field(default_factory=lambda: [
        "this domain is for sale", "this domain may be for sale", "buy this domain",
        "domain is parked", "parked free, courtesy of", "sedoparking.com", "parkingcrew.net",
        "bodis.com", "dan.com/buy-domain", "hugedomains.com",
    ])
    archive_parked_max_bytes: int = Field(64 * 1024, ge=0)
    # Service endpoints; every one is configurable so tests point them at 127.0.0.1.
    # Common Crawl: collinfo.json lists one CDX index per crawl (pywb's CDX Server API, each
    # entry's `cdx-api`); WARC records come from the data server by HTTP Range.
    cc_collinfo_url: str = "https://index.commoncrawl.org/collinfo.json"
    cc_data_url: str = "https://data.commoncrawl.org/"
    # Internet Archive: the Wayback CDX API (/cdx/search/cdx) and raw captures (/web/<ts>id_/).
    wayback_url: str = "https://web.archive.org/"
    # Requests per second to each service (one request at a time, no jitter): a Scrapy
    # download slot of its own with delay 1/rate. Common Crawl asks users of its index server
    # to keep to about one request a second (its index-server guidance; not a published hard
    # limit). For the data server (CloudFront) no figure is published: 2/s is a guess kept
    # below what cdx_toolkit sends. The Internet Archive rate-limits web.archive.org per IP;
    # the figure reported by users since 2023 is ~15 requests a minute (unsure: not in IA's
    # own documentation), hence 0.25/s for its CDX API and captures together.
    cc_index_rate: float = Field(1.0, gt=0)
    cc_data_rate: float = Field(2.0, gt=0)
    wayback_rate: float = Field(0.25, gt=0)
    # Which capture: the one closest to the URL's first Reddit submission (first_created_utc),
    # preferring one taken after it (the page as readers saw it) to one taken before; only
    # captures from archive_days_before before to archive_days_after after it. WebText's links
    # end in December 2017; a capture years later is more likely a changed or parked page.
    archive_days_before: int = Field(30, ge=0)
    archive_days_after: int = Field(1095, ge=0)
    # The reference time of a URL without a submission time (WebText's last month).
    archive_reference_date: str = "2017-12-01"
    # Common Crawl has one index per crawl (100+); only this many, nearest the reference time
    # first, are asked per URL (each is one request at cc_index_rate).
    cc_max_indexes: int = Field(3, ge=1)
    # CDX rows asked per query (the `limit` parameter of both CDX APIs).
    cdx_limit: int = Field(200, ge=1)

    @field_validator("hosts")
    @classmethod
    def _hosts_are_ips(cls, hosts: dict[str, str]) -> dict[str, str]:
        for name, ip in hosts.items():
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                raise ValueError(f"hosts[{name!r}] = {ip!r} is not an IP address") from None
        return {name.lower().rstrip("."): ip for name, ip in hosts.items()}

    @field_validator("loopback_proxy")
    @classmethod
    def _proxy_is_loopback(cls, proxy: str | None) -> str | None:
        if proxy is None:
            return None
        host, sep, port = proxy.removeprefix("http://").rpartition(":")
        try:
            loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
        except ValueError:
            loopback = False
        if not sep or not port.isdigit() or not loopback:
            raise ValueError(f"{proxy!r}: expected 127.0.0.1:PORT (a loopback IP and a port)")
        return proxy.removeprefix("http://")

    @model_validator(mode="after")
    def _proxy_needs_loopback_mode(self) -> CrawlConfig:
        if self.loopback_proxy and self.address_guard != "loopback":
            raise ValueError("loopback_proxy is only used with address_guard = \"loopback\"")
        return self

    @property
    def user_agent_string(self) -> str:
        if self.user_agent:
            return self.user_agent
        from webtext import __version__ as version

        contact = self.contact or "no contact set"
        return f"{self.bot_name}/{version} (+{contact})"
