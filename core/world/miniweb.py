"""The mini-web: a real HTTP server on 127.0.0.1 that serves every page of a fixture `World`.

In:  a `World` (pages with their expected fetch outcome, `FAULTS`), optionally a number of
     generated ~50 KB benchmark pages.
Out: a threaded HTTP/1.1 server on a free loopback port that answers both as an origin server
     (`GET /path` + `Host:`) and as an HTTP proxy (`GET http://host/path`, absolute form, RFC
     9112 section 3.2.2), so the crawler's loopback mode can send every request for the
     port-less `.test` URLs through it. It keeps an access log of (host, path) for tests.

Hosts and paths served:
- every `World` page: content pages via `page_response`, fault pages per `FAULTS`;
- `/robots.txt`: members.test disallows /private/ (RFC 9309); the article sites allow all; the
  other hosts answer 404, which RFC 9309 section 2.3.1.3 also reads as "allow all";
- `bench.test/page/<i>.html` for i < bench_pages (benchmarks);
- with `archive=` (an archive.ArchiveService): the web-archive hosts (Common Crawl's index and
  data servers, the Wayback Machine), answered by that service; the rotted pages of
  `spec.ROTTED_SITE` answer 404 and `spec.DEAD_SITE` is left out of the host map;
- any path on a loopback address host (127.0.0.1, localhost, ::1): a small page, so a guard
  bug that let such a request through would show in the access log;
- anything else: 404 for an unknown path, 502 for an unknown host (as a proxy would).

Use it as a context manager, or run `python -m webtext.world.miniweb` to browse a world.
"""

from __future__ import annotations

import argparse
import gzip
import socket
import struct
import threading
import time
from collections import Counter
from functools import cache
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from webtext.world import html as H
from webtext.world import text as T
from webtext.world.spec import (
    ARTICLE_SITES,
    DEAD_SITE,
    FAULT_SITE,
    ROBOTS_SITE,
    Page,
    World,
    page_response,
)

BENCH_HOST = "bench.test"
UNKNOWN_HOST = "nowhere.test"  # redirect_unknown_host points here; it is in no host map
PRIVATE_TARGET = "http://10.0.0.1/admin"  # redirect_private points here; never contacted
DIRECT_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
OVERSIZE_BYTES = 6 * 1024 * 1024
BOMB_INFLATED_BYTES = 256 * 1024 * 1024
PNG_BYTES = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)
PDF_BYTES = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
REDIRECT_CHAIN = (  # (path, status, next path): 301 -> 302 -> 307 -> the article
    ("/fault/redirect_chain", 301, "/fault/redirect_chain/hop2"),
    ("/fault/redirect_chain/hop2", 302, "/fault/redirect_chain/hop3"),
    ("/fault/redirect_chain/hop3", 307, "/fault/redirect_chain/article"),
)


