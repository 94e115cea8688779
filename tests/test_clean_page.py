"""One test per extraction-level reason code, and bad input that must get a status.

PageCleaner runs in this process, with the real trafilatura and language model (loaded once);
warc_error goes through the shard runner with a real WARC file.
"""

from __future__ import annotations

import threading

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from webtext.clean.config import CleanConfig
from webtext.clean.docs import PageRef
from webtext.clean.fixture import png_bytes
from webtext.clean.page import Extracted, PageCleaner, RawPage
from webtext.clean.reasons import Reason
from webtext.clean.shard import ShardJob, run_shard
from webtext.clean.warc import WarcReader, WarcRecordError, write_responses
from webtext.records import DOCS_SCHEMA
from webtext.world.spec import World

WORLD = World(0)
ARTICLE = next(p for p in WORLD.pages if p.kind == "article")
GERMAN = next(p for p in WORLD.pages if p.kind == "foreign" and p.lang == "de")
SENTENCE = "At the café in Zürich, a naïve señor paid for crème brûlée, à la française."


def html_of(paragraphs: list[str], meta: str | None = None, title: str = "A story") -> str:
    head = f'<meta charset="{meta}">' if meta else ""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (f"<!DOCTYPE html><html><head>{head}<title>{title}</title></head><body>"
            f"<nav><a href='/'>Home</a> <a href='/news'>News</a></nav>"
            f"<article><h1>{title}</h1>{body}</article>"
            f"<footer>Copyright 2019. All rights reserved.</footer></body></html>")


@pytest.fixture(scope="module")
def cleaner() -> PageCleaner:
    return PageCleaner(CleanConfig())


def clean(cleaner: PageCleaner, body: bytes, content_type: str = "text/html; charset=utf-8",
          **config: object):
    if config:
        cleaner = PageCleaner(cleaner.config.model_copy(update=config),
                              extract=cleaner.extract, language_id=cleaner.language_id)
    return cleaner.clean(RawPage("http://site.test/a", body, content_type))


def test_article_passes(cleaner):
    page = clean(cleaner, html_of(ARTICLE.paragraphs).encode())
    assert page.reasons == []
    assert page.lang == "en" and page.text.endswith(ARTICLE.paragraphs[-1])
    assert "All rights reserved" not in page.text and "Home" not in page.text.split("\n")


def test_empty_body(cleaner):
    page = clean(cleaner, b"")
    assert page.reasons == ["empty_body"] and page.text == "" and page.signals is None


def test_too_large(cleaner):
    page = clean(cleaner, html_of(ARTICLE.paragraphs).encode(), max_html_bytes=1000)
    assert page.reasons == ["too_large"]


def test_not_text(cleaner):
    assert clean(cleaner, png_bytes(), "text/html").reasons == ["not_text"]


def test_extract_empty(cleaner):
    body = b"<html><head><title>T</title></head><body><script>var x = 1;</script></body></html>"
    page = clean(cleaner, body)
    assert page.reasons == ["extract_empty"] and page.encoding == "ascii"


def _raising_extract(*args: object) -> Extracted:
    raise ValueError("lxml said no")


def test_extract_error(cleaner):
    broken = PageCleaner(cleaner.config, extract=_raising_extract,
                         language_id=cleaner.language_id)
    page = broken.clean(RawPage("http://site.test/a", b"<html><p>x</p></html>", "text/html"))
    assert page.reasons == ["extract_error"] and "lxml said no" in page.error


def test_extract_timeout_in_process(cleaner):
    """SIGALRM ends an extractor that blocks; the next page is cleaned normally."""
    def hang(*args: object) -> Extracted:
        threading.Event().wait()  # blocks until the alarm interrupts it
        raise AssertionError("not reached")

    config = cleaner.config.model_copy(update={"page_timeout_s": 0.2})
    hanging = PageCleaner(config, extract=hang, language_id=cleaner.language_id)
    page = hanging.clean(RawPage("http://site.test/a", b"<html><p>x</p></html>", "text/html"))
    assert page.reasons == ["extract_timeout"]
    again = PageCleaner(config, extract=cleaner.extract, language_id=cleaner.language_id)
    assert again.clean(RawPage("http://site.test/b", html_of(ARTICLE.paragraphs).encode(),
                               "text/html")).reasons == []


