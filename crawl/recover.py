"""Link-rot recovery: find a dead URL's page in Common Crawl or the Wayback Machine.

In:  a URL, the time of its first Reddit submission (urls.parquet `first_created_utc`), the
     crawl config (archive section), and `fetch`: a coroutine that sends one HTTP request to
     an archive service and returns its reply. The crawler supplies it (fetcher.py), so every
     archive request goes through Scrapy like a live one: the address guard, a download slot
     per service at its configured rate, retries with backoff on 429/503, the size cap.
Out: a `Recovery`: the archived response and the archive it came from, or why none was usable
     (one note per archive and per refused capture, for the `error` column).

How (crawl/cdx.py holds the formats):
1. Common Crawl: the crawls of collinfo.json (asked once per crawl process) that overlap the
   URL's window, nearest first; each crawl's CDX index is asked in turn until one has a usable
   capture (cc_max_indexes at most), or until no capture of the next crawl could be closer to
   the submission than one the Wayback Machine already offered (`Best`): Common Crawl's index
   is the slowest service, and a query that cannot win is not sent. Should every capture then
   fail, the crawls skipped are asked after all. The Wayback Machine: one CDX query. Both at
   once.
2. Usable captures of both archives (status 200 with an allowed media type, or a redirect)
   are ranked together by time: the one closest to the submission wins, captures after it
   before captures before it (cdx.rank_time).
3. The best capture is fetched: Common Crawl's one WARC record with an HTTP Range request,
   verified (cdx.verify_cc_record); the Wayback Machine's raw `id_` capture. A recorded
   redirect is followed inside the same archive (a capture of its target near the redirect's
   time), up to max_redirects. A capture that fails verification, is not HTML after all, or
   is a parked-domain page is skipped for the next one; none is ever accepted silently.

Which live outcomes count as dead (`is_dead`): the HTTP codes of archive_dead_http (404, 410),
a DNS failure, a refused connection, and a small 200 HTML page carrying a domain-parking
marker (`looks_parked`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode, urljoin

from webtext.crawl.cdx import (
    ArchivedResponse,
    Capture,
    Index,
    RecordError,
    Window,
    candidates,
    choose_indexes,
    describe_misses,
    ia_response,
    parse_cc_cdx,
    parse_collinfo,
    parse_ia_cdx,
    rank_time,
    timestamp,
    verify_cc_record,
)
from webtext.crawl.config import CrawlConfig
from webtext.crawl.outcome import response_status
from webtext.records import FetchStatus

# Download slots, one per service: each has its own rate (fetcher.scrapy_settings).
SERVICES = ("cc-index", "cc-data", "ia")
# pywb (Common Crawl's index server) answers a query with no captures with HTTP 404 and this
# text in its body; a 404 without it means the index itself is missing.
NO_CAPTURES = b"No Captures found"


@dataclass(slots=True)
class Reply:
    """One archive service's HTTP answer."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    url: str


class ServiceError(Exception):
    """A request to an archive service failed (network, guard, size cap, retries used up)."""


Fetch = Callable[[str, str, dict[str, str]], Awaitable[Reply]]  # (service, url, headers)


@dataclass(slots=True)
class Recovery:
    """What the archives gave for one URL."""

    response: ArchivedResponse | None
    notes: list[str] = field(default_factory=list)

    @property
    def why(self) -> str:
        return "; ".join(self.notes) or "no archive asked"


class NotAPage(Exception):
    """A capture that is not a usable page after all (not HTML, too large, parked)."""


class Best:
    """The best rank (cdx.rank_time) of the usable captures the other archives found for one
    URL, and whether a Common Crawl index was left unasked because it could not beat it.

    `others` archives besides Common Crawl are asked; Common Crawl waits for their answers
    (`settled`) before asking a crawl after its first, so that whether the crawl can win is
    known, not a race between the two lookups."""

    def __init__(self, others: int):
        self.rank: tuple[int, float] | None = None
        self.pruned = False
        self._pending = others
        self._settled = asyncio.Event()
        if others == 0:
            self._settled.set()

    def offer(self, found: list[Capture], ref: datetime) -> None:
        for capture in found:
            r = rank_time(capture.time, ref)
            if self.rank is None or r < self.rank:
                self.rank = r

    def answered(self) -> None:
        """One of the other archives has answered (found something or not)."""
        self._pending -= 1
        if self._pending <= 0:
            self._settled.set()

    async def beats(self, index: Index, ref: datetime) -> bool:
        """Whether every capture `index` could hold ranks after the best one found."""
        await self._settled.wait()
        return self.rank is not None and self.rank < index.rank(ref)


