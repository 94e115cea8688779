"""Web-archive lookups as data: CDX answers in, ranked captures and verified records out.

In:  the bodies of Common Crawl's `collinfo.json` and CDX answers (pywb's CDX Server API with
     output=json: one JSON object per line, fields urlkey, timestamp, url, mime,
     mime-detected, status, digest, length, offset, filename), the Wayback Machine's CDX
     answers (output=json: one JSON array whose first row names the fields, `original`,
     `timestamp`, `mimetype`, `statuscode`, `digest`, `length`), and the bytes of one archived
     capture: a Common Crawl WARC record fetched by HTTP Range (one gzip member), or a Wayback
     raw capture (the `id_` form, original headers as `X-Archive-Orig-*`).
Out: `Index` and `Capture` records, captures ranked for a URL's reference time (closest to the
     first Reddit submission, preferring captures after it), and an `ArchivedResponse`, or a
     `RecordError` that says why a record was refused: a truncated or extra-long gzip member,
     a WARC-Target-URI or Content-Length that does not match, a payload digest that does not
     match the CDX row or the record's own WARC-Payload-Digest.

Plain Python, no I/O: crawl/recover.py drives the lookups and fetcher.py sends the requests.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote, urljoin

from webtext.crawl.outcome import media_type
from webtext.crawl.warcfile import parse_response_record

ARCHIVE_NAMES = {"cc": "Common Crawl", "ia": "Wayback Machine"}


class RecordError(Exception):
    """An archived record that cannot be trusted or used (the message says why)."""


# ---------------------------------------------------------------------- time
def parse_timestamp(ts: str) -> datetime:
    """A CDX timestamp (14 digits, or a prefix of them) as an aware UTC datetime."""
    digits = (ts + "00000101000000"[len(ts):])[:14] if len(ts) < 14 else ts[:14]
    return datetime.strptime(digits, "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def timestamp(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def iso(ts: str) -> str:
    return parse_timestamp(ts).strftime("%Y-%m-%dT%H:%M:%SZ")


def rank_time(t: datetime, ref: datetime) -> tuple[int, float]:
    """Sort key: captures at or after `ref` first, nearest first; then those before it."""
    delta = (t - ref).total_seconds()
    return (0, delta) if delta >= 0 else (1, -delta)


@dataclass(frozen=True, slots=True)
class Window:
    """The captures acceptable for one URL: from `ref - before` to `ref + after`."""

    ref: datetime
    before: timedelta
    after: timedelta

    @property
    def start(self) -> datetime:
        return self.ref - self.before

    @property
    def end(self) -> datetime:
        return self.ref + self.after

    def contains(self, t: datetime) -> bool:
        return self.start <= t <= self.end


# ---------------------------------------------------------------------- Common Crawl indexes
@dataclass(frozen=True, slots=True)
class Index:
    """One Common Crawl crawl and its CDX endpoint."""

    id: str
    cdx_api: str
    start: datetime
    end: datetime

    def rank(self, ref: datetime) -> tuple[int, float]:
        """The best `rank_time` any capture of this crawl can have for `ref`."""
        return rank_time(min(max(ref, self.start), self.end), ref)


def _iso_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=UTC)


def _week_range(index_id: str) -> tuple[datetime, datetime] | None:
    """CC-MAIN-YYYY-WW: the crawl ran in (about) ISO week WW of YYYY and the next one."""
    parts = index_id.split("-")
    if len(parts) != 4 or not (parts[2].isdigit() and parts[3].isdigit()):
        return None
    year, week = int(parts[2]), int(parts[3])
    if not 1 <= week <= 53:
        return None
    start = datetime.fromisocalendar(year, week, 1).replace(tzinfo=UTC)
    return start, start + timedelta(days=14)


def parse_collinfo(body: bytes) -> list[Index]:
    """The crawls of collinfo.json with their time range (`from`/`to`, or the id's week)."""
    try:
        entries = json.loads(body)
    except ValueError as e:
        raise RecordError(f"collinfo.json is not JSON: {e}") from None
    if not isinstance(entries, list):
        raise RecordError("collinfo.json is not a list of indexes")
    out = []
    for entry in entries:
        if not isinstance(entry, dict) or "id" not in entry or "cdx-api" not in entry:
            continue
        try:
            span = (_iso_time(entry["from"]), _iso_time(entry["to"]))
        except (KeyError, TypeError, ValueError):
            span = _week_range(str(entry["id"]))
        if span is not None:
            out.append(Index(str(entry["id"]), str(entry["cdx-api"]), *span))
    return out


def choose_indexes(indexes: list[Index], window: Window, n: int) -> list[Index]:
    """At most `n` crawls overlapping the window, the one nearest its reference time first."""
    inside = [i for i in indexes if i.start <= window.end and i.end >= window.start]
    return sorted(inside, key=lambda index: index.rank(window.ref))[:n]


# ---------------------------------------------------------------------- captures
@dataclass(frozen=True, slots=True)
class Capture:
    """One CDX row: a capture of `url` at `timestamp` in one archive."""

    archive: str  # "cc" or "ia"
    url: str  # the URL as captured (Common Crawl `url`, Wayback `original`)
    timestamp: str  # 14 digits, UTC
    status: int | None  # None for revisits and rows without a status
    mime: str
    digest: str | None = None
    length: int | None = None
    offset: int | None = None  # Common Crawl only: where the record starts in `filename`
    filename: str | None = None

    @property
    def time(self) -> datetime:
        return parse_timestamp(self.timestamp)

    def kind(self, allowed_types: list[str]) -> str | None:
        """"page" (status 200, an allowed media type), "redirect" (3xx), or None."""
        if self.status == 200 and self.mime in allowed_types:
            return "page"
        if self.status is not None and 300 <= self.status < 400:
            return "redirect"
        return None


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def parse_cc_cdx(body: bytes) -> list[Capture]:
    """Common Crawl's CDX answer (JSON lines). The detected media type wins over the declared
    one: Common Crawl sniffs the payload, a server's Content-Type can be wrong."""
    out = []
    for line in body.splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as e:
            raise RecordError(f"CDX line is not JSON: {e}") from None
        if not isinstance(row, dict) or "url" not in row or "timestamp" not in row:
            continue
        out.append(Capture(
            archive="cc", url=row["url"], timestamp=str(row["timestamp"]),
            status=_int(row.get("status")),
            mime=media_type(row.get("mime-detected") or row.get("mime")),
            digest=row.get("digest"), length=_int(row.get("length")),
            offset=_int(row.get("offset")), filename=row.get("filename")))
    return out


def parse_ia_cdx(body: bytes) -> list[Capture]:
    """The Wayback CDX answer: a JSON array, its first row the field names (empty: [])."""
    try:
        rows = json.loads(body) if body.strip() else []
    except ValueError as e:
        raise RecordError(f"Wayback CDX answer is not JSON: {e}") from None
    if not isinstance(rows, list) or not rows:
        return []
    header = rows[0]
    out = []
    for values in rows[1:]:
        row = dict(zip(header, values, strict=False))
        if "original" not in row or "timestamp" not in row:
            continue
        out.append(Capture(
            archive="ia", url=row["original"], timestamp=str(row["timestamp"]),
            status=_int(row.get("statuscode")), mime=media_type(row.get("mimetype")),
            digest=row.get("digest"), length=_int(row.get("length"))))
    return out


def candidates(captures: list[Capture], window: Window,
               allowed_types: list[str]) -> list[Capture]:
    """Usable captures (pages and redirects) inside the window, best first."""
    seen = set()
    out = []
    for c in captures:
        key = (c.archive, c.timestamp, c.url)
        if key in seen or c.kind(allowed_types) is None or not window.contains(c.time):
            continue
        seen.add(key)
        out.append(c)
    return sorted(out, key=lambda c: rank_time(c.time, window.ref))


def describe_misses(captures: list[Capture], window: Window, allowed_types: list[str]) -> str:
    """Why no capture was usable, in words (for the `error` column)."""
    if not captures:
        return "no capture"
    inside = [c for c in captures if window.contains(c.time)]
    if not inside:
        return f"{len(captures)} capture(s), none between {window.start:%Y-%m-%d} and " \
               f"{window.end:%Y-%m-%d}"
    kinds = sorted({f"{c.status} {c.mime or '?'}" for c in inside})
    return f"no 200 HTML capture in the window ({', '.join(kinds)})"


# ---------------------------------------------------------------------- records
@dataclass(slots=True)
class ArchivedResponse:
    """One archived HTTP response, as the original server sent it (body decoded)."""

    archive: str
    url: str  # the capture's original URL (WARC-Target-URI)
    status: int
    headers: list[tuple[str, str]]  # the original response headers
    body: bytes
    capture_time: str  # ISO 8601, UTC
    record_id: str  # Common Crawl: WARC-Record-ID; Wayback: the id_ capture URL
    source: str  # where it was read: the data URL and byte range, or the id_ URL

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)