def test_decode_error(cleaner):
    # UTF-8 text whose "ü" and "é" are latin-1 bytes throughout (a part pasted in another
    # charset): 16 of its ~900 characters become U+FFFD, far over max_replaced_frac.
    paragraphs = [f"{SENTENCE} That was on day {i}." for i in range(8)] + ARTICLE.paragraphs[:1]
    body = html_of(paragraphs).encode().replace("Zürich".encode(), b"Z\xfcrich").replace(
        "café".encode(), b"caf\xe9")
    page = clean(cleaner, body)
    assert page.reasons[0] == "decode_error" and page.decode_errors == 16
    assert page.signals["replaced_char_frac"] > cleaner.config.max_replaced_frac
    assert page.text.count("\ufffd") == 16 and ARTICLE.paragraphs[0] in page.text


def test_one_stray_byte_does_not_cost_a_long_article(cleaner):
    # One latin-1 "ü" in a UTF-8 article of ~2,700 characters: counted, not a decode_error.
    body = html_of([SENTENCE, *ARTICLE.paragraphs]).encode().replace("Zürich".encode(),
                                                                     b"Z\xfcrich")
    page = clean(cleaner, body)
    assert page.reasons == [] and page.decode_errors == 1 and "Z\ufffdrich" in page.text
    assert 0 < page.signals["replaced_char_frac"] <= cleaner.config.max_replaced_frac
    # With no tolerance, the same byte fails the rule (its threshold comes from the config).
    assert clean(cleaner, body, max_replaced_frac=0.0).reasons == ["decode_error"]


def test_lang_not_allowed(cleaner):
    page = clean(cleaner, html_of(GERMAN.paragraphs).encode())
    assert page.lang == "de" and Reason.LANG_NOT_ALLOWED in page.reasons
    assert Reason.LANG_LOW_SCORE not in page.reasons


def test_lang_low_score(cleaner):
    page = clean(cleaner, b"<html><body><article><p>Read more</p></article></body></html>")
    assert page.lang == "en" and page.lang_score < 0.65
    assert Reason.LANG_LOW_SCORE in page.reasons and Reason.LANG_NOT_ALLOWED not in page.reasons


def test_warc_error(cleaner, tmp_path):
    warc = tmp_path / "warc" / "00000.warc.gz"
    [offset] = write_responses(warc, [("http://site.test/a", 200, [
        ("Content-Type", "text/html; charset=utf-8")], html_of(ARTICLE.paragraphs).encode())])

    def ref(url: str, warc_file: str | None, warc_offset: int | None) -> PageRef:
        return PageRef(url=url, final_url=url, domain="site.test", karma=5, karma_sum=7,
                       content_type="text/html", fetched_at="2024-05-01T00:00:00Z",
                       warc_file=warc_file, warc_offset=warc_offset)

    refs = [ref("http://site.test/a", "warc/00000.warc.gz", offset),
            ref("http://site.test/b", "warc/00000.warc.gz", offset + 7),  # not a record
            ref("http://site.test/c", "warc/00000.warc.gz", 10**9)]  # past the end
    out = tmp_path / "docs" / "00000.parquet"
    marker = run_shard(ShardJob("00000", str(warc), str(out), refs), cleaner)
    table = pq.read_table(out)
    assert table.schema.equals(DOCS_SCHEMA)
    rows = table.to_pylist()
    assert [r["reasons"] for r in rows] == [[], ["warc_error"], ["warc_error"]]
    assert rows[0]["karma"] == 5 and rows[0]["karma_sum"] == 7
    assert marker["docs"] == 3 and marker["reasons"] == {"warc_error": 2}
    missing = ShardJob("00001", str(tmp_path / "nope.warc.gz"), str(tmp_path / "o.parquet"),
                       refs[:1])
    assert run_shard(missing, cleaner)["reasons"] == {"warc_error": 1}


