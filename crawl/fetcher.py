"""The Scrapy fetcher: a spider, three downloader middlewares, a resolver and a pipeline.

In:  the URLs of one shard still without a terminal status, and the crawl config.
Out: one `FetchedPage` per URL (plus an `HttpCapture` for fetched pages), handed to a sink
     (the shard's `ShardStore`) by the item pipeline. The only module of webtext that imports
     Scrapy or Twisted (one seam per library, docs/design.md "Conventions"); it runs inside a
     crawl subprocess (runner.py), because Twisted's reactor cannot be restarted within one process.

The spider only turns a response (or a failure) into an outcome. Politeness and robustness are
Scrapy's own named settings, generated from the config by `scrapy_settings()`: ROBOTSTXT_OBEY,
AUTOTHROTTLE_*, DOWNLOAD_DELAY, CONCURRENT_REQUESTS(_PER_DOMAIN), DOWNLOAD_TIMEOUT, RETRY_*,
DOWNLOAD_MAXSIZE (which HttpCompressionMiddleware also enforces while inflating, so a gzip bomb
stops at the cap), REDIRECT_MAX_TIMES. webtext adds, as ordered middleware:
- AddressGuardMiddleware (75, before robots.txt): the SSRF guard of guard.py on every request,
  redirects included; in loopback mode it also routes the request through the loopback proxy.
- RobotsMiddleware (100, replaces RobotsTxtMiddleware): Scrapy's, with every request that
  waits for a site's robots.txt checked against it (Scrapy checks only the first waiter), and
  RFC 9309's reading of a failed robots.txt (Scrapy allows all after any failure): 5xx or a
  network error (after the crawler's usual retries) means complete disallow, so the host's
  URLs end as `robots_unreachable` unrequested (section 2.3.1.4); 4xx and other non-2xx
  answers mean allow all (section 2.3.1.3), whatever the error page's body says.
- BackoffRetryMiddleware (550, replaces RetryMiddleware): the same retries, after an
  exponential backoff (and Retry-After), which Scrapy does not have.
- ContentTypeMiddleware (595, between redirects and decompression): a final 2xx response
  outside the allow list becomes `not_html`; a headers_received handler stops such a body's
  download at the headers.
GuardedResolver re-checks every address Twisted connects to, so a name that resolves to a
public address for the guard and to a private one later (DNS rebinding) is still refused.
Link-rot recovery (crawl/recover.py, with archive_lookup "dead" or "first"): the spider hands
a dead URL (or, archive-first, every URL) to an `ArchiveClient`, whose requests to Common Crawl
and the Wayback Machine go through `engine.download_async`, so through the same downloader
middlewares (guard, retries with backoff, size cap) as live ones, each service in a download
slot of its own at its configured rate (DOWNLOAD_SLOTS, no jitter, AutoThrottle kept off it).
PoolSafeDownloadHandler is Scrapy's HTTP/1.1 handler with a connection pool that never takes
back a connection that is already closing (see ClosingAwarePool).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import scrapy
from scrapy import signals
from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.crawler import CrawlerProcess
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadTimeoutError,
    IgnoreRequest,
    NotSupported,
    ResponseDataLossError,
    StopDownload,
    UnsupportedURLSchemeError,
)
from scrapy.resolver import CachingThreadedResolver
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet import defer, error, task
from twisted.web.client import HTTPConnectionPool

from webtext.crawl.config import CrawlConfig
from webtext.crawl.guard import BlockedAddress, UnknownHost, check_ip, parse_ip, resolve_static
from webtext.crawl.outcome import allowed_type, media_type, utc_now
from webtext.crawl.recover import (
    SERVICES,
    ArchiveClient,
    Reply,
    ServiceError,
    is_dead,
    looks_parked,
)
from webtext.crawl.warcfile import HttpCapture, build_records, compress_records
from webtext.records import FetchedPage, FetchStatus

URL_KEY = "webtext_url"  # request.meta: the urls.parquet URL a request (or redirect) is for
WIRE_KEY = "webtext_wire"  # request.meta: Content-Encoding/-Length as received, for the WARC
ARCHIVE_KEY = "webtext_archive"  # request.meta: the archive service a request goes to
LOOKUP_KEY = "webtext_lookup"  # request.meta: the URL an archive-first lookup is for
LOOKED_UP_KEY = "webtext_looked_up"  # request.meta: archives already asked for this URL
ARCHIVE_SLOT = "webtext-archive-"  # download slot name prefix, + a recover.SERVICES name
_MW = "webtext.crawl.fetcher"


class Sink(Protocol):
    """Where outcomes go (runner.ProgressSink). A sink may also have `archive_error(archive,
    message)`, told of every request an archive service failed."""

    def commit(self, page: FetchedPage, capture: HttpCapture | None,
               encoded: bytes | None = None) -> object: ...


@dataclass(slots=True)
class Outcome:
    """The item: what became of one URL."""

    page: FetchedPage
    capture: HttpCapture | None = None


# ---------------------------------------------------------------------- settings
def scrapy_settings(config: CrawlConfig) -> dict[str, Any]:
    """The Scrapy settings that implement a crawl config (see the module docstring)."""
    return {
        "BOT_NAME": config.bot_name,
        "USER_AGENT": config.user_agent_string,
        "ROBOTSTXT_OBEY": config.obey_robots,
        "AUTOTHROTTLE_ENABLED": config.autothrottle,
        "AUTOTHROTTLE_START_DELAY": config.autothrottle_start_delay,
        "AUTOTHROTTLE_MAX_DELAY": config.autothrottle_max_delay,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": config.autothrottle_target_concurrency,
        "DOWNLOAD_DELAY": config.download_delay,
        "CONCURRENT_REQUESTS": config.concurrent_requests,
        "CONCURRENT_REQUESTS_PER_DOMAIN": config.concurrent_per_domain,
        "DOWNLOAD_TIMEOUT": config.download_timeout,
        "DNS_TIMEOUT": config.dns_timeout,
        "RETRY_ENABLED": config.retry_times > 0,
        "RETRY_TIMES": config.retry_times,
        "RETRY_HTTP_CODES": config.retry_http_codes,
        # Timeouts only: DNS failures, refused and reset connections are not transient enough
        # to be worth a site's second request (Scrapy's default list retries them all).
        "RETRY_EXCEPTIONS": [DownloadTimeoutError, error.TimeoutError, error.TCPTimedOutError],
        "RETRY_GIVE_UP_LOG_LEVEL": "INFO",
        "WEBTEXT_RETRY_BACKOFF": (config.retry_backoff_base, config.retry_backoff_max),
        "DOWNLOAD_MAXSIZE": config.max_page_bytes,
        "DOWNLOAD_WARNSIZE": 0,
        "REDIRECT_MAX_TIMES": config.max_redirects,
        # URL length is checked (as bad_url) before a request is made; Scrapy's own check
        # would drop the request silently, leaving the URL without a status.
        "URLLENGTH_LIMIT": 0,
        # Broad-crawl settings (Scrapy "Broad Crawls" page): no cookies, a larger thread pool
        # for DNS, and no duplicate filter (every URL is unique already; none is lost to it).
        "COOKIES_ENABLED": False,
        "REACTOR_THREADPOOL_MAXSIZE": 20,
        # Each response yields exactly one item; Scrapy starts CONCURRENT_ITEMS worker tasks
        # per callback output, so the default 100 costs ~100 tasks per page for nothing.
        "CONCURRENT_ITEMS": 1,
        "DUPEFILTER_CLASS": "scrapy.dupefilters.BaseDupeFilter",
        "TWISTED_DNS_RESOLVER": f"{_MW}.GuardedResolver",
        "WEBTEXT_GUARD": config.address_guard,
        "WEBTEXT_HOSTS": dict(config.hosts),
        "WEBTEXT_PROXY": config.loopback_proxy if config.address_guard == "loopback" else None,
        "WEBTEXT_ALLOWED_TYPES": list(config.allowed_content_types),
        "DOWNLOADER_MIDDLEWARES": {
            f"{_MW}.AddressGuardMiddleware": 75,
            "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
            f"{_MW}.RobotsMiddleware": 100,
            "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
            f"{_MW}.BackoffRetryMiddleware": 550,
            f"{_MW}.ContentTypeMiddleware": 595,
        },
        "DOWNLOAD_HANDLERS": {"http": f"{_MW}.PoolSafeDownloadHandler",
                              "https": f"{_MW}.PoolSafeDownloadHandler"},
        "ITEM_PIPELINES": {f"{_MW}.CommitPipeline": 100},
        # No listening sockets: no telnet console, no remote-control server.
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,
        "LOG_LEVEL": config.log_level,
        "LOGSTATS_INTERVAL": 60.0,
        "DOWNLOAD_SLOTS": archive_slots(config) if config.archive_lookup != "off" else {},
    }


def archive_slots(config: CrawlConfig) -> dict[str, dict[str, Any]]:
    """One download slot per archive service, its requests started `1 / rate` seconds apart
    (Scrapy starts one request per delay period in a slot that has a delay), without random
    jitter, so a service never receives more than its configured rate, retries included. At
    most concurrent_per_domain are in flight, as for any site: at the real services' rates a
    request is done before the next starts; at higher rates (a local archive) they overlap.
    The "start" slot carries archive-first mode's placeholder requests (data: URIs)."""
    rates = {"cc-index": config.cc_index_rate, "cc-data": config.cc_data_rate,
             "ia": config.wayback_rate}
    slots = {ARCHIVE_SLOT + name: {"concurrency": config.concurrent_per_domain,
                                   "delay": 1.0 / rates[name], "jitter": 0.0}
             for name in SERVICES}
    slots[ARCHIVE_SLOT + "start"] = {"concurrency": config.concurrent_requests, "delay": 0.0,
                                     "jitter": 0.0}
    return slots


