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
"""

from __future__ import annotations

import logging
import unicodedata
from typing import Any

import trafilatura

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


def extract(html: str, url: str | None, config: CleanConfig,
            fetched_at: str | None = None) -> Extracted | None:
    """The main text, title and date of one page; None if trafilatura finds no main text."""
    doc = trafilatura.bare_extraction(
        html, url=url, output_format="python", **extraction_options(config, fetched_at)
    )
    if doc is None or not (doc.text or "").strip():
        return None
    # extract()'s text output is NFC-normalised; bare_extraction's is not, so do it here.
    text = unicodedata.normalize("NFC", doc.text).strip()
    title = unicodedata.normalize("NFC", doc.title or "").strip()
    return Extracted(title=title, text=text, date=doc.date or None)


def extract_baseline(body: bytes, url: str | None, config: CleanConfig,
                     fetched_at: str | None = None) -> str | None:
    """Bare `trafilatura.extract` with the same options: the benchmark's point of comparison."""
    return trafilatura.extract(
        body, url=url, output_format="txt", **extraction_options(config, fetched_at)
    )
