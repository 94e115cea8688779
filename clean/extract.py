"""Main-text extraction with trafilatura: the only module of webtext that imports it.

In:  a page's HTML as a Unicode string (decoded by clean/decode.py), its URL and fetch date.
Out: `Extracted` (title, text with one paragraph per line, publication date), or None when
     trafilatura finds no main text. A hang is not handled here: the caller puts a time
     limit around the call (clean/deadline.py, clean/workers.py).

Every option is spelled out, so that a trafilatura release that changes a default does not
change the corpus silently. Two of them matter beyond taste:
- deduplicate=False. trafilatura's deduplication keeps a module-global LRU cache of the
  paragraphs it has seen, so a page's text would depend on which pages the same process
  extracted before it (document order, worker count). Deduplication belongs to dedup/.
- date_extraction_params.max_date = the fetch date. htmldate's default bound is "today", which
  would make a re-run on another day able to give other bytes; a page cannot be published
  after it was fetched.

Metadata: the stage keeps a title and a date, nothing else. trafilatura's with_metadata=True
also looks for the author, site name, categories, tags and licence, which costs about as much
as the title and date (a quarter of the whole extraction on the fixture world). So `extract`
parses the page once, runs the part of trafilatura's `extract_metadata` that decides title and
date (meta tags, JSON-LD, <title>/<h1>, the canonical URL handed to htmldate), in trafilatura's
order, then extracts the text from the same tree with with_metadata=False. A test checks the
result against trafilatura's own with_metadata=True on every page of the fixture world and on
pages built to exercise each metadata source.
"""

from __future__ import annotations

import logging
import unicodedata
from html import unescape
from typing import Any

import trafilatura
from htmldate import find_date
from trafilatura.metadata import examine_meta, extract_meta_json, extract_title, extract_url
from trafilatura.utils import line_processing, load_html

from webtext.clean.config import CleanConfig
from webtext.clean.page import Extracted


def extraction_options(config: CleanConfig, fetched_at: str | None = None) -> dict[str, Any]:
    """The keyword arguments given to trafilatura for one page; the benchmark reuses them."""
    date_params: dict[str, Any] = {
        "original_date": True,  # the publication date, not the last modification
        "extensive_search": True,  # trafilatura's EXTENSIVE_DATE_SEARCH = on
        "max_date": (fetched_at or "")[:10] or None,
    }
    return {
        "fast": config.fast,
        "favor_precision": config.focus == "precision",
        "favor_recall": config.focus == "recall",
        "include_comments": config.include_comments,
        "include_tables": config.include_tables,
        "include_images": False,
        "include_formatting": False,
        "include_links": False,
        "deduplicate": False,
        "with_metadata": True,  # title and date
        "only_with_metadata": False,
        "target_language": None,  # language ID is clean/lang.py's job, with a score
        "date_extraction_params": date_params,
        "prune_xpath": None,
    }


def quiet_library_logs() -> None:
    """Silence trafilatura's per-page log lines in a worker.

    Each outcome is recorded as a reason code in docs/; the library's "discarding data" and
    parser warnings would repeat it on stderr once per page.
    """
    for name in ("trafilatura", "htmldate", "courlan", "justext", "readability"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def title_and_date(tree: Any, url: str | None, date_params: dict[str, Any],
                   ) -> tuple[str | None, str | None]:
    """The title and date that trafilatura's extract_metadata would give for the tree.

    Its steps for these two fields, in its order: meta tags, then JSON-LD (which may override
    them; trafilatura logs and ignores a JSON-LD error), the <title>/<h1> fallback, the
    canonical URL, and htmldate given that URL. The title is trimmed as
    Document.clean_and_trim does.
    """
    meta = examine_meta(tree)
    try:
        meta = extract_meta_json(tree, meta)
    except Exception:  # noqa: BLE001 - trafilatura's own handling of broken JSON-LD
        pass
    title = meta.title or extract_title(tree)
    if title is not None:
        title = line_processing(unescape(title if len(title) <= 10000 else title[:9999] + "…"))
    page_url = meta.url or extract_url(tree, url)
    return title, find_date(tree, **{**date_params, "url": page_url})


def extract(html: str, url: str | None, config: CleanConfig,
            fetched_at: str | None = None) -> Extracted | None:
    """The main text, title and date of one page; None if trafilatura finds no main text."""
    tree = load_html(html)
    if tree is None:
        return None
    options = extraction_options(config, fetched_at)
    title, date = title_and_date(tree, url, options["date_extraction_params"])
    doc = trafilatura.bare_extraction(
        tree, url=url, output_format="python", **(options | {"with_metadata": False})
    )
    if doc is None or not (doc.text or "").strip():
        return None
    # extract()'s text output is NFC-normalised; bare_extraction's is not, so do it here.
    text = unicodedata.normalize("NFC", doc.text).strip()
    title = unicodedata.normalize("NFC", title or "").strip()
    return Extracted(title=title, text=text, date=date or None)


def extract_baseline(body: bytes, url: str | None, config: CleanConfig,
                     fetched_at: str | None = None) -> str | None:
    """Bare `trafilatura.extract` with the same options: the benchmark's point of comparison."""
    return trafilatura.extract(
        body, url=url, output_format="txt", **extraction_options(config, fetched_at)
    )