def test_a_record_that_is_not_the_pages_response_is_a_warc_error(tmp_path):
    """A read at a wrong offset must not pass for a page: warcio sometimes parses bytes in the
    middle of a gzip member as a "response" with no Target-URI and no HTTP headers (an empty
    body, so `empty_body`, before); and a whole record of another URL is not this page's."""
    import gzip

    warc = tmp_path / "w.warc.gz"
    [first, second] = write_responses(warc, [
        ("http://site.test/a", 200, [("Content-Type", "text/html")], b"<p>a</p>"),
        ("http://site.test/b", 200, [("Content-Type", "text/html")], b"<p>b</p>")])
    headless = gzip.compress(b"WARC/1.0\r\nWARC-Type: response\r\nContent-Length: 0\r\n\r\n"
                             b"\r\n\r\n")
    third = warc.stat().st_size
    with open(warc, "ab") as f:
        f.write(headless)
    with WarcReader(warc) as reader:
        assert reader.response_at(first, 1000, "http://site.test/a").body == b"<p>a</p>"
        with pytest.raises(WarcRecordError, match=r"is for http://site.test/b, not "
                                                  r"http://site.test/a"):
            reader.response_at(second, 1000, "http://site.test/a")
        with pytest.raises(WarcRecordError, match="no WARC response record at offset"):
            reader.response_at(third, 1000)


# ------------------------------------------------------------------ bad input gets a status
def test_bad_input_invalid_utf8(cleaner):
    # The byte is replaced, not dropped (the rule above decides whether that fails the page).
    body = html_of([SENTENCE, *ARTICLE.paragraphs]).encode().replace(b"Z\xc3\xbcrich",
                                                                     b"Z\xfcrich")
    page = clean(cleaner, body)
    assert page.decode_errors == 1 and "Zrich" not in page.text
    assert ARTICLE.paragraphs[1] in page.text


def test_bad_input_wrong_declared_charset(cleaner):
    page = clean(cleaner, html_of([SENTENCE, *ARTICLE.paragraphs]).encode("cp1252"),
                 "text/html; charset=utf-8")
    assert page.reasons == [] and SENTENCE in page.text and page.charset_source == "detected"


def test_bad_input_truncated_html(cleaner):
    body = html_of(ARTICLE.paragraphs).encode()
    cut = body.index(ARTICLE.paragraphs[3][:20].encode())
    page = clean(cleaner, body[:cut + 10])
    assert ARTICLE.paragraphs[2] in page.text  # what arrived is extracted
    assert ARTICLE.paragraphs[4] not in page.text


def test_bad_input_binary_labelled_html(cleaner):
    assert clean(cleaner, png_bytes() * 3, "text/html; charset=utf-8").reasons == ["not_text"]


def test_bad_input_ten_megabytes_on_one_line(cleaner):
    words = " ".join(ARTICLE.paragraphs)
    line = ("<html><head><title>Big</title></head><body><p>"
            + (words + " ") * (10_000_000 // len(words)) + "</p></body></html>")
    assert "\n" not in line and len(line) >= 9_900_000
    page = clean(cleaner, line.encode())
    assert page.reasons, "a 10 MB page gets a status"
    assert set(page.reasons) <= {r.value for r in Reason}


def test_fetched_page_without_a_warc_record_is_accounted_for(cleaner, tmp_path):
    from webtext.clean.fixture import Response, write_build
    from webtext.clean.stage import NO_WARC_SHARD, plan
    from webtext.io import write_parquet
    from webtext.records import FETCH_SCHEMA

    layout = write_build(tmp_path, [Response("http://site.test/a", 200, [
        ("Content-Type", "text/html")], html_of(ARTICLE.paragraphs).encode())])
    fetch = pq.read_table(layout.fetch).to_pylist()
    fetch.append({**fetch[0], "url": "http://site.test/lost", "warc_file": None,
                  "warc_offset": None})
    fetch.append({**fetch[0], "url": "http://site.test/404", "status": "http_error"})
    write_parquet(layout.fetch, pa.Table.from_pylist(fetch, schema=FETCH_SCHEMA))
    jobs = {job.name: job for job in plan(layout, cleaner.config)}
    assert sorted(jobs) == ["00000", NO_WARC_SHARD]  # the http_error row is no document
    marker = run_shard(jobs[NO_WARC_SHARD], cleaner)
    assert marker["docs"] == 1 and marker["reasons"] == {"warc_error": 1}
