"""WARC files: write one HTTP capture as request + response records, read responses back.

In:  `HttpCapture` records (what the fetcher or the archive mode got for one URL).
Out: WARC/1.0 files (ISO 28500) in which every record is its own gzip member, so any WARC tool
     can read them and a reader can seek straight to a record's offset (`warc_offset` in
     fetch.parquet points at the response record). The only module of webtext.crawl that
     imports warcio.

Payload convention (Common Crawl's, since 2018): the body is stored decoded (no
Content-Encoding, no chunking), and the HTTP headers that would then be false are renamed with
an `X-Crawler-` prefix (X-Crawler-Content-Encoding, X-Crawler-Content-Length) and a true
Content-Length is set, so every reader gets the same bytes without re-implementing HTTP
decoding. Each record carries `WARC-Webtext-URL`: the URL of urls.parquet it was fetched for,
which differs from WARC-Target-URI after a redirect; the archive mode looks it up first.
"""

from __future__ import annotations

import base64
import hashlib
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from io import BytesIO
from pathlib import Path
from typing import BinaryIO

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders, StatusAndHeadersParser
from warcio.warcwriter import WARCWriter

SOURCE_URL_HEADER = "WARC-Webtext-URL"
# Hop-by-hop and length headers that no longer describe the stored (decoded) payload.
_REWRITTEN = ("content-encoding", "content-length", "transfer-encoding")


@dataclass(slots=True)
class HttpCapture:
    """One final HTTP exchange, ready to be written as WARC records."""

    url: str  # the final URL (after redirects): WARC-Target-URI
    source_url: str  # the URL of urls.parquet it was fetched for
    status: int
    response_headers: list[tuple[str, str]]  # as received, in order
    body: bytes  # decoded payload
    fetched_at: str  # ISO 8601 UTC, the WARC-Date
    protocol: str = "HTTP/1.1"
    request_headers: list[tuple[str, str]] | None = None  # None: no request record
    method: str = "GET"
    ip_address: str | None = None
    extra_warc_headers: dict[str, str] = field(default_factory=dict)