# ---------------------------------------------------------------------- guard
class BlockedAddressError(error.DNSLookupError):
    """Raised by the resolver: the name resolved to a refused address (kept as the cause)."""


class AddressBlocked(IgnoreRequest):
    """The request's host is, or resolves to, an address the guard refuses."""


class GuardedResolver(CachingThreadedResolver):
    """Scrapy's caching resolver, with the guard applied to every answer.

    Loopback mode answers from the host map only, so no DNS query ever leaves the machine.
    """

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: Any) -> GuardedResolver:
        resolver = super().from_crawler(crawler, reactor)
        resolver.mode = crawler.settings.get("WEBTEXT_GUARD", "public")
        resolver.hosts = crawler.settings.getdict("WEBTEXT_HOSTS")
        return resolver

    def getHostByName(self, name: str, timeout: Any = ()) -> defer.Deferred:  # noqa: N802
        mode = getattr(self, "mode", "public")
        if mode == "loopback":
            try:
                ip = resolve_static(name, getattr(self, "hosts", {}))
                return defer.succeed(str(check_ip(ip, mode)))
            except UnknownHost as e:
                return defer.fail(error.DNSLookupError(str(e)))
            except BlockedAddress as e:
                return defer.fail(BlockedAddressError(str(e)))

        def check(address: str) -> str:
            ip = parse_ip(address)
            try:
                if ip is None:
                    raise BlockedAddress(f"{name} resolved to {address!r}, not an IP")
                return str(check_ip(ip, mode))
            except BlockedAddress as e:
                raise BlockedAddressError(f"{name}: {e}") from None

        return super().getHostByName(name, timeout).addCallback(check)