# ---------------------------------------------------------------------- dead or alive
def looks_parked(body: bytes, content_type: str | None, config: CrawlConfig) -> bool:
    """A small HTML page showing a domain-parking service's text (a lapsed domain)."""
    if not config.archive_parked_markers or len(body) > config.archive_parked_max_bytes:
        return False
    if content_type is not None and "html" not in content_type.lower():
        return False
    text = body.decode("latin-1").lower()
    return any(marker.lower() in text for marker in config.archive_parked_markers)


def is_dead(status: FetchStatus, http_status: int | None, refused: bool,
            config: CrawlConfig) -> bool:
    """Whether a live failure means the page is gone (worth asking the archives)."""
    if status == FetchStatus.HTTP_ERROR:
        return http_status in config.archive_dead_http
    if status == FetchStatus.DNS_ERROR:
        return True
    return status == FetchStatus.CONNECTION_ERROR and refused


def reference_time(created_utc: int | None, config: CrawlConfig) -> datetime:
    if created_utc:
        return datetime.fromtimestamp(int(created_utc), UTC)
    return datetime.fromisoformat(config.archive_reference_date).replace(tzinfo=UTC)


# ---------------------------------------------------------------------- the client
class ArchiveClient:
    """Looks URLs up in the configured archives through `fetch` (one per crawl process)."""

    def __init__(self, config: CrawlConfig, fetch: Fetch,
                 on_service_error: Callable[[str, str], None] | None = None):
        self.config = config
        self.fetch = fetch
        # (archive, message) for each request a service failed, as opposed to a capture it
        # served and that was refused: a wrong URL in the config or an outage shows here.
        self.on_service_error = on_service_error
        self._indexes: asyncio.Future[list[Index]] | None = None

    def _service_error(self, archive: str, error: ServiceError) -> None:
        if self.on_service_error is not None:
            self.on_service_error(archive, str(error))

    def window(self, ref: datetime) -> Window:
        return Window(ref, timedelta(days=self.config.archive_days_before),
                      timedelta(days=self.config.archive_days_after))

    # ------------------------------------------------------------ CDX
    async def _load_indexes(self) -> list[Index]:
        reply = await self.fetch("cc-index", self.config.cc_collinfo_url, {})
        if reply.status != 200:
            raise ServiceError(f"collinfo.json: HTTP {reply.status}")
        return parse_collinfo(reply.body)

    async def indexes(self) -> list[Index]:
        """Common Crawl's crawls, asked once per process (every lookup awaits one request)."""
        if self._indexes is None:
            self._indexes = asyncio.ensure_future(self._load_indexes())
        return await asyncio.shield(self._indexes)

    def _query(self, window: Window, url: str) -> str:
        return urlencode({"url": url, "output": "json", "from": timestamp(window.start),
                          "to": timestamp(window.end), "limit": self.config.cdx_limit})

    async def captures(self, archive: str, url: str, window: Window,
                       best: Best | None = None) -> list[Capture]:
        """The archive's CDX rows for `url` in the window (Common Crawl: crawl by crawl,
        stopping at the first crawl with a usable capture, or at the first that `best`
        beats)."""
        allowed = self.config.allowed_content_types
        if archive == "ia":
            reply = await self.fetch(
                "ia", f"{self.config.wayback_url.rstrip('/')}/cdx/search/cdx?"
                      f"{self._query(window, url)}", {})
            if reply.status != 200:
                raise ServiceError(f"Wayback CDX: HTTP {reply.status}")
            return parse_ia_cdx(reply.body)
        seen: list[Capture] = []
        chosen = choose_indexes(await self.indexes(), window, self.config.cc_max_indexes)
        for n, index in enumerate(chosen):
            # The first crawl is asked at once, alongside the other archives.
            if n and best is not None and await best.beats(index, window.ref):
                best.pruned = True
                break
            reply = await self.fetch("cc-index", f"{index.cdx_api}?{self._query(window, url)}",
                                     {})
            if reply.status == 404 and NO_CAPTURES in reply.body:
                continue  # pywb's answer for "no captures" in this crawl
            if reply.status == 404:  # any other 404 is a broken index, not an empty one
                text = reply.body[:120].decode("utf-8", "replace").strip()
                raise ServiceError(f"CDX {index.id}: HTTP 404 ({text!r}), not pywb's "
                                   f"'No Captures found' answer: check crawl.cc_collinfo_url")
            if reply.status != 200:
                raise ServiceError(f"CDX {index.id}: HTTP {reply.status}")
            rows = parse_cc_cdx(reply.body)
            seen += rows
            if candidates(rows, window, allowed):
                break
        return seen

    # ------------------------------------------------------------ records
    async def record(self, capture: Capture) -> ArchivedResponse:
        """One capture, fetched and (Common Crawl) verified."""
        if capture.archive == "cc":
            if capture.filename is None or capture.offset is None or capture.length is None:
                raise RecordError("CDX row without filename, offset and length")
            url = self.config.cc_data_url.rstrip("/") + "/" + capture.filename.lstrip("/")
            first, last = capture.offset, capture.offset + capture.length - 1
            reply = await self.fetch("cc-data", url, {"Range": f"bytes={first}-{last}"})
            if reply.status != 206:
                raise ServiceError(f"data server: HTTP {reply.status} to a Range request")
            return verify_cc_record(reply.body, capture, self.config.max_page_bytes,
                                    f"{url} bytes={first}-{last}")
        url = f"{self.config.wayback_url.rstrip('/')}/web/{capture.timestamp}id_/{capture.url}"
        reply = await self.fetch("ia", url, {})
        if not (200 <= reply.status < 400):
            raise ServiceError(f"Wayback capture: HTTP {reply.status}")
        return ia_response(capture, reply.status, reply.headers, reply.body, url,
                           self.config.wayback_url)

    async def follow(self, capture: Capture) -> ArchivedResponse:
        """The page a capture leads to: redirects followed inside its archive."""
        config = self.config
        current = capture
        for _ in range(config.max_redirects + 1):
            response = await self.record(current)
            if not 300 <= response.status < 400:
                ctype = response.header("content-type")
                status = response_status(response.status, ctype, len(response.body),
                                         allowed_types=config.allowed_content_types,
                                         max_bytes=config.max_page_bytes)
                if status != FetchStatus.FETCHED:
                    raise NotAPage(f"the capture is {status.value} (HTTP {response.status}, "
                                   f"{ctype or 'no Content-Type'})")
                if looks_parked(response.body, ctype, config):
                    raise NotAPage("the capture is a parked-domain page")
                return response
            location = response.header("location")
            if not location:
                raise NotAPage(f"archived redirect {response.status} without Location")
            target = urljoin(current.url, location)
            window = self.window(current.time)
            found = candidates(await self.captures(current.archive, target, window), window,
                               config.allowed_content_types)
            if not found:
                raise NotAPage(f"archived redirect to {target}, which is not archived")
            current = found[0]
        raise NotAPage(f"more than {config.max_redirects} archived redirects")

    async def _ask(self, archive: str, url: str, window: Window,
                   best: Best | None = None) -> tuple[list[Capture], str]:
        other = best is not None and archive != "cc"
        try:
            try:
                rows = await self.captures(archive, url, window, best)
            except (ServiceError, RecordError) as e:
                if isinstance(e, ServiceError):
                    self._service_error(archive, e)
                return [], f"{archive}: {e}"
            allowed = self.config.allowed_content_types
            found = candidates(rows, window, allowed)
            if other:
                best.offer(found, window.ref)
            return found, "" if found else f"{archive}: {describe_misses(rows, window, allowed)}"
        finally:
            if other:
                best.answered()  # whatever happened: Common Crawl must not wait forever

    async def recover(self, url: str, created_utc: int | None) -> Recovery:
        """The best usable capture of `url` in the configured archives, or why there is none.

        archive_pick "closest" (the default) asks every archive at once and takes the capture
        closest to the submission; "first" asks them one after the other, in
        archive_services order, and takes the first archive's best usable capture, so the
        Wayback Machine (the slowest service) is asked only for what Common Crawl lacks."""
        window = self.window(reference_time(created_utc, self.config))
        if self.config.archive_pick == "first":
            return await self._recover_in_order(url, window)
        best = Best(sum(1 for a in self.config.archive_services if a != "cc"))
        asked = await asyncio.gather(*(self._ask(a, url, window, best)
                                       for a in self.config.archive_services))
        notes = [note for _, note in asked if note]
        found = [c for captures, _ in asked for c in captures]
        tried: set[Capture] = set()
        while True:
            ranked = sorted(found, key=lambda c: rank_time(c.time, window.ref))
            tried.update(ranked)
            recovery = await self._first_usable(ranked, notes)
            if recovery is not None:
                return recovery
            if not best.pruned:
                return Recovery(None, notes)
            # Every capture failed, and Common Crawl was cut short: ask its skipped crawls.
            best.pruned = False
            more, note = await self._ask("cc", url, window)
            found = [c for c in more if c not in tried]
            if note and note not in notes:
                notes.append(note)

    async def _recover_in_order(self, url: str, window: Window) -> Recovery:
        notes: list[str] = []
        for archive in self.config.archive_services:
            found, note = await self._ask(archive, url, window)
            if note:
                notes.append(note)
            recovery = await self._first_usable(found, notes)
            if recovery is not None:
                return recovery
        return Recovery(None, notes)

    async def _first_usable(self, found: list[Capture], notes: list[str]) -> Recovery | None:
        """The first of `found` (best first) that leads to a page, noting why others failed."""
        for capture in found:
            try:
                return Recovery(await self.follow(capture), notes)
            except (ServiceError, RecordError, NotAPage) as e:
                if isinstance(e, ServiceError):
                    self._service_error(capture.archive, e)
                notes.append(f"{capture.archive} {capture.timestamp}: {e}")
        return None