@cache
def gzip_bomb() -> bytes:
    """~250 KiB of gzip that inflates to 256 MiB of zeros.

    Built as 256 identical gzip members of 1 MiB each: a gzip file is "a series of members"
    (RFC 1952 section 2.2) and every gzip reader inflates them in turn, so this is as
    dangerous as one big member, and takes milliseconds instead of seconds to build.
    """
    member = gzip.compress(bytes(1024 * 1024), compresslevel=9, mtime=0)
    return member * (BOMB_INFLATED_BYTES // (1024 * 1024))


@cache
def _bench_templates(page_bytes: int, variants: int = 16) -> tuple[bytes, ...]:
    """A few ~page_bytes article bodies; each benchmark page is one of them plus its number."""
    paras = T.prose_paragraphs()
    out = []
    for v in range(variants):
        body: list[str] = []
        i = v * 7
        while sum(len(p) for p in body) < page_bytes * 0.8:
            body.append(paras[i % len(paras)])
            i += 1
        html = H.render_article(site=BENCH_HOST, title="Benchmark page @@ID@@", paragraphs=body,
                                template=v, related=[("/page/0.html", "First page")], seed=v)
        out.append(html.encode("utf-8"))
    return tuple(out)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    web: MiniWeb

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client that resets a kept-alive connection is not a server error
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real sites and Scrapy's connection pool use
    # Headers and body go out in separate writes; with Nagle's algorithm on, the body waits
    # for the client's delayed ACK (~40 ms) on every kept-alive request.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # the access log below is the record; stderr chatter would drown test output

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_CONNECT(self) -> None:
        self.server.web._record(self.path.split(":")[0], "CONNECT")
        self._send(405, b"no tunnels here\n", "text/plain")

    def do_GET(self) -> None:
        if self.path.startswith(("http://", "https://")):  # absolute form: we are a proxy
            parts = urlsplit(self.path)
            host = (parts.hostname or "").lower()
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        else:
            host = (self.headers.get("Host") or "").lower()
            host = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
            path = self.path
        try:
            self.server.web._serve(self, host, path)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True  # the client gave up (timeout, size cap): fine

    # ---------------------------------------------------------------- helpers for MiniWeb
    def _send(self, status: int, body: bytes, ctype: str | None = "text/html; charset=utf-8",
              headers: list[tuple[str, str]] | None = None) -> None:
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for name, value in headers or []:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        # Head and body in one write, as servers send small responses: the client then often
        # reads the whole response at once, which is the case that matters for connection reuse.
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD":
            self._headers_buffer.append(body)
        self.flush_headers()

    def _redirect(self, status: int, location: str) -> None:
        self._send(status, f'<a href="{location}">moved</a>\n'.encode(),
                   headers=[("Location", location)])

    def _reset(self) -> None:
        """Close with SO_LINGER 0: the kernel sends RST instead of FIN, before any response."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self._was_reset = True
        self.connection.close()

    def finish(self) -> None:
        if not getattr(self, "_was_reset", False):  # nothing left to flush into a reset socket
            super().finish()

    def _send_chunked(self, ctype: str, total: int, chunk: bytes) -> None:
        """Stream `total` bytes with no Content-Length, so only a running byte count can stop
        the client (the size cap must work without a length announced up front)."""
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = 0
        while sent < total and not self.server.web._stopping.is_set():
            piece = chunk[: total - sent]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            sent += len(piece)
        self.wfile.write(b"0\r\n\r\n")


class MiniWeb:
    """The fixture world served over HTTP on 127.0.0.1 (start/stop, or use `with`)."""

    def __init__(self, world: World | None = None, *, seed: int = 0, slow_delay: float = 5.0,
                 flaky_failures: int = 2, bench_pages: int = 0, bench_page_bytes: int = 50_000,
                 port: int = 0, archive: Any = None):
        self.world = world if world is not None else World(seed)
        self.seed = self.world.seed
        self.slow_delay = slow_delay  # the slow fault answers after this many seconds
        self.flaky_failures = flaky_failures  # flaky_503 answers 503 this many times first
        self.bench_pages = bench_pages
        self.bench_page_bytes = bench_page_bytes
        self.archive = archive  # an archive.ArchiveService, or None
        self._port = port
        self._pages = {(p.host, p.path): p for p in self.world.pages}
        self._lock = threading.Lock()
        self._requests: list[tuple[str, str]] = []
        self._counts: Counter[str] = Counter()
        self._stopping = threading.Event()
        self._open = threading.Event()  # cleared by pause(): requests wait until resume()
        self._open.set()
        self._pause_after: int | None = None
        self._served = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> MiniWeb:
        server = _Server(("127.0.0.1", self._port), _Handler)
        server.web = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="miniweb", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._open.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> MiniWeb:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- what tests use
    @property
    def port(self) -> int:
        assert self._server is not None, "start() the server first"
        return self._server.server_address[1]

    @property
    def address(self) -> str:
        """`127.0.0.1:PORT`, the value of `crawl.loopback_proxy`."""
        return f"127.0.0.1:{self.port}"

    def hosts(self) -> list[str]:
        """Every host name the server answers for (the crawler's loopback host map)."""
        names = {p.host for p in self.world.pages} - {DEAD_SITE}  # a host that is gone
        if self.bench_pages:
            names.add(BENCH_HOST)
        if self.archive is not None:
            from webtext.world.archive import HOSTS

            names |= set(HOSTS)
        return sorted(names)

    def crawl_overrides(self) -> dict[str, Any]:
        """Crawl config values that route a crawl of this world to this server, and only here."""
        out = {
            "address_guard": "loopback",
            "loopback_proxy": self.address,
            "hosts": {name: "127.0.0.1" for name in self.hosts()},
        }
        if self.archive is not None:
            from webtext.world.archive import archive_overrides

            out |= archive_overrides()
        return out

    def bench_urls(self) -> list[str]:
        return [f"http://{BENCH_HOST}/page/{i}.html" for i in range(self.bench_pages)]

    def access_log(self) -> list[tuple[str, str]]:
        """Every request received so far, as (host, path), in arrival order."""
        with self._lock:
            return list(self._requests)

    def reset(self) -> None:
        """Forget the access log and the flaky counters (between crawls of one server)."""
        with self._lock:
            self._requests.clear()
            self._counts.clear()
            self._served = 0

    def pause(self, after: int = 0) -> None:
        """Hold every page request after `after` more pages are served, until `resume()`."""
        with self._lock:
            self._pause_after = self._served + after
            if after == 0:
                self._open.clear()

    def resume(self) -> None:
        with self._lock:
            self._pause_after = None
        self._open.set()

    # ---------------------------------------------------------------- serving
    def _record(self, host: str, path: str) -> None:
        with self._lock:
            self._requests.append((host, path))

    def _gate(self) -> None:
        with self._lock:
            self._served += 1
            if self._pause_after is not None and self._served > self._pause_after:
                self._open.clear()
        while not self._open.wait(0.1):
            if self._stopping.is_set():
                return

    def _serve(self, h: _Handler, host: str, path: str) -> None:
        self._record(host, path)
        if self.archive is not None and host in self._archive_hosts():
            self._gate()  # pause() holds archive requests too (resume tests)
            return self.archive.serve(h, host, path)
        if path == "/robots.txt":
            return self._robots(h, host)
        self._gate()
        if host in DIRECT_HOSTS:
            return h._send(200, b"<html><body><p>loopback page</p></body></html>\n")
        if host == BENCH_HOST and self.bench_pages:
            return self._bench(h, path)
        if host == FAULT_SITE and path.startswith("/fault/"):
            return self._fault(h, path)
        page = self._pages.get((host, path))
        if page is not None and page.kind == "rotted":
            return h._send(404, b"<html><body><h1>Not found</h1></body></html>\n")
        if page is not None:
            status, headers, body = page_response(page, self.seed)
            return h._send(status, body, ctype=None, headers=headers)
        if host not in {p.host for p in self.world.pages}:
            return h._send(502, b"unknown host\n", "text/plain")
        return h._send(404, b"<html><body><h1>Not found</h1></body></html>\n")

    def _archive_hosts(self) -> set[str]:
        from webtext.world.archive import HOSTS

        return set(HOSTS)

    def _robots(self, h: _Handler, host: str) -> None:
        if host == ROBOTS_SITE:
            body = b"User-agent: *\nDisallow: /private/\n"
        elif host in ARTICLE_SITES or host in (FAULT_SITE, BENCH_HOST):
            body = b"User-agent: *\nAllow: /\n"
        else:
            return h._send(404, b"not found\n", "text/plain")
        h._send(200, body, "text/plain")

    def _bench(self, h: _Handler, path: str) -> None:
        name = path.removeprefix("/page/").removesuffix(".html")
        if not name.isdigit() or int(name) >= self.bench_pages:
            return h._send(404, b"not found\n", "text/plain")
        templates = _bench_templates(self.bench_page_bytes)
        body = templates[int(name) % len(templates)].replace(b"@@ID@@", name.encode())
        h._send(200, body)

    def _article(self, h: _Handler, name: str) -> None:
        page: Page = self._pages[(FAULT_SITE, f"/fault/{name}")]
        status, headers, body = page_response(page, self.seed)
        h._send(status, body, ctype=None, headers=headers)

    def _fault(self, h: _Handler, path: str) -> None:
        path = path.split("?", 1)[0]  # a query string makes a distinct URL for the same fault
        for hop, status, target in REDIRECT_CHAIN:
            if path == hop:
                return h._redirect(status, target)
        if path == "/fault/redirect_chain/article":
            return self._article(h, "redirect_chain")
        if path == "/fault/redirect_loop/b":
            return h._redirect(302, "/fault/redirect_loop")
        name = path.removeprefix("/fault/")
        if name in ("http_404", "http_410", "http_500"):
            code = int(name[-3:])
            body = f"<html><body><h1>{code} {HTTPStatus(code).phrase}</h1></body></html>\n"
            return h._send(code, body.encode())
        if name == "flaky_503":
            with self._lock:
                self._counts[path] += 1
                failing = self._counts[path] <= self.flaky_failures
            if failing:
                return h._send(503, b"<html><body>try again</body></html>\n",
                               headers=[("Retry-After", "0")])
            return self._article(h, name)
        if name == "slow":
            self._stopping.wait(self.slow_delay)  # a thread per connection: others go on
            return h._send(200, b"<html><body><p>finally</p></body></html>\n")
        if name == "reset":
            return h._reset()
        if name == "redirect_loop":
            return h._redirect(302, "/fault/redirect_loop/b")
        if name == "oversize":
            chunk = (b"<p>" + b"all work and no play makes a big page " * 400 + b"</p>\n")
            return h._send_chunked("text/html; charset=utf-8", OVERSIZE_BYTES, chunk)
        if name == "gzip_bomb":
            return h._send(200, gzip_bomb(), "text/html; charset=utf-8",
                           headers=[("Content-Encoding", "gzip")])
        if name == "pdf":
            return h._send(200, PDF_BYTES, "application/pdf")
        if name == "image":
            return h._send(200, PNG_BYTES, "image/png")
        if name == "lying_type":
            return h._send(200, PNG_BYTES, "text/html")
        if name == "redirect_unknown_host":
            return h._redirect(302, f"http://{UNKNOWN_HOST}/gone.html")
        if name == "redirect_private":
            return h._redirect(302, PRIVATE_TARGET)
        return h._send(404, b"<html><body><h1>Not found</h1></body></html>\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the fixture world on 127.0.0.1.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--port", type=int, default=0, help="0 = a free port")
    parser.add_argument("--bench-pages", type=int, default=0)
    parser.add_argument("--config-out", help="write a TOML file whose [crawl] table routes "
                        "`webtext crawl --config FILE` to this server")
    args = parser.parse_args(argv)
    with MiniWeb(seed=args.seed, port=args.port, bench_pages=args.bench_pages) as web:
        print(f"mini-web on http://{web.address}/ ({len(web.world.pages)} pages); as a proxy:")
        print(f"  curl -x {web.address} {web.world.pages[0].url}")
        if args.config_out:
            import tomli_w

            with open(args.config_out, "wb") as f:
                tomli_w.dump({"crawl": web.crawl_overrides()}, f)
            print(f"crawl config for this server: {args.config_out}")
        print("Ctrl-C stops the server.", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