class AddressGuardMiddleware:
    """Refuse requests (redirects included) whose host is or resolves to a refused address."""

    def __init__(self, crawler: Any):
        self.mode = crawler.settings.get("WEBTEXT_GUARD", "public")
        self.hosts = crawler.settings.getdict("WEBTEXT_HOSTS")
        proxy = crawler.settings.get("WEBTEXT_PROXY")
        self.proxy = f"http://{proxy}" if proxy else None
        self.verdicts: dict[str, tuple[Any, ...]] = {}  # loopback mode: host -> refusal

    @classmethod
    def from_crawler(cls, crawler: Any) -> AddressGuardMiddleware:
        return cls(crawler)

    async def process_request(self, request: scrapy.Request) -> None:
        parsed = urlparse_cached(request)
        host = parsed.hostname or ""
        if parsed.scheme not in ("http", "https"):
            return  # no network I/O (data:, file: are refused as bad_url by the spider)
        try:
            if self.mode == "loopback":
                # A fixed host map: the verdict for a host never changes, so it is kept.
                # (A new exception per request: re-raising one instance grows its traceback.)
                verdict = self.verdicts.get(host)
                if verdict is None:
                    try:
                        check_ip(resolve_static(host, self.hosts), self.mode)
                        verdict = self.verdicts[host] = ()
                    except (UnknownHost, BlockedAddress) as e:
                        verdict = self.verdicts[host] = (type(e), str(e))
                if verdict:
                    raise verdict[0](verdict[1])
                if self.proxy:
                    # Every byte goes to the loopback proxy, whatever the URL says.
                    request.meta["proxy"] = self.proxy
                return
            ip = parse_ip(host)
            if ip is None:
                from twisted.internet import reactor

                address = await maybe_deferred_to_future(reactor.resolver.getHostByName(host))
                ip = parse_ip(address)
                if ip is None:
                    raise BlockedAddress(f"{host} resolved to {address!r}, not an IP")
            check_ip(ip, self.mode)
        except UnknownHost as e:
            raise CannotResolveHostError(str(e)) from e
        except (BlockedAddress, BlockedAddressError) as e:
            raise AddressBlocked(f"blocked address: {e}") from e
        except error.DNSLookupError as e:
            raise CannotResolveHostError(str(e)) from e


