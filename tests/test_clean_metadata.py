"""clean/extract.py computes title and date itself (the part of trafilatura's extract_metadata
that decides them) and asks trafilatura for the text without metadata. The result must be
what trafilatura's own with_metadata=True gives: checked on every content page of the fixture
world, and on pages built so that each metadata source decides the title or the date."""

from __future__ import annotations

import unicodedata

import pytest
import trafilatura

from webtext.clean.config import CleanConfig
from webtext.clean.extract import extract, extraction_options
from webtext.clean.fixture import FETCHED_AT, PROSE_LINES, world_responses

CONFIG = CleanConfig()


def trafilatura_full(html: str, url: str) -> tuple[str, str, str | None] | None:
    """(text, title, date) from trafilatura with with_metadata=True, as extract() reports."""
    doc = trafilatura.bare_extraction(html, url=url, output_format="python",
                                      **extraction_options(CONFIG, FETCHED_AT))
    if doc is None or not (doc.text or "").strip():
        return None
    nfc = lambda s: unicodedata.normalize("NFC", s or "").strip()  # noqa: E731
    return nfc(doc.text), nfc(doc.title), doc.date or None


def ours(html: str, url: str) -> tuple[str, str, str | None] | None:
    got = extract(html, url, CONFIG, FETCHED_AT)
    return None if got is None else (got.text, got.title, got.date)


def test_same_as_trafilatura_on_the_fixture_world(world):
    responses = world_responses(world)
    assert len(responses) > 100
    for r in responses:
        html = r.body.decode("utf-8", "replace")
        assert ours(html, r.url) == trafilatura_full(html, r.url), r.url


BODY = "".join(f"<p>{line}</p>" for line in PROSE_LINES)
HEADS = {
    "title_only": "<title>Plain title | Site</title>",
    "og": ('<title>Tag title</title><meta property="og:title" content="Open Graph title">'
           '<meta property="article:published_time" content="2021-03-04T10:00:00Z">'),
    "twitter": ('<meta name="twitter:title" content="Twitter &amp; title">'
                '<meta name="date" content="2019-07-08">'),
    "json_ld": ('<title>Tag title</title><script type="application/ld+json">'
                '{"@context": "https://schema.org", "@type": "NewsArticle", "headline": '
                '"JSON-LD headline", "datePublished": "2020-02-03", "url": '
                '"https://example.org/canonical/2018/05/06/story"}</script>'),
    "broken_json_ld": ('<title>Tag title</title><script type="application/ld+json">'
                       '{"@type": "NewsArticle", "headline": </script>'),
    "canonical_relative": ('<title>Tag title</title><link rel="canonical" '
                           'href="/2017/09/10/story.html"><meta property="og:url" '
                           'content="https://example.org/x">'),
    "nothing": "",
    "long_title": f"<title>{'very long title ' * 800}</title>",
    "future_date": '<meta name="date" content="2030-01-01">',  # after the fetch: not a date
}


@pytest.mark.parametrize("name", sorted(HEADS))
def test_same_as_trafilatura_for_each_metadata_source(name):
    h1 = "<h1>Heading one</h1>" if name == "nothing" else ""
    # A date in the text, except where the URL alone should give it.
    dated = "" if name == "canonical_relative" else "<p>Published 2016-11-12.</p>"
    html = (f"<html><head>{HEADS[name]}</head>"
            f"<body><article>{h1}{BODY}{dated}</article></body></html>")
    got = ours(html, "https://example.org/page")
    assert got is not None and got == trafilatura_full(html, "https://example.org/page")