def _sha1_b32(data: bytes) -> str:
    digest = hashlib.sha1(data).digest()  # noqa: S324 - the CDX/WARC digest, not security
    return base64.b32encode(digest).decode("ascii")


def verify_cc_record(data: bytes, capture: Capture, max_body: int,
                     source: str) -> ArchivedResponse:
    """Check one Common Crawl record fetched by Range and return its response.

    A record is refused unless the bytes are exactly one complete gzip member of the length
    the CDX row gives, holding one WARC response record for the captured URL whose block is
    as long as its Content-Length says, and whose payload matches the digests given.
    """
    if capture.length is not None and len(data) != capture.length:
        raise RecordError(f"got {len(data)} bytes, the CDX row says {capture.length}")
    inflate = zlib.decompressobj(wbits=31)
    # The record holds headers and the body: allow the body cap plus room for the headers.
    limit = max_body + 256 * 1024
    try:
        raw = inflate.decompress(data, limit)
    except zlib.error as e:
        raise RecordError(f"not a gzip member: {e}") from None
    if inflate.unconsumed_tail:
        raise RecordError(f"record over the size cap ({max_body} bytes of body)")
    if not inflate.eof:
        raise RecordError("truncated gzip member (the record is incomplete)")
    if inflate.unused_data:
        raise RecordError("bytes after the record's gzip member")
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        raise RecordError("no WARC header block")
    head = raw[:end].decode("utf-8", "replace").split("\r\n")
    if not head[0].startswith("WARC/"):
        raise RecordError(f"not a WARC record: {head[0][:40]!r}")
    fields = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    if fields.get("warc-type") != "response":
        raise RecordError(f"a {fields.get('warc-type')!r} record, not a response")
    target = fields.get("warc-target-uri", "").strip("<>")
    if target != capture.url:
        raise RecordError(f"WARC-Target-URI {target!r} is not the captured {capture.url!r}")
    length = _int(fields.get("content-length"))
    block = raw[end + 4:]
    if length is None or len(block) != length + 4 or not block.endswith(b"\r\n\r\n"):
        raise RecordError(f"block of {len(block) - 4} bytes, Content-Length says {length}")
    block = block[:length]
    split = block.find(b"\r\n\r\n")
    payload = block[split + 4:] if split >= 0 else b""
    for name, digest in (("WARC-Payload-Digest", fields.get("warc-payload-digest")),
                         ("CDX digest", capture.digest)):
        if not digest:
            continue
        algorithm, _, value = digest.rpartition(":")  # "sha1:BASE32" or a bare BASE32
        if algorithm and algorithm.lower() != "sha1":
            continue  # another algorithm: not checked here
        if _sha1_b32(payload) != value.strip().upper():
            raise RecordError(f"payload does not match its {name}")
    rec = parse_response_record(raw, max_body=max_body)
    if rec.body is not None and len(rec.body) > max_body:
        raise RecordError(f"body over the size cap ({max_body} bytes)")
    return ArchivedResponse(
        archive="cc", url=target, status=rec.status, headers=rec.headers, body=rec.body or b"",
        capture_time=iso(capture.timestamp), record_id=fields.get("warc-record-id", ""),
        source=source)