# ---------------------------------------------------------------------- robots.txt
class RobotsUnreachable(IgnoreRequest):
    """The host's robots.txt answered 5xx or could not be reached: complete disallow."""


@dataclass(frozen=True, slots=True)
class UnreachableRobots:
    """Stands in a site's parser slot when its robots.txt is unreachable (RFC 9309 2.3.1.4)."""

    reason: str

    def allowed(self, url: str, user_agent: str | bytes) -> bool:
        return False  # complete disallow, should anything ask it as a parser


class RobotsMiddleware(RobotsTxtMiddleware):
    """Scrapy's RobotsTxtMiddleware, with the parser handed to every waiting request, and
    RFC 9309's rules for a robots.txt that is unavailable (4xx) or unreachable (5xx, network).

    Scrapy keeps one Deferred per site while its robots.txt downloads, and every request that
    arrives meanwhile awaits it. Awaiting a Deferred on the asyncio reactor goes through
    Deferred.asFuture, which consumes the result: the first waiter gets the parser, every later
    one gets None, which Scrapy reads as "no robots.txt", so those requests went out even to
    disallowed paths (tests/test_crawl_races.py). Once the Deferred has fired, Scrapy has stored
    the parser (None, or UnreachableRobots) in its table; every waiter reads it there.

    The verdict is kept for the rest of the crawl process, as Scrapy keeps a parser: the
    robots.txt is asked once per site (plus the crawler's retries, since its request goes
    through BackoffRetryMiddleware like any other), and the site's URLs end as
    `robots_unreachable`, a terminal status, so a re-run does not ask again.
    """

    async def robot_parser(self, request: scrapy.Request) -> Any:
        parser = await super().robot_parser(request)
        stored = self._parsers.get(urlparse_cached(request).netloc, parser)
        return parser if isinstance(stored, defer.Deferred) else stored

    def process_request_2(self, rp: Any, request: scrapy.Request) -> None:
        if isinstance(rp, UnreachableRobots):
            self._stats.inc_value("robotstxt/unreachable")
            raise RobotsUnreachable(rp.reason)
        super().process_request_2(rp, request)

    async def _parse_robots(self, response: Any, netloc: str, request: scrapy.Request) -> None:
        if 200 <= response.status < 300:
            return await super()._parse_robots(response, netloc, request)
        if response.status >= 500:  # what is left of it after RETRY_TIMES retries
            self._stats.inc_value("robotstxt/response_count")
            self._stats.inc_value(f"robotstxt/response_status_count/{response.status}")
            return self._settle(netloc, UnreachableRobots(
                f"robots.txt answered HTTP {response.status}: complete disallow "
                "(RFC 9309 section 2.3.1.4)"))
        # 4xx (and a 3xx that led nowhere): "unavailable", so allow all (RFC 9309 2.3.1.3).
        # Scrapy would parse the error page as if it were the file; a 404 page that happens to
        # hold "Disallow: /" would then shut the site out.
        await super()._parse_robots(response.replace(body=b""), netloc, request)

    def _robots_error(self, exc: Exception, netloc: str) -> None:
        # Server and network errors (refused, reset, timeout, DNS) make the file unreachable.
        # IgnoreRequest and the other statuses are the crawler's own rules (address guard,
        # redirect and size caps), not the site's failure: Scrapy's allow-all stands for those.
        if not isinstance(exc, IgnoreRequest) and classify(exc) in (
                FetchStatus.CONNECTION_ERROR, FetchStatus.TIMEOUT, FetchStatus.DNS_ERROR):
            self._stats.inc_value(f"robotstxt/exception_count/{type(exc)}")
            return self._settle(netloc, UnreachableRobots(
                f"robots.txt unreachable ({type(exc).__name__}: {exc}): complete disallow "
                "(RFC 9309 section 2.3.1.4)"))
        super()._robots_error(exc, netloc)

    def _settle(self, netloc: str, verdict: UnreachableRobots) -> None:
        """Store the site's verdict and wake the requests waiting for it (as Scrapy does)."""
        waiting = self._parsers[netloc]
        self._parsers[netloc] = verdict
        if isinstance(waiting, defer.Deferred):
            waiting.callback(verdict)


