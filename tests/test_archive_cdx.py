"""The web-archive formats and rules on small inline inputs: CDX answers, capture ranking,
Common Crawl record verification, Wayback replies, dead/parked rules, the recovery report."""

from __future__ import annotations

import json
import re
import zlib
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from webtext.crawl.cdx import (
    Capture,
    RecordError,
    Window,
    candidates,
    choose_indexes,
    ia_response,
    parse_cc_cdx,
    parse_collinfo,
    parse_ia_cdx,
    verify_cc_record,
)
from webtext.crawl.config import CrawlConfig
from webtext.crawl.linkrot import linkrot_report
from webtext.crawl.recover import is_dead, looks_parked
from webtext.records import FetchStatus
from webtext.world.archive import ArchiveCapture, _sha1_b32, _warc_record

HTML = ["text/html", "application/xhtml+xml"]
REF = datetime(2017, 6, 1, tzinfo=UTC)
WINDOW = Window(REF, timedelta(days=30), timedelta(days=365))


def cap(ts: str, status: int = 200, mime: str = "text/html", archive: str = "ia") -> Capture:
    return Capture(archive=archive, url="http://a.test/x", timestamp=ts, status=status, mime=mime)


def test_collinfo_ranges_from_fields_or_the_crawl_week():
    body = json.dumps([
        {"id": "CC-MAIN-2017-26", "cdx-api": "http://i/CC-MAIN-2017-26-index",
         "from": "2017-06-22T00:00:00", "to": "2017-06-30T00:00:00"},
        {"id": "CC-MAIN-2017-13", "cdx-api": "http://i/CC-MAIN-2017-13-index"},
        {"id": "not-a-crawl", "cdx-api": "http://i/x"},
    ]).encode()
    indexes = parse_collinfo(body)
    assert [i.id for i in indexes] == ["CC-MAIN-2017-26", "CC-MAIN-2017-13"]
    assert indexes[1].start == datetime(2017, 3, 27, tzinfo=UTC)  # ISO week 13 of 2017
    # The crawl after the reference time first, then the one before it; a crawl that ended
    # before the window opened is not asked.
    wide = Window(REF, timedelta(days=90), timedelta(days=365))
    assert [i.id for i in choose_indexes(indexes, wide, 2)] == ["CC-MAIN-2017-26",
                                                                "CC-MAIN-2017-13"]
    assert [i.id for i in choose_indexes(indexes, WINDOW, 2)] == ["CC-MAIN-2017-26"]
    with pytest.raises(RecordError):
        parse_collinfo(b"<html>")


def test_cdx_answers_of_both_apis():
    cc = parse_cc_cdx(b'{"urlkey": "test,a)/x", "timestamp": "20170602000000", '
                      b'"url": "http://a.test/x", "mime": "text/html", "mime-detected": '
                      b'"application/pdf", "status": "200", "digest": "D", "length": "10", '
                      b'"offset": "5", "filename": "f.warc.gz"}\n\n')
    assert cc[0].mime == "application/pdf"  # the detected type wins
    assert (cc[0].offset, cc[0].length, cc[0].filename) == (5, 10, "f.warc.gz")
    ia = parse_ia_cdx(b'[["urlkey","timestamp","original","mimetype","statuscode","digest",'
                      b'"length"],["k","20170601","http://a.test/x","text/html","301","D","9"],'
                      b'["k","20170603","http://a.test/x","warc/revisit","-","D","9"]]')
    assert [(c.status, c.mime) for c in ia] == [(301, "text/html"), (None, "warc/revisit")]
    assert parse_ia_cdx(b"[]") == []


def test_candidates_prefer_after_then_closest_within_the_window():
    rows = [cap("20170520000000"), cap("20170610000000"), cap("20170605000000", 302),
            cap("20170603000000", 404), cap("20170602000000", mime="application/pdf"),
            cap("20190101000000"), cap("20170101000000")]
    got = [c.timestamp for c in candidates(rows, WINDOW, HTML)]
    # After the submission first (a redirect counts), then before it; 404, PDF and captures
    # outside the window are not usable.
    assert got == ["20170605000000", "20170610000000", "20170520000000"]


def _record(body: bytes = b"<html>hi</html>",
            url: str = "http://a.test/x") -> tuple[bytes, Capture]:
    c = ArchiveCapture("cc", url, datetime(2017, 6, 2, tzinfo=UTC), body=body)
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    data = comp.compress(_warc_record(c, "<urn:uuid:1>")) + comp.flush()
    return data, Capture("cc", url, "20170602000000", 200, "text/html",
                         digest=_sha1_b32(body), length=len(data), offset=0, filename="f")


