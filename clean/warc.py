"""Read response records out of the crawl's WARC files by byte offset.

In:  a WARC file (one gzip member per record, as warcio writes it) and the offsets that
     fetch.parquet gives for each fetched page.
Out: `Response` (Content-Type and body, with transfer and content encodings undone), or
     `WarcRecordError` when the record is missing or unreadable. warcio is imported here only
     (within clean/).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from warcio.archiveiterator import ArchiveIterator


class WarcRecordError(Exception):
    """No readable response record at the given offset."""


@dataclass(frozen=True, slots=True)
class Response:
    content_type: str | None
    body: bytes
    truncated: bool  # the body was longer than the cap it was read with


class WarcReader:
    """Random access to the response records of one WARC file."""

    def __init__(self, path: Path | None):
        self.path = Path(path) if path is not None else None
        self._file: BinaryIO | None = None

    def __enter__(self) -> WarcReader:
        if self.path is not None:
            try:
                self._file = open(self.path, "rb")  # noqa: SIM115 (closed in __exit__)
            except OSError:
                self._file = None  # every read then reports the missing file, page by page
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()

    def response_at(self, offset: int, max_bytes: int, target_uri: str | None = None
                    ) -> Response:
        """The response record at `offset`; reads at most max_bytes + 1 bytes of its body.

        The record must be a whole response for `target_uri` (when given): warcio parses the
        bytes at a wrong offset now and then as a "response" with no Target-URI and no HTTP
        headers, which would pass for an empty page; such a read is an error instead.
        """
        if self._file is None:
            raise WarcRecordError(f"cannot open {self.path}")
        try:
            self._file.seek(offset)
            record = next(iter(ArchiveIterator(self._file)), None)
            if record is None:
                raise WarcRecordError(f"no record at offset {offset}")
            if record.rec_type != "response":
                raise WarcRecordError(f"{record.rec_type} record at offset {offset}")
            uri = (record.rec_headers.get_header("WARC-Target-URI") or "").strip("<> ")
            if not uri or record.http_headers is None:
                raise WarcRecordError(f"no WARC response record at offset {offset} (no "
                                      "Target-URI or no HTTP response in it)")
            if target_uri is not None and uri != target_uri:
                raise WarcRecordError(f"the record at offset {offset} is for {uri}, not "
                                      f"{target_uri}")
            headers = record.http_headers
            content_type = headers.get_header("Content-Type") if headers else None
            # Read through content_stream (chunked and gzip/br undone); the cap stops a
            # compression bomb at max_bytes.
            body = record.content_stream().read(max_bytes + 1)
        except WarcRecordError:
            raise
        except Exception as e:  # warcio raises many types on corrupt input
            raise WarcRecordError(f"{type(e).__name__}: {e}") from e
        return Response(content_type, body[: max_bytes + 1], len(body) > max_bytes)


def write_responses(path: Path, responses: list[tuple[str, int, list[tuple[str, str]], bytes]],
                    ) -> list[int]:
    """Write (url, status, headers, body) as WARC response records; returns their offsets.

    Used by the fixture builds of tests and benchmarks; the crawl stage has its own writer.
    """
    from io import BytesIO

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    offsets = []
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        for url, status, headers, body in responses:
            offsets.append(f.tell())
            http_headers = StatusAndHeaders(f"{status} OK", headers, protocol="HTTP/1.1")
            record = writer.create_warc_record(url, "response", payload=BytesIO(body),
                                               http_headers=http_headers)
            writer.write_record(record)
    return offsets