# ---------------------------------------------------------------------- retries
def backoff_delay(retry_number: int, base: float, cap: float,
                  retry_after: bytes | None = None) -> float:
    """Seconds to wait before retry `retry_number` (1, 2, ...): exponential, capped, and at
    least the server's Retry-After (seconds or an HTTP date) when it sent one."""
    delay = base * 2 ** (retry_number - 1)
    if retry_after:
        value = retry_after.decode("latin-1").strip()
        try:
            asked = float(value)
        except ValueError:
            when = email.utils.parsedate_to_datetime(value) if value else None
            asked = 0.0
            if when is not None:
                asked = (when - datetime.now(UTC)).total_seconds()
        delay = max(delay, asked)
    return max(0.0, min(delay, cap))


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's RetryMiddleware, waiting an exponential backoff before each retry.

    The wait holds one of the CONCURRENT_REQUESTS slots (not the site's slot), which is cheap
    because retries are rare and the backoff is capped.
    """

    @classmethod
    def from_crawler(cls, crawler: Any) -> BackoffRetryMiddleware:
        mw = super().from_crawler(crawler)
        mw.base, mw.cap = crawler.settings.get("WEBTEXT_RETRY_BACKOFF", (1.0, 10.0))
        return mw

    async def _wait(self, retry: scrapy.Request, retry_after: bytes | None = None) -> None:
        from twisted.internet import reactor

        delay = backoff_delay(retry.meta.get("retry_times", 1), self.base, self.cap, retry_after)
        if delay > 0:
            await maybe_deferred_to_future(task.deferLater(reactor, delay))

    async def process_response(self, request: scrapy.Request, response: Any) -> Any:
        result = super().process_response(request, response)
        if isinstance(result, scrapy.Request):
            await self._wait(result, response.headers.get(b"Retry-After"))
        return result

    async def process_exception(self, request: scrapy.Request, exception: Exception) -> Any:
        result = super().process_exception(request, exception)
        if isinstance(result, scrapy.Request):
            await self._wait(result)
        return result


# ---------------------------------------------------------------------- connection pool
class ClosingAwarePool(HTTPConnectionPool):
    """Twisted's connection pool, refusing connections that are already closing.

    When Scrapy stops a download at the headers (our not-HTML responses), it calls the
    transport's loseConnection(). If the rest of a small response sat in the same read, Twisted
    still finishes parsing it and hands the connection back to the pool, where it stays until the
    close completes on the next turn of the event loop. A request given that connection in the
    meantime is written and then cut off, and Twisted resends it on a new connection: the site
    would see the request twice (tests/test_crawl_races.py reproduces it).
    """

    def _putConnection(self, key: Any, connection: Any) -> None:
        transport = connection.transport
        if transport is None or transport.disconnecting or not transport.connected:
            return  # closing: left out of the pool, it simply finishes closing
        super()._putConnection(key, connection)


class PoolSafeDownloadHandler(HTTP11DownloadHandler):
    """Scrapy's HTTP/1.1 download handler on a ClosingAwarePool, configured as Scrapy's."""

    def __init__(self, crawler: Any):
        super().__init__(crawler)
        from twisted.internet import reactor

        pool = ClosingAwarePool(reactor, persistent=True)
        pool.maxPersistentPerHost = self._pool.maxPersistentPerHost
        pool._factory = self._pool._factory
        self._pool = pool


# ---------------------------------------------------------------------- content type
class NotHtml(IgnoreRequest):
    """A final 2xx response whose media type is outside the allow list."""

    def __init__(self, response: Any):
        super().__init__(f"not HTML: {media_type(response.headers.get(b'Content-Type'))!r}")
        self.response = response


class ContentTypeMiddleware:
    """Final 2xx responses outside the allow list become `not_html` (before decompression)."""

    def __init__(self, crawler: Any):
        self.allowed = crawler.settings.getlist("WEBTEXT_ALLOWED_TYPES")

    @classmethod
    def from_crawler(cls, crawler: Any) -> ContentTypeMiddleware:
        return cls(crawler)

    def process_response(self, request: scrapy.Request, response: Any) -> Any:
        if (URL_KEY in request.meta and 200 <= response.status < 300
                and not allowed_type(response.headers.get(b"Content-Type"), self.allowed)):
            raise NotHtml(response)
        return response


# ---------------------------------------------------------------------- spider
def _header_list(headers: Any) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1"))
            for k, values in headers.items() for v in values]


def classify(exc: BaseException) -> FetchStatus:
    """The terminal status of a failed request.

    Scrapy signals robots.txt refusals, exhausted redirects and decompression over
    DOWNLOAD_MAXSIZE as plain IgnoreRequest; their messages (pinned by tests against the
    installed Scrapy) tell them apart.
    """
    if isinstance(exc, HttpError):
        return FetchStatus.HTTP_ERROR
    if isinstance(exc, NotHtml):
        return FetchStatus.NOT_HTML
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, (AddressBlocked, BlockedAddressError, BlockedAddress)):
            return FetchStatus.BLOCKED_ADDRESS
        cause = cause.__cause__
    if isinstance(exc, RobotsUnreachable):
        return FetchStatus.ROBOTS_UNREACHABLE
    if isinstance(exc, IgnoreRequest):
        text = str(exc)
        if "robots.txt" in text:
            return FetchStatus.ROBOTS_DENIED
        if "max redirections" in text:
            return FetchStatus.TOO_MANY_REDIRECTS
        if "DOWNLOAD_MAXSIZE" in text:
            return FetchStatus.TOO_LARGE
        return FetchStatus.CONNECTION_ERROR
    if isinstance(exc, DownloadCancelledError):
        return FetchStatus.TOO_LARGE  # the downloader cancels only over DOWNLOAD_MAXSIZE
    if isinstance(exc, (CannotResolveHostError, error.DNSLookupError)):
        return FetchStatus.DNS_ERROR
    if isinstance(exc, (DownloadTimeoutError, error.TimeoutError, error.TCPTimedOutError)):
        return FetchStatus.TIMEOUT
    if isinstance(exc, (UnsupportedURLSchemeError, NotSupported)):
        return FetchStatus.BAD_URL
    return FetchStatus.CONNECTION_ERROR


class WebtextSpider(scrapy.Spider):
    """Turns each URL's final response, or its failure, into an `Outcome` item."""

    name = "webtext"

    def __init__(self, urls: Iterable[str], sink: Sink, config: CrawlConfig,
                 created: dict[str, int] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.urls = urls
        self.sink = sink
        self.config = config
        self.close_reason: str | None = None
        self.created = created or {}  # url -> first_created_utc, for the archive lookups
        self.recover_dead = config.archive_lookup == "dead"
        self.archives = ArchiveClient(config, self._archive_fetch,
                                      getattr(sink, "archive_error", None))

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> WebtextSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._headers_received, signal=signals.headers_received)
        crawler.signals.connect(spider._closed, signal=signals.spider_closed)
        return spider

    def _closed(self, reason: str) -> None:
        self.close_reason = reason

    def _headers_received(self, headers: Any, body_length: int, request: scrapy.Request,
                          spider: Any = None) -> None:
        if URL_KEY not in request.meta:
            return  # robots.txt and other internal requests
        request.meta[WIRE_KEY] = [(k, v) for k, v in _header_list(headers)
                                  if k.lower() in ("content-encoding", "content-length")]
        if not allowed_type(headers.get(b"Content-Type"), self.config.allowed_content_types):
            # Do not download a PDF or a video to throw it away; fail=False keeps the normal
            # path, so a redirect is still followed and a 503 still retried.
            raise StopDownload(fail=False)

    async def start(self) -> AsyncIterator[Any]:
        engine = self.crawler.engine
        for url in self.urls:
            # Keep at most frontier_size requests in the scheduler: memory stays flat however
            # many URLs the shard has (Scrapy would otherwise pull every start request in).
            while engine.running and len(engine.scheduler) >= self.config.frontier_size:
                await asyncio.sleep(0.05)
            if not engine.running:
                return
            if len(url) > self.config.max_url_length:
                yield self._failed_outcome(url, FetchStatus.BAD_URL,
                                           f"URL longer than {self.config.max_url_length}")
                continue
            try:
                request = self._live_request(url)
            except (ValueError, TypeError) as e:
                yield self._failed_outcome(url, FetchStatus.BAD_URL, str(e))
                continue
            if request.url.split(":", 1)[0].lower() not in ("http", "https"):
                yield self._failed_outcome(url, FetchStatus.BAD_URL, "not an http(s) URL")
                continue
            if self.config.archive_lookup == "first":
                # A placeholder that costs no network I/O: its callback runs the lookup, and
                # while it runs the engine counts the URL as in progress.
                yield scrapy.Request("data:,", callback=self._lookup_first, dont_filter=True,
                                     meta={LOOKUP_KEY: url, "dont_obey_robotstxt": True,
                                           "download_slot": ARCHIVE_SLOT + "start"})
                continue
            yield request

    def _live_request(self, url: str, looked_up: bool = False) -> scrapy.Request:
        meta: dict[str, Any] = {URL_KEY: url}
        if looked_up:
            meta[LOOKED_UP_KEY] = True
        return scrapy.Request(url, callback=self.parse, errback=self.failed, dont_filter=True,
                              meta=meta)

    def _failed_outcome(self, url: str, status: FetchStatus, error_text: str,
                        final_url: str | None = None, http_status: int | None = None,
                        content_type: str | None = None) -> Outcome:
        return Outcome(FetchedPage(url=url, final_url=final_url or url, status=status.value,
                                   http_status=http_status, content_type=content_type,
                                   error=error_text[:500], fetched_at=utc_now()))

    # parse() and failed() return one item, not a generator: Scrapy parses the source of
    # generator callbacks on every call to warn about `return` values (measurably slow).
    def parse(self, response: Any) -> Any:
        request = response.request
        fetched_at = utc_now()
        content_type = response.headers.get(b"Content-Type")
        ctype = content_type.decode("latin-1") if content_type else None
        headers = [(k, v) for k, v in _header_list(response.headers)
                   if k.lower() not in ("content-encoding", "content-length")]
        headers += request.meta.get(WIRE_KEY, [])
        capture = HttpCapture(
            url=response.url, source_url=request.meta[URL_KEY], status=response.status,
            response_headers=headers, body=response.body, fetched_at=fetched_at,
            protocol=response.protocol or "HTTP/1.1", request_headers=_header_list(request.headers),
            ip_address=str(response.ip_address) if response.ip_address else None)
        page = FetchedPage(url=request.meta[URL_KEY], final_url=response.url,
                           status=FetchStatus.FETCHED.value, http_status=response.status,
                           content_type=ctype, n_bytes=len(response.body), fetched_at=fetched_at)
        if (self.recover_dead and not request.meta.get(LOOKED_UP_KEY)
                and looks_parked(response.body, ctype, self.config)):
            page.error = "parked-domain page"
            return self._recover(page.url, Outcome(page, capture))
        return Outcome(page, capture)

    def failed(self, failure: Any) -> Any:
        if not self.crawler.engine.running:
            return None  # shutting down: a cancelled download is no outcome; resume refetches
        exc = failure.value
        request = failure.request
        response = getattr(exc, "response", None)
        status = classify(exc)
        ctype = None
        if response is not None and status in (FetchStatus.NOT_HTML, FetchStatus.HTTP_ERROR):
            raw = response.headers.get(b"Content-Type")
            ctype = raw.decode("latin-1") if raw else None
        http_status = response.status if response is not None else None
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if status == FetchStatus.TOO_LARGE and not str(exc):
            text += f": body over DOWNLOAD_MAXSIZE ({self.config.max_page_bytes} bytes)"
        outcome = self._failed_outcome(request.meta.get(URL_KEY, request.url), status, text,
                                       final_url=request.url, http_status=http_status,
                                       content_type=ctype)
        refused = isinstance(exc, error.ConnectionRefusedError)
        if (self.recover_dead and not request.meta.get(LOOKED_UP_KEY)
                and is_dead(status, http_status, refused, self.config)):
            return self._recover(outcome.page.url, outcome)
        return outcome

    # ------------------------------------------------------------ web archives
    async def _archive_fetch(self, service: str, url: str, headers: dict[str, str]) -> Reply:
        """One request to an archive service, through the downloader and its middlewares."""
        request = scrapy.Request(url, headers=headers, dont_filter=True, meta={
            ARCHIVE_KEY: service, "download_slot": ARCHIVE_SLOT + service,
            # Redirects are the archive's answer (a replayed redirect), not to be followed;
            # the services' APIs are for programs, their rate is the slot's.
            "dont_redirect": True, "dont_obey_robotstxt": True,
            "autothrottle_dont_adjust_delay": True})
        try:
            response = await self.crawler.engine.download_async(request)
        except Exception as e:  # a network failure, the guard, the size cap: one message
            status = classify(e)
            detail = str(e) or ("the reply ended before the length it announced"
                                if isinstance(e, ResponseDataLossError) else "")
            raise ServiceError(f"{status.value}: {type(e).__name__}: {detail}"[:300]) from e
        return Reply(response.status, _header_list(response.headers), response.body,
                     response.url)

    def _lookup_first(self, response: Any) -> Any:
        return self._recover(response.request.meta[LOOKUP_KEY], None)

    async def _recover(self, url: str, live: Outcome | None) -> Any:
        """The archived page for `url`, else the live outcome with the archives' answer in
        its error, else (archive-first) a live request or `archive_missing`."""
        recovery = await self.archives.recover(url, self.created.get(url))
        if not self.crawler.engine.running:
            return None  # stopping: no outcome, the re-run looks the URL up again
        found = recovery.response
        if found is not None:
            return self._archived_outcome(url, found, live)
        if live is not None:
            live.page.error = f"{live.page.error or ''}; archives: {recovery.why}"[:1000]
            return live
        if self.config.archive_fallback_live:
            return self._live_request(url, looked_up=True)
        return self._failed_outcome(url, FetchStatus.ARCHIVE_MISSING,
                                    f"archives: {recovery.why}")

    def _archived_outcome(self, url: str, found: Any, live: Outcome | None) -> Outcome:
        status = FetchStatus.ARCHIVED_CC if found.archive == "cc" else FetchStatus.ARCHIVED_IA
        ctype = found.header("content-type")
        # The stored payload is decoded; warcfile.stored_headers renames what would be false.
        headers = [(k, v) for k, v in found.headers if k.lower() != "content-length"]
        capture = HttpCapture(
            url=found.url, source_url=url, status=found.status, response_headers=headers,
            body=found.body, fetched_at=found.capture_time,  # WARC-Date: when it was captured
            extra_warc_headers={
                "WARC-Webtext-Archive": found.archive,
                "WARC-Webtext-Archive-Date": found.capture_time,
                "WARC-Webtext-Archive-Record-ID": found.record_id,
                "WARC-Webtext-Archive-Source": found.source,
                "WARC-Webtext-Retrieved": utc_now(),
            })
        note = None
        if live is not None:
            code = f" {live.page.http_status}" if live.page.http_status else ""
            note = f"recovered; live fetch: {live.page.status}{code}"
        page = FetchedPage(url=url, final_url=found.url, status=status.value,
                           http_status=found.status, content_type=ctype,
                           n_bytes=len(found.body), error=note, fetched_at=utc_now(),
                           archive=found.archive, archive_capture_time=found.capture_time,
                           archive_record_id=found.record_id)
        return Outcome(page, capture)


class CommitPipeline:
    """Hands every outcome to the sink: WARC records first, then the status row.

    Compressing a page's records is the crawler's largest CPU cost per page; it runs in a
    helper thread (zlib releases the GIL), so it overlaps with the reactor on a second core
    (benchmarks/crawl_bench.py). The writes stay in the reactor thread, one commit at a time,
    so the commit protocol is unchanged: a page whose records are not yet compressed when the
    process dies has no row and is fetched again.
    """

    def __init__(self, crawler: Any):
        self.crawler = crawler
        self.encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webtext-warc")
        crawler.signals.connect(self._closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Any) -> CommitPipeline:
        return cls(crawler)

    def _closed(self) -> None:
        self.encoder.shutdown(wait=True)

    async def process_item(self, item: Outcome) -> Outcome:
        spider = self.crawler.spider
        encoded = None
        if item.capture is not None:
            # warcio (Python) here; only zlib (C, GIL released) in the thread: a thread running
            # Python would make the reactor wait for the GIL after every socket call.
            records = build_records(item.capture)
            job = self.encoder.submit(compress_records, records, spider.config.warc_gzip_level)
            encoded = await asyncio.wrap_future(job)
        spider.sink.commit(item.page, None, encoded)
        return item


# ---------------------------------------------------------------------- running
def run_spider(urls: Iterable[str], sink: Sink, config: CrawlConfig,
               on_tick: Callable[[], None] | None = None,
               created: dict[str, int] | None = None) -> str:
    """Crawl `urls` into `sink` in this process (once: the reactor cannot restart).

    `on_tick` is called every `config.progress_interval` seconds; `created` gives each URL's
    first_created_utc for the archive lookups. Returns Scrapy's close
    reason ("finished" when every request has an outcome, "shutdown" after SIGINT/SIGTERM).
    """
    process = CrawlerProcess(settings=scrapy_settings(config))
    # Scrapy leaves its loggers at DEBUG and filters in its handler, so each page's debug
    # lines ("Crawled", "Scraped from") were built as records and then dropped; with the
    # level on the root logger they are dropped at the call.
    logging.getLogger().setLevel(config.log_level)
    crawler = process.create_crawler(WebtextSpider)
    if on_tick is not None:
        tickers: list[task.LoopingCall] = []

        def start_ticker() -> None:
            # Created here, not earlier: LoopingCall imports (so installs) the default reactor.
            tickers.append(task.LoopingCall(on_tick))
            tickers[0].start(config.progress_interval, now=False)

        def stop_ticker() -> None:
            if tickers and tickers[0].running:
                tickers[0].stop()

        crawler.signals.connect(start_ticker, signal=signals.engine_started)
        crawler.signals.connect(stop_ticker, signal=signals.engine_stopped)
    process.crawl(crawler, urls=urls, sink=sink, config=config, created=created)
    process.start()
    spider = crawler.spider
    return (spider.close_reason if spider is not None else None) or "unknown"