def test_a_verified_record_gives_the_original_response():
    data, capture = _record()
    got = verify_cc_record(data, capture, 1000, "src")
    assert (got.status, got.body, got.record_id) == (200, b"<html>hi</html>", "<urn:uuid:1>")
    assert got.header("content-type") == "text/html; charset=utf-8"


@pytest.mark.parametrize("damage", ["short", "truncated", "extra", "wrong_url", "digest",
                                    "length"])
def test_a_damaged_record_is_refused(damage):
    data, capture = _record()
    if damage == "short":  # fewer bytes than the CDX row says
        data, match = data[: len(data) // 2], "bytes, the CDX row says"
    elif damage == "truncated":  # a gzip member cut short, whatever the row says
        data = data[: len(data) // 2]
        capture, match = replace(capture, length=len(data)), "truncated gzip member"
    elif damage == "extra":
        data += b"\x00junk"
        capture, match = replace(capture, length=len(data)), "after the record"
    elif damage == "wrong_url":
        capture, match = replace(capture, url="http://a.test/other"), "WARC-Target-URI"
    elif damage == "digest":
        capture, match = replace(capture, digest=_sha1_b32(b"something else")), "CDX digest"
    else:
        raw = zlib.decompress(data, 31)
        head, sep, rest = raw.partition(b"\r\n\r\n")
        lines = [re.sub(rb"\d+", lambda m: str(int(m[0]) + 1).encode(), line)
                 if line.startswith(b"Content-Length:") else line for line in head.split(b"\r\n")]
        raw = b"\r\n".join(lines) + sep + rest  # the WARC header claims one byte more
        comp = zlib.compressobj(6, zlib.DEFLATED, 31)
        data = comp.compress(raw) + comp.flush()
        capture, match = replace(capture, length=len(data)), "Content-Length says"
    with pytest.raises(RecordError, match=match):
        verify_cc_record(data, capture, 1000, "src")


def test_wayback_reply_becomes_the_original_response():
    capture = cap("20170601000000", 301)
    got = ia_response(capture, 301, [
        ("Content-Type", "text/html"), ("X-Archive-Orig-Server", "nginx"),
        ("Location", "http://wb.test/web/20170601000000id_/http://a.test/new"),
        ("Memento-Datetime", "x")], b"moved", "http://wb.test/web/20170601000000id_/x",
        "http://wb.test/")
    assert got.headers == [("Content-Type", "text/html"), ("Server", "nginx"),
                           ("Location", "http://a.test/new")]
    assert got.capture_time == "2017-06-01T00:00:00Z"


def test_what_counts_as_dead():
    c = CrawlConfig()
    assert is_dead(FetchStatus.HTTP_ERROR, 404, False, c)
    assert is_dead(FetchStatus.HTTP_ERROR, 410, False, c)
    assert not is_dead(FetchStatus.HTTP_ERROR, 500, False, c)  # a server error is not rot
    assert is_dead(FetchStatus.DNS_ERROR, None, False, c)
    assert is_dead(FetchStatus.CONNECTION_ERROR, None, True, c)  # refused
    assert not is_dead(FetchStatus.CONNECTION_ERROR, None, False, c)  # reset
    assert not is_dead(FetchStatus.TIMEOUT, None, False, c)
    assert not is_dead(FetchStatus.ROBOTS_DENIED, None, False, c)
    parked = b"<html><body><h1>example.test</h1><p>This domain is for sale!</p></body></html>"
    assert looks_parked(parked, "text/html", c)
    assert not looks_parked(parked, "application/pdf", c)
    assert not looks_parked(b"<html><p>An article about buying domains.</p></html>", None, c)
    assert not looks_parked(parked + b" " * c.archive_parked_max_bytes, "text/html", c)


def test_recovery_report_adds_up():
    rows = [("fetched", "a.test", 1451606400), ("archived_cc", "a.test", 1451606400),
            ("archived_ia", "b.test", 1483228800), ("http_error", "b.test", 1483228800),
            ("dns_error", "c.test", 1483228800)]
    report = linkrot_report(rows)["recovery"]
    assert report["all"] == {
        "urls": 5, "alive": 1, "archived_cc": 1, "archived_ia": 1, "lost": 2,
        "alive_share": 0.2, "archived_cc_share": 0.2, "archived_ia_share": 0.2,
        "lost_share": 0.4}
    assert report["by_year"]["2016"]["archived_cc"] == 1
    assert report["by_year"]["2017"]["lost"] == 2
    assert report["by_domain"]["b.test"]["archived_ia"] == 1
    for block in (report["by_year"], report["by_domain"]):
        assert sum(Counter({k: r["urls"] for k, r in block.items()}).values()) == 5
