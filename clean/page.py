"""One fetched page in, one annotated document out: the logic of the clean stage.

In:  a `RawPage` (URL, Content-Type, body bytes as the WARC holds them, fetch time).
Out: a `CleanedPage`: title, date, text, encoding, language and score, quality signals and
     every reason code the page fails (clean/reasons.py). Nothing is dropped: a page that
     cannot become text still yields a `CleanedPage`, with text "" and the reason why.

Order of the steps, each able to end the page with a reason: empty body, size cap, binary
sniffing, charset decoding (never fails), extraction (time limit, exception, no main text),
then language ID and the quality rules on the text, among them decode_error (too large a share
of the text replaced by U+FFFD; the count of replaced bytes is kept in decode_errors). No file
I/O here: clean/shard.py reads the WARC and writes Parquet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from webtext.clean import quality
from webtext.clean.config import CleanConfig
from webtext.clean.deadline import PageTimeout, time_limit
from webtext.clean.decode import decode_html, sniff_binary
from webtext.clean.reasons import Reason


@dataclass(frozen=True, slots=True)
class Extracted:
    """What an extractor returns for a page with main text (clean/extract.py)."""

    title: str
    text: str
    date: str | None  # YYYY-MM-DD as htmldate finds it


@dataclass(slots=True)
class RawPage:
    url: str
    body: bytes
    content_type: str | None = None
    final_url: str | None = None
    fetched_at: str | None = None


@dataclass(slots=True)
class CleanedPage:
    title: str = ""
    date: str | None = None
    text: str = ""
    encoding: str | None = None
    charset_source: str | None = None
    decode_errors: int = 0
    lang: str | None = None  # None when there is no text to identify
    lang_score: float | None = None
    n_words: int = 0
    signals: dict[str, Any] | None = None  # None when there is no text to measure
    reasons: list[str] = field(default_factory=list)
    error: str | None = None  # the exception, for extract_error


_REASON_ORDER = {reason: i for i, reason in enumerate(Reason)}  # a row lists codes in this order


def failed(reason: Reason, error: str | None = None, **kw: Any) -> CleanedPage:
    """A page that did not become text."""
    return CleanedPage(reasons=[str(reason)], error=error, **kw)


# (html, url, config, fetched_at) -> Extracted | None, e.g. clean/extract.py's extract. Tests
# and benchmarks pass others (a picklable top-level function, for worker processes).
ExtractFn = Callable[[str, str | None, CleanConfig, str | None], Extracted | None]


class PageCleaner:
    """Holds what is costly to build once per worker: the extractor and the language model."""

    def __init__(self, config: CleanConfig, extract: ExtractFn | None = None,
                 language_id: Callable[[str], tuple[str, float]] | None = None):
        if extract is None:
            from webtext.clean.extract import extract
        if language_id is None:
            from webtext.clean.lang import LanguageId

            language_id = LanguageId(config.lang_max_chars)
        self.config = config
        self.extract = extract
        self.language_id = language_id

    def clean(self, page: RawPage) -> CleanedPage:
        """Annotate one page; the whole of it runs under the per-page time limit."""
        try:
            with time_limit(self.config.page_timeout_s):
                return self._clean(page)
        except PageTimeout:
            return failed(Reason.EXTRACT_TIMEOUT)

    def _clean(self, page: RawPage) -> CleanedPage:
        config = self.config
        body = page.body
        if not body:
            return failed(Reason.EMPTY_BODY)
        if len(body) > config.max_html_bytes:
            return failed(Reason.TOO_LARGE)
        if sniff_binary(body):
            return failed(Reason.NOT_TEXT)
        decoded = decode_html(body, page.content_type)
        charset = {"encoding": decoded.encoding, "charset_source": decoded.source,
                   "decode_errors": decoded.replaced}
        try:
            extracted = self.extract(decoded.text, page.final_url or page.url, config,
                                     page.fetched_at)
        except Exception as e:  # a library bug on one page must not stop the shard
            return failed(Reason.EXTRACT_ERROR, error=f"{type(e).__name__}: {e}"[:500],
                          **charset)
        if extracted is None:
            return failed(Reason.EXTRACT_EMPTY, **charset)

        text = extracted.text
        reasons: list[Reason] = []
        lang, score = self.language_id(text)
        if lang not in config.langs:
            reasons.append(Reason.LANG_NOT_ALLOWED)
        if score < config.min_lang_score:
            reasons.append(Reason.LANG_LOW_SCORE)
        n_words, signals = quality.measure(text, config)
        reasons.extend(quality.judge(n_words, signals, config))  # decode_error among them
        reasons.sort(key=_REASON_ORDER.__getitem__)
        return CleanedPage(
            title=extracted.title, date=extracted.date, text=text, lang=lang,
            lang_score=score, n_words=n_words, signals=signals,
            reasons=[str(r) for r in reasons], **charset,
        )
