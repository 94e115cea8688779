"""WARC records: webtext writes them without warcio's streaming writer, so the bytes are
compared with what warcio's WARCWriter writes for the same capture (record IDs fixed), and
read back with digest checking on."""

from __future__ import annotations

import itertools
from io import BytesIO

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders, StatusAndHeadersParser
from warcio.warcwriter import WARCWriter

from webtext.crawl import warcfile
from webtext.crawl.warcfile import HttpCapture, build_records, compress_records, stored_headers


def warcio_records(capture: HttpCapture) -> list[bytes]:
    """The reference: the same records through warcio's own WARCWriter."""
    def raw(record) -> bytes:
        writer.out = buf = BytesIO()
        writer.write_record(record)
        return buf.getvalue()

    writer = WARCWriter(BytesIO(), gzip=False)
    http = StatusAndHeaders(f"{capture.status} {warcfile._reason(capture.status)}",
                            stored_headers(capture.response_headers, len(capture.body)),
                            protocol=capture.protocol)
    headers = {"WARC-Type": "response", "WARC-Record-ID": writer._make_warc_id(),
               "WARC-Date": capture.fetched_at, "WARC-Target-URI": capture.url}
    if capture.ip_address:
        headers["WARC-IP-Address"] = capture.ip_address
    headers[warcfile.SOURCE_URL_HEADER] = capture.source_url
    headers.update(capture.extra_warc_headers)
    response = writer.create_warc_record(capture.url, "response", payload=BytesIO(capture.body),
                                         length=len(capture.body), http_headers=http,
                                         warc_headers_dict=headers)
    out = [raw(response)]
    if capture.request_headers is not None:
        host, target = warcfile._request_target(capture.url)
        req_http = StatusAndHeaders(f"{capture.method} {target} {capture.protocol}",
                                    [("Host", host), *capture.request_headers],
                                    protocol="", is_http_request=True)
        request = writer.create_warc_record(
            capture.url, "request", payload=BytesIO(b""), length=0, http_headers=req_http,
            warc_headers_dict={
                "WARC-Type": "request", "WARC-Record-ID": writer._make_warc_id(),
                "WARC-Date": capture.fetched_at, "WARC-Target-URI": capture.url,
                "WARC-Concurrent-To": response.rec_headers.get_header("WARC-Record-ID"),
                warcfile.SOURCE_URL_HEADER: capture.source_url})
        out.append(raw(request))
    return out


CAPTURES = [
    HttpCapture(url="http://a.test/x?q=1", source_url="http://a.test/x?q=1", status=200,
                response_headers=[("Content-Type", "text/html; charset=utf-8"),
                                  ("Content-Encoding", "gzip"), ("Content-Length", "12")],
                body=b"<html><p>hello</p></html>" * 200, fetched_at="2024-05-01T12:00:00Z",
                request_headers=[("User-Agent", "webtext"), ("Accept", "*/*")],
                ip_address="127.0.0.1"),
    HttpCapture(url="http://b.test/caf\u00e9", source_url="http://b.test/old", status=299,
                response_headers=[("Content-Disposition", 'inline; filename="r\u00e9sum\u00e9"'),
                                  ("X-Note", "na\u00efve \u2603")],
                body=b"", fetched_at="2024-05-01T12:00:01Z", protocol="HTTP/1.0",
                request_headers=None,
                extra_warc_headers={"WARC-Webtext-Archive": "old.warc.gz#123"}),
    HttpCapture(url="https://c.test/", source_url="https://c.test/", status=404,
                response_headers=[], body=bytes(range(256)) * 40,
                fetched_at="2024-05-01T12:00:02Z", request_headers=[]),
]


def _fix_ids(monkeypatch) -> None:
    """Record IDs numbered from 0, so that two writers of the same capture can be compared."""
    counter = itertools.count()
    monkeypatch.setattr(StatusAndHeadersParser, "make_warc_id", staticmethod(
        lambda: f"<urn:uuid:00000000-0000-0000-0000-{next(counter):012d}>"))


@pytest.mark.parametrize("index", range(len(CAPTURES)))
def test_records_are_byte_identical_to_warcio(index, monkeypatch):
    _fix_ids(monkeypatch)
    ours = build_records(CAPTURES[index])
    _fix_ids(monkeypatch)
    assert ours == warcio_records(CAPTURES[index])


def test_digests_verify_when_read_back():
    data = b"".join(compress_records(build_records(c)) for c in CAPTURES)
    types, bodies = [], []
    for record in ArchiveIterator(BytesIO(data), check_digests="raise"):
        types.append(record.rec_type)
        body = record.content_stream().read()  # reading to the end checks the digests
        if record.rec_type == "response":
            bodies.append(body)
    assert types == ["response", "request", "response", "response", "request"]
    assert bodies == [c.body for c in CAPTURES]
