"""Charset decoding (BOM, header, <meta>, detection) and binary sniffing, on inline bodies."""

from __future__ import annotations

import codecs

import pytest

from webtext.clean.decode import decode_html, sniff_binary
from webtext.clean.fixture import png_bytes

SENTENCE = "At the café in Zürich, a naïve señor paid for crème brûlée, à la française."


def page(meta: str | None = None) -> str:
    head = f'<meta charset="{meta}">' if meta else ""
    return f"<!DOCTYPE html><html><head>{head}<title>T</title></head><body><p>{SENTENCE}</p>" \
           "</body></html>"


def test_header_charset_is_used():
    d = decode_html(page().encode("cp1252"), "text/html; charset=windows-1252")
    assert (d.encoding, d.source, d.replaced) == ("cp1252", "header", 0)
    assert SENTENCE in d.text


def test_meta_charset_when_header_has_none():
    d = decode_html(page("iso-8859-1").encode("cp1252"), "text/html")
    assert (d.encoding, d.source) == ("cp1252", "meta")  # WHATWG: iso-8859-1 is windows-1252
    assert SENTENCE in d.text


def test_header_wins_over_meta():
    d = decode_html(page("utf-8").encode("cp1252"), 'text/html; charset="ISO-8859-1"')
    assert d.source == "header" and SENTENCE in d.text


def test_bom_wins_over_everything():
    body = codecs.BOM_UTF16_LE + page("iso-8859-1").encode("utf-16-le")
    d = decode_html(body, "text/html; charset=iso-8859-1")
    assert d.source == "bom" and SENTENCE in d.text
    assert not sniff_binary(body)  # UTF-16 has NUL bytes, but the BOM says text


def test_wrong_declared_charset_utf8_labelled_latin1():
    d = decode_html(page().encode("utf-8"), "text/html; charset=iso-8859-1")
    assert (d.encoding, d.replaced) == ("utf-8", 0)
    assert SENTENCE in d.text  # not "cafÃ©"


def test_wrong_declared_charset_latin1_labelled_utf8():
    d = decode_html(page("utf-8").encode("cp1252"), "text/html; charset=utf-8")
    assert d.replaced == 0 and d.source == "detected"
    assert SENTENCE in d.text


def test_invalid_utf8_is_replaced_and_counted():
    body = page().encode("utf-8").replace(b"<title>", b"<title>\xff\xfe")
    d = decode_html(body, "text/html; charset=utf-8")
    assert (d.encoding, d.source, d.replaced) == ("utf-8", "replaced", 2)
    assert SENTENCE in d.text  # the rest of the page is intact


def test_unlabelled_legacy_page_is_detected():
    d = decode_html(page().encode("cp1252"), None)
    assert d.source == "detected" and SENTENCE in d.text


@pytest.mark.parametrize("body", [
    png_bytes(),
    b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Length 5 >>\nstream\n\x00\x01\x02\x03",
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01",
    b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03",
], ids=["png", "pdf", "jpeg", "gzip"])
def test_binary_is_sniffed(body: bytes):
    assert sniff_binary(body)


def test_text_is_not_binary():
    assert not sniff_binary(page().encode("utf-8"))
    assert not sniff_binary(page().encode("cp1252"))