ORIG_PREFIX = "x-archive-orig-"
# Headers of the Wayback reply itself that describe the original response too.
_KEPT = ("content-type",)


def wayback_original(location: str, wayback_url: str) -> str:
    """The original URL of a Wayback capture URL (…/web/<timestamp>[id_]/<original>)."""
    base = wayback_url.rstrip("/") + "/web/"
    if not location.startswith(base):
        return location
    rest = location[len(base):]
    _, _, original = rest.partition("/")
    return unquote(original) if original else location


def ia_response(capture: Capture, status: int, headers: list[tuple[str, str]], body: bytes,
                source: str, wayback_url: str) -> ArchivedResponse:
    """A Wayback `id_` reply as the original response: X-Archive-Orig-* headers unprefixed,
    Content-Type kept, and a replayed redirect's Location pointed back at the original site.

    Its digest is not checked: the Wayback CDX `digest` (and `length`) describe the bytes
    stored in the Wayback Machine's own WARC files, not what its replay API sends, so they
    cannot serve as a fixity check of an `id_` reply (as the maintainers of the `wayback`
    client library document it). What is checked is that the reply is whole: a reply that
    ends before its Content-Length fails as a request (Scrapy's data-loss check), so a cut-off
    capture is never taken for a page.
    """
    original: list[tuple[str, str]] = []
    for name, value in headers:
        low = name.lower()
        if low.startswith(ORIG_PREFIX):
            original.append((name[len(ORIG_PREFIX):], value))
        elif low in _KEPT:
            original.append((name, value))
    names = {k.lower() for k, _ in original}
    if 300 <= status < 400 and "location" not in names:
        loc = next((v for k, v in headers if k.lower() == "location"), None)
        if loc:
            original.append(("Location", wayback_original(urljoin(source, loc), wayback_url)))
    return ArchivedResponse(
        archive="ia", url=capture.url, status=status, headers=original, body=body,
        capture_time=iso(capture.timestamp), record_id=source, source=source)
