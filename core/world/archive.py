"""The fixture web archives: Common Crawl and the Wayback Machine, in their real formats.

In:  a `World` (its rotted pages, spec.ROTTED, say which captures exist), or any list of
     `ArchiveCapture` (tests and benchmarks build their own).
Out: `ArchiveService`, which answers HTTP requests as three services do, on the hosts of
     `HOSTS` (the mini-web routes them here, see miniweb.MiniWeb(archive=...)):
     - index.commoncrawl.test: `/collinfo.json` (one crawl a month, each with its `cdx-api`,
       `from` and `to`) and `/<crawl>-index?url=&output=json&from=&to=&limit=`: JSON lines
       (urlkey, timestamp, url, mime, mime-detected, status, digest, length, offset,
       filename), or 404 with pywb's {"error": "No Captures found for: ..."};
     - data.commoncrawl.test: the crawls' WARC files (one gzip member per record) with HTTP
       `Range: bytes=first-last` answered 206 + Content-Range (RFC 9110 section 14);
     - web.archive.test: `/cdx/search/cdx?url=&output=json&from=&to=&limit=` (a JSON array,
       the header row first, `[]` when empty) and `/web/<timestamp>id_/<url>`, the raw
       capture with the original headers as X-Archive-Orig-* (a replayed redirect's Location
       points at the Wayback URL of its target, as the real service does).
     CDX rows match by SURT key (the `surt` package, as CDX servers do). Every request is
     logged with its arrival time per service (`log`), for tests and the benchmark; `fail_next`
     makes a service answer 429 (with Retry-After: 0) a number of times.

A damaged Common Crawl record (`truncated`) is stored cut in half at the end of its WARC
file while its CDX row keeps the full length, as a partly written file would look; a damaged
Wayback capture is a reply cut off halfway through its announced length.
CDX queries are answered from a dict keyed by SURT (real CDX servers binary-search a sorted
index), so the fixture's own cost per query does not grow with the captures it holds.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from webtext.world import html as H
from webtext.world.spec import World

Handler = Any  # miniweb's request handler (miniweb imports this module, not the reverse)

CC_INDEX_HOST = "index.commoncrawl.test"
CC_DATA_HOST = "data.commoncrawl.test"
WAYBACK_HOST = "web.archive.test"
HOSTS = {CC_INDEX_HOST: "cc-index", CC_DATA_HOST: "cc-data", WAYBACK_HOST: "ia"}
FIRST_CRAWL, LAST_CRAWL = (2014, 1), (2021, 12)  # one Common Crawl crawl a month between

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@dataclass
class ArchiveCapture:
    """One capture of `url` in one archive ("cc" or "ia")."""

    archive: str
    url: str
    when: datetime
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    body: bytes = b""
    location: str | None = None  # redirects
    # Common Crawl: the stored record is cut short. Wayback: the `id_` reply stops halfway
    # through the Content-Length it announced, and the connection closes.
    truncated: bool = False

    @property
    def timestamp(self) -> str:
        return self.when.strftime("%Y%m%d%H%M%S")

    @property
    def mime(self) -> str:
        return self.content_type.split(";", 1)[0].strip()

    def headers(self) -> list[tuple[str, str]]:
        out = [("Content-Type", self.content_type), ("Content-Length", str(len(self.body)))]
        if self.location:
            out.append(("Location", self.location))
        return out


def _crawl_id(year: int, month: int) -> str:
    week = datetime(year, month, 1).isocalendar().week
    return f"CC-MAIN-{year}-{week:02d}"


def crawls() -> list[tuple[str, datetime, datetime]]:
    """(id, from, to) of every fixture crawl: one per calendar month."""
    out = []
    year, month = FIRST_CRAWL
    while (year, month) <= LAST_CRAWL:
        start = datetime(year, month, 1, tzinfo=UTC)
        nxt = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        out.append((_crawl_id(year, month), start, nxt - timedelta(seconds=1)))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def world_captures(world: World) -> list[ArchiveCapture]:
    """The captures spec.ROTTED's cases describe, around each page's submission time."""
    out: list[ArchiveCapture] = []
    for page in world.pages:
        if page.kind != "rotted":
            continue
        s = datetime.fromtimestamp(page.submitted_utc, UTC)
        html = page.html(world.seed).encode("utf-8")

        def at(days: float, archive: str, _s: datetime = s, _html: bytes = html,
               _url: str = page.url, **kw: Any) -> ArchiveCapture:
            kw.setdefault("body", _html)
            return ArchiveCapture(archive, kw.pop("url", _url),
                                  _s + timedelta(days=days, hours=3), **kw)

        case = page.case
        target = page.url.replace(".html", "-moved.html")
        moved = {"status": 301, "location": target, "body": b"<a href='moved'>moved</a>"}
        out += {
            "both_cc_closer": [at(5, "cc"), at(25, "ia")],
            "both_ia_closer": [at(30, "cc"), at(3, "ia")],
            "cc_only": [at(12, "cc")],
            "ia_only": [at(9, "ia")],
            "neither": [],
            "ia_redirect": [at(2, "ia", **moved), at(2.5, "ia", url=target)],
            "cc_redirect": [at(4, "cc", **moved), at(4.2, "cc", url=target)],
            "cc_not_html": [at(6, "cc", content_type="application/pdf", body=PDF)],
            "cc_truncated": [at(8, "cc", truncated=True)],
            "cc_truncated_ia_later": [at(2, "cc", truncated=True), at(20, "ia")],
            "ia_before_only": [at(-10, "ia"), at(1500, "cc")],  # the CC one: out of window
            "dead_host_cc": [at(14, "cc")],
            "dead_host_ia": [at(16, "ia")],
        }.get(case or "", [])
    return out


def bench_captures(n: int, page_bytes: int = 20_000) -> list[ArchiveCapture]:
    """`n` article captures, alternately in each archive (benchmarks)."""
    paragraph = ("The archived article keeps its words long after the site is gone. " * 20)
    paras = [paragraph] * max(1, page_bytes // len(paragraph))
    base = datetime(2017, 3, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        html = H.render_article(site="bench.test", title=f"Archived page {i}", paragraphs=paras,
                                template=i, related=[], seed=i).encode("utf-8")
        out.append(ArchiveCapture("cc" if i % 2 == 0 else "ia", f"http://gone.test/p/{i}.html",
                                  base + timedelta(hours=i), body=html))
    return out


def _surt(url: str) -> str:
    import surt

    return surt.surt(url)


def _sha1_b32(data: bytes) -> str:
    return base64.b32encode(hashlib.sha1(data).digest()).decode("ascii")  # noqa: S324


def _gzip(data: bytes) -> bytes:
    import zlib

    comp = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    return comp.compress(data) + comp.flush()


def _warc_record(capture: ArchiveCapture, record_id: str) -> bytes:
    """One WARC/1.0 response record, uncompressed."""
    from http import HTTPStatus

    reason = HTTPStatus(capture.status).phrase
    http = f"HTTP/1.1 {capture.status} {reason}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in capture.headers()) + "\r\n"
    block = http.encode("latin-1") + capture.body
    head = (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: {record_id}\r\n"
            f"WARC-Date: {capture.when:%Y-%m-%dT%H:%M:%SZ}\r\n"
            f"WARC-Target-URI: {capture.url}\r\n"
            f"WARC-Payload-Digest: sha1:{_sha1_b32(capture.body)}\r\n"
            f"Content-Type: application/http; msgtype=response\r\n"
            f"Content-Length: {len(block)}\r\n\r\n")
    return head.encode("utf-8") + block + b"\r\n\r\n"


class ArchiveService:
    """Answers as Common Crawl's index and data servers and the Wayback Machine."""

    def __init__(self, captures: list[ArchiveCapture]):
        self.crawls = crawls()
        self.files: dict[str, bytes] = {}  # data server path -> WARC file bytes
        self.cc_rows: dict[str, list[dict[str, Any]]] = defaultdict(list)  # crawl -> rows
        self.ia: list[ArchiveCapture] = []
        self.ia_by_key: dict[str, list[tuple[str, str, ArchiveCapture]]] = defaultdict(list)
        self.ia_by_capture: dict[tuple[str, str], ArchiveCapture] = {}  # (timestamp, url)
        self.cc_by_key: dict[str, dict[str, list[tuple[str, str, Any]]]] = defaultdict(
            lambda: defaultdict(list))  # crawl -> SURT -> rows
        self.log: list[tuple[float, str, str, int]] = []  # (monotonic, service, path, status)
        self._lock = threading.Lock()
        self._failures: Counter[str] = Counter()
        self.dropped: set[str] = set()
        by_crawl: dict[str, list[ArchiveCapture]] = defaultdict(list)
        for c in captures:
            if c.archive == "ia":
                self.ia.append(c)
                key = _surt(c.url)
                self.ia_by_key[key].append((key, c.timestamp, c))
                self.ia_by_capture[(c.timestamp, c.url)] = c
                continue
            crawl = next((cid for cid, a, b in self.crawls if a <= c.when <= b), None)
            if crawl is None:
                raise ValueError(f"{c.when} is outside the fixture crawls")
            by_crawl[crawl].append(c)
        for crawl, items in by_crawl.items():
            self._write_crawl(crawl, sorted(items, key=lambda c: (c.truncated, c.timestamp)))

    def _write_crawl(self, crawl: str, items: list[ArchiveCapture]) -> None:
        name = f"crawl-data/{crawl}/segments/1/warc/{crawl}-00000.warc.gz"
        data = bytearray(_gzip(b"WARC/1.0\r\nWARC-Type: warcinfo\r\nContent-Length: 0\r\n\r\n"
                               b"\r\n\r\n"))
        for n, c in enumerate(items):
            record = _gzip(_warc_record(c, f"<urn:uuid:{crawl.lower()}-{n:08d}>"))
            row = {"urlkey": _surt(c.url), "timestamp": c.timestamp, "url": c.url,
                   "mime": c.mime, "mime-detected": c.mime, "status": str(c.status),
                   "digest": _sha1_b32(c.body), "length": str(len(record)),
                   "offset": str(len(data)), "filename": name}
            if c.location:
                row["redirect"] = c.location
            self.cc_rows[crawl].append(row)
            self.cc_by_key[crawl][row["urlkey"]].append((row["urlkey"], c.timestamp, row))
            data += record[: len(record) // 2] if c.truncated else record
        self.files[name] = bytes(data)

    # ---------------------------------------------------------------- test controls
    def fail_next(self, service: str, n: int, status: int = 429) -> None:
        """The next `n` requests to `service` ("cc-index", "cc-data", "ia") get `status`."""
        with self._lock:
            self._failures[f"{service}:{status}"] += n

    def drop_index(self, crawl: str) -> None:
        """collinfo.json still lists `crawl`, but its index answers 404 (a broken mirror)."""
        self.dropped.add(crawl)

    def requests(self, service: str) -> list[tuple[float, str, int]]:
        with self._lock:
            return [(t, path, code) for t, s, path, code in self.log if s == service]

    def reset(self) -> None:
        with self._lock:
            self.log.clear()
            self._failures.clear()

    # ---------------------------------------------------------------- serving
    def serve(self, h: Handler, host: str, path: str) -> None:
        service = HOSTS[host]
        with self._lock:
            fail = next((k for k, n in self._failures.items()
                         if n > 0 and k.startswith(service + ":")), None)
            if fail:
                self._failures[fail] -= 1
        if fail:
            code = int(fail.split(":")[1])
            return self._send(h, service, path, code, b"slow down\n", "text/plain",
                              [("Retry-After", "0")])
        if service == "cc-index":
            return self._cc_index(h, path)
        if service == "cc-data":
            return self._cc_data(h, path)
        return self._wayback(h, path)

    def _send(self, h: Handler, service: str, path: str, status: int, body: bytes,
              ctype: str | None, headers: list[tuple[str, str]] | None = None) -> None:
        with self._lock:
            self.log.append((time.monotonic(), service, path, status))
        h._send(status, body, ctype, headers)

    @staticmethod
    def _query(path: str) -> tuple[str, dict[str, str]]:
        parts = urlsplit(path)
        return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}

    @staticmethod
    def _select(rows: list[tuple[str, str, Any]], q: dict[str, str]) -> list[Any]:
        """Rows (urlkey, timestamp, item) matching url, from, to (prefix bounds), limit."""
        key = _surt(q.get("url", ""))
        lo = q.get("from", "")
        hi = q.get("to", "")
        hits = [(ts, item) for k, ts, item in rows if k == key and ts >= lo
                and (not hi or ts[: len(hi)] <= hi)]
        hits.sort(key=lambda x: x[0])
        return [item for _, item in hits[: int(q.get("limit", "1000000"))]]

    def _cc_index(self, h: Handler, path: str) -> None:
        route, q = self._query(path)
        if route == "/collinfo.json":
            body = json.dumps([{
                "id": cid, "name": f"{a:%B %Y} Index", "timegate": f"http://{CC_INDEX_HOST}/{cid}/",
                "cdx-api": f"http://{CC_INDEX_HOST}/{cid}-index",
                "from": f"{a:%Y-%m-%dT%H:%M:%S}", "to": f"{b:%Y-%m-%dT%H:%M:%S}"}
                for cid, a, b in reversed(self.crawls)]).encode()
            return self._send(h, "cc-index", path, 200, body, "application/json")
        crawl = route.strip("/").removesuffix("-index")
        if crawl in self.dropped or not any(cid == crawl for cid, _, _ in self.crawls):
            # pywb's answer for a collection it does not serve
            return self._send(h, "cc-index", path, 404,
                              f"No index found for collection '{crawl}'\n".encode(),
                              "text/plain")
        hits = self._select(self.cc_by_key[crawl].get(_surt(q.get("url", "")), []), q)
        if not hits:
            err = json.dumps({"error": f"No Captures found for: {q.get('url', '')}"})
            return self._send(h, "cc-index", path, 404, err.encode() + b"\n",
                              "application/json")
        body = b"".join(json.dumps(r).encode() + b"\n" for r in hits)
        self._send(h, "cc-index", path, 200, body, "text/x-ndjson")

    def _cc_data(self, h: Handler, path: str) -> None:
        data = self.files.get(path.lstrip("/"))
        if data is None:
            return self._send(h, "cc-data", path, 404, b"NoSuchKey\n", "text/plain")
        spec = (h.headers.get("Range") or "").removeprefix("bytes=")
        if not spec:
            return self._send(h, "cc-data", path, 200, data, "application/octet-stream")
        first_s, _, last_s = spec.partition("-")
        first = int(first_s)
        last = min(int(last_s), len(data) - 1) if last_s else len(data) - 1
        if first >= len(data):
            return self._send(h, "cc-data", path, 416, b"", "text/plain",
                              [("Content-Range", f"bytes */{len(data)}")])
        self._send(h, "cc-data", path, 206, data[first: last + 1], "application/octet-stream",
                   [("Content-Range", f"bytes {first}-{last}/{len(data)}")])

    def _wayback(self, h: Handler, path: str) -> None:
        route, q = self._query(path)
        if route == "/cdx/search/cdx":
            rows = self._select(self.ia_by_key.get(_surt(q.get("url", "")), []), q)
            table: list[list[str]] = []
            if rows:
                table = [["urlkey", "timestamp", "original", "mimetype", "statuscode",
                          "digest", "length"]]
                table += [[_surt(c.url), c.timestamp, c.url, c.mime, str(c.status),
                           _sha1_b32(c.body), str(len(c.body) + 300)] for c in rows]
            return self._send(h, "ia", path, 200, json.dumps(table).encode(),
                              "application/json")
        if route.startswith("/web/"):
            ts, _, original = path[len("/web/"):].partition("/")
            ts = ts.removesuffix("id_")
            capture = self.ia_by_capture.get((ts, original))
            if capture is None:
                return self._send(h, "ia", path, 404, b"not in archive\n", "text/html")
            headers = [(f"X-Archive-Orig-{k}", v) for k, v in capture.headers()]
            headers.append(("Memento-Datetime", f"{capture.when:%a, %d %b %Y %H:%M:%S GMT}"))
            if capture.location:
                headers.append(("Location",
                                f"http://{WAYBACK_HOST}/web/{ts}id_/{capture.location}"))
            if capture.truncated:
                return self._send_cut(h, path, capture, headers)
            return self._send(h, "ia", path, capture.status, capture.body,
                              capture.content_type, headers)
        self._send(h, "ia", path, 404, b"not found\n", "text/html")


    def _send_cut(self, h: Handler, path: str, capture: ArchiveCapture,
                  headers: list[tuple[str, str]]) -> None:
        """The reply announces the whole body, sends half of it, and closes the connection."""
        with self._lock:
            self.log.append((time.monotonic(), "ia", path, capture.status))
        h.send_response(capture.status)
        h.send_header("Content-Type", capture.content_type)
        for name, value in headers:
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(capture.body)))
        h.end_headers()
        h.wfile.write(capture.body[: len(capture.body) // 2])
        h.wfile.flush()
        h.close_connection = True


def archive_overrides() -> dict[str, str]:
    """Crawl config values that point the archive lookups at the fixture services."""
    return {"cc_collinfo_url": f"http://{CC_INDEX_HOST}/collinfo.json",
            "cc_data_url": f"http://{CC_DATA_HOST}/",
            "wayback_url": f"http://{WAYBACK_HOST}/"}


def service_for(world: World | None = None,
                captures: list[ArchiveCapture] | None = None) -> ArchiveService:
    return ArchiveService(captures if captures is not None else world_captures(world or World()))