def _gzip_member(data: bytes, level: int) -> bytes:
    comp = zlib.compressobj(level, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    return comp.compress(data) + comp.flush()


def stored_headers(headers: list[tuple[str, str]], n_bytes: int) -> list[tuple[str, str]]:
    """Response headers for the decoded payload (the Common Crawl convention above)."""
    out = []
    for name, value in headers:
        if name.lower() in _REWRITTEN:
            out.append((f"X-Crawler-{name}", value))
        else:
            out.append((name, value))
    out.append(("Content-Length", str(n_bytes)))
    return out


def _request_target(url: str) -> tuple[str, str]:
    """(Host header, origin-form request target) of an absolute URL."""
    rest = url.split("://", 1)[1]
    host, slash, path = rest.partition("/")
    return host, "/" + path.split("#", 1)[0] if slash else "/"


def _raw(builder: WARCWriter, record: object) -> bytes:
    builder.out = buf = BytesIO()
    builder.write_record(record)
    return buf.getvalue()


def _sha1(*parts: bytes) -> str:
    digest = hashlib.sha1()  # noqa: S324 - WARC's customary digest, not a security measure
    for part in parts:
        digest.update(part)
    return "sha1:" + base64.b32encode(digest.digest()).decode("ascii")


def _record(warc_headers: list[tuple[str, str]], content_type: str, http: StatusAndHeaders,
            payload: bytes) -> bytes:
    """One uncompressed WARC record, byte for byte as warcio's WARCWriter writes it.

    warcio would get there by streaming the payload through its digesters in chunks and
    copying it out again: the crawler's largest Python cost per page. Here the digests are
    two hashlib calls and the record one join. The header block keeps warcio's own encoding
    (StatusAndHeaders: HTTP headers as ASCII, non-ASCII values percent-encoded; WARC headers
    as UTF-8) and warcio's field order: the given fields, then the payload digest, the block
    digest, Content-Type and Content-Length. tests/test_crawl_warc.py compares the bytes with
    warcio's writer.
    """
    head = http.to_ascii_bytes()
    fields = [*warc_headers,
              ("WARC-Payload-Digest", _sha1(payload)),
              ("WARC-Block-Digest", _sha1(head, payload)),
              ("Content-Type", content_type),
              ("Content-Length", str(len(head) + len(payload)))]
    rec = StatusAndHeaders("", fields, protocol="WARC/1.0").to_bytes(encoding="utf-8")
    return b"".join((rec, head, payload, b"\r\n\r\n"))


def build_records(capture: HttpCapture) -> list[bytes]:
    """The response record, then its request record, uncompressed."""
    reason = _reason(capture.status)
    headers = stored_headers(capture.response_headers, len(capture.body))
    http = StatusAndHeaders(f"{capture.status} {reason}", headers, protocol=capture.protocol)
    # Standard fields first, in the order of the WARC examples; webtext's own fields last.
    response_id = StatusAndHeadersParser.make_warc_id()
    warc_headers = {"WARC-Type": "response", "WARC-Record-ID": response_id,
                    "WARC-Date": capture.fetched_at, "WARC-Target-URI": capture.url}
    if capture.ip_address:
        warc_headers["WARC-IP-Address"] = capture.ip_address
    warc_headers[SOURCE_URL_HEADER] = capture.source_url
    warc_headers.update(capture.extra_warc_headers)
    records = [_record(list(warc_headers.items()), "application/http; msgtype=response", http,
                       capture.body)]
    if capture.request_headers is not None:
        host, target = _request_target(capture.url)
        req_http = StatusAndHeaders(f"{capture.method} {target} {capture.protocol}",
                                    [("Host", host), *capture.request_headers],
                                    protocol="", is_http_request=True)
        records.append(_record(
            [("WARC-Type", "request"), ("WARC-Record-ID", StatusAndHeadersParser.make_warc_id()),
             ("WARC-Date", capture.fetched_at), ("WARC-Target-URI", capture.url),
             ("WARC-Concurrent-To", response_id), (SOURCE_URL_HEADER, capture.source_url)],
            "application/http; msgtype=request", req_http, b""))
    return records


def compress_records(records: list[bytes], gzip_level: int = 6) -> bytes:
    """One gzip member per record. C code only (zlib releases the GIL): a helper thread can
    run it while the fetcher's reactor goes on."""
    return b"".join(_gzip_member(r, gzip_level) for r in records)


def encode_capture(capture: HttpCapture, gzip_level: int = 6) -> bytes:
    """A capture as WARC bytes: response then request record, each one gzip member."""
    return compress_records(build_records(capture), gzip_level)


class WarcAppender:
    """Appends captures to one WARC file; each record is one gzip member."""

    def __init__(self, path: Path, *, gzip_level: int = 6,
                 warcinfo: dict[str, str] | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.gzip_level = gzip_level
        self._file: BinaryIO = open(self.path, "ab")  # noqa: SIM115 - closed in close()
        self._offset = self._file.tell()  # tracked from here on: no lseek per record
        if self._offset == 0 and warcinfo is not None:
            builder = WARCWriter(BytesIO(), gzip=False)
            record = builder.create_warcinfo_record(self.path.name, warcinfo)
            self.write(_gzip_member(_raw(builder, record), gzip_level))

    @property
    def size(self) -> int:
        return self._offset

    def append(self, capture: HttpCapture) -> tuple[int, int]:
        """Encode and write one capture; return (offset, end) of its record pair."""
        return self.write(encode_capture(capture, self.gzip_level))

    def write(self, data: bytes) -> tuple[int, int]:
        """Write an encoded record pair (see `encode_capture`); return its (offset, end).

        The bytes reach the OS before this returns (one write per record pair), so a killed
        process leaves at most one torn pair at the end of the file, which recovery cuts off.
        """
        offset = self._offset
        self._file.write(data)
        self._file.flush()
        self._offset += len(data)
        return offset, self._offset

    def fsync(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if not self._file.closed:
            self.fsync()
            self._file.close()


def _reason(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Unknown"


@dataclass(slots=True)
class StoredResponse:
    """A response record read back from a WARC file."""

    path: Path
    offset: int
    target_uri: str
    source_url: str | None
    date: str | None
    status: int
    headers: list[tuple[str, str]]
    body: bytes | None  # None when only the index was read
    record_id: str | None = None  # WARC-Record-ID


def iter_responses(path: Path, *, with_body: bool = False,
                   max_body: int | None = None) -> Iterator[StoredResponse]:
    """Every response record of a WARC file, with its offset (body decoded if asked).

    With `max_body`, at most max_body + 1 bytes of each body are read, so a caller can tell
    "over the cap" without holding a huge payload.
    """
    with open(path, "rb") as f:
        it = ArchiveIterator(f)
        for record in it:
            if record.rec_type != "response" or record.http_headers is None:
                continue
            body = None
            if with_body:
                stream = record.content_stream()
                body = stream.read() if max_body is None else stream.read(max_body + 1)
            h = record.rec_headers
            yield StoredResponse(
                path=Path(path), offset=it.get_record_offset(),
                target_uri=h.get_header("WARC-Target-URI") or "",
                source_url=h.get_header(SOURCE_URL_HEADER), date=h.get_header("WARC-Date"),
                status=int(record.http_headers.get_statuscode() or 0),
                headers=list(record.http_headers.headers), body=body)


def read_response(path: Path, offset: int, *, max_body: int | None = None) -> StoredResponse:
    """The response record that starts at `offset` (seek, then read one gzip member)."""
    with open(path, "rb") as f:
        f.seek(offset)
        for record in ArchiveIterator(f):
            if record.rec_type != "response":
                break
            stream = record.content_stream()
            body = stream.read() if max_body is None else stream.read(max_body + 1)
            h = record.rec_headers
            return StoredResponse(
                path=Path(path), offset=offset,
                target_uri=h.get_header("WARC-Target-URI") or "",
                source_url=h.get_header(SOURCE_URL_HEADER), date=h.get_header("WARC-Date"),
                status=int(record.http_headers.get_statuscode() or 0),
                headers=list(record.http_headers.headers), body=body,
                record_id=h.get_header("WARC-Record-ID"))
    raise ValueError(f"{path}: no response record at offset {offset}")


def parse_response_record(raw: bytes, *, max_body: int | None = None) -> StoredResponse:
    """One uncompressed WARC response record held in memory (an archive's record, already
    checked by crawl/cdx.py): its HTTP status, headers and decoded body (chunking and
    Content-Encoding undone, at most max_body + 1 bytes)."""
    for record in ArchiveIterator(BytesIO(raw)):
        if record.rec_type != "response" or record.http_headers is None:
            break
        stream = record.content_stream()
        body = stream.read() if max_body is None else stream.read(max_body + 1)
        h = record.rec_headers
        return StoredResponse(
            path=Path(""), offset=0, target_uri=h.get_header("WARC-Target-URI") or "",
            source_url=h.get_header(SOURCE_URL_HEADER), date=h.get_header("WARC-Date"),
            status=int(record.http_headers.get_statuscode() or 0),
            headers=list(record.http_headers.headers), body=body,
            record_id=h.get_header("WARC-Record-ID"))
    raise ValueError("no HTTP response record in the given bytes")


def count_records(path: Path) -> dict[str, int]:
    """Records per WARC-Type, reading the whole file (raises if any record is damaged)."""
    counts: dict[str, int] = {}
    with open(path, "rb") as f:
        for record in ArchiveIterator(f):
            counts[record.rec_type] = counts.get(record.rec_type, 0) + 1
            record.content_stream().read()
    return counts
