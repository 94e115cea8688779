"""Every code of the stats funnel in words: what it means and which setting controls it.

In:  a funnel step's name and its reason codes (a `SourceDrop`, a `FetchStatus`, a clean
     `Reason` or a dedup code `duplicate_<DupKind>`), and the build's `CleanConfig` for the
     thresholds of the quality rules (clean/quality.py RULES).
Out: `explain(step, code, clean)` -> {"text": words, "setting": "table.field" or ""}.
     The same code can mean different things in different steps (`too_large` is a crawl cap
     in the "urls" step and an extraction cap in the "fetched pages" step), hence the step.
"""

from __future__ import annotations

from typing import Any

# (words, setting) per code of each step; a code missing here falls back to its name.
SOURCE: dict[str, tuple[str, str]] = {
    "malformed_json": ("the dump line is not valid JSON (truncated or corrupt)", ""),
    "invalid_utf8": ("the dump line is not UTF-8", ""),
    "wrong_type": ("a field of the submission has the wrong type (e.g. score as a list)", ""),
    "not_a_submission": ("valid JSON, but not a Reddit submission object", ""),
    "missing_url": ("a link post without a URL", ""),
    "self_post": ("a text post: it links to Reddit itself, not to the web",
                  "source.drop_self_posts"),
    "removed": ("removed by moderators or deleted by its author", "source.drop_removed"),
    "nsfw": ("marked over 18", "source.drop_nsfw"),
    "subreddit_denied": ("its subreddit is on the deny list or not on the allow list",
                         "source.subreddit_deny / source.subreddit_allow"),
    "bad_url": ("the URL is not http(s), has no host, or cannot be parsed", ""),
    "blocked_domain": ("links to a site of images, video or social media (reddit, imgur, "
                       "youtube, twitter, ...), whose pages have no article text",
                       "source.blocked_domains"),
    "blocked_extension": ("links to an image, video or archive file (by its extension)",
                          "source.blocked_extensions"),
    "wikipedia": ("links to Wikipedia, which WebText removed to keep evaluation sets clean",
                  "source.drop_wikipedia"),
    "low_karma": ("the URL's karma is below the WebText threshold (3 by default)",
                  "source.min_karma / source.karma_mode"),
}
CRAWL: dict[str, tuple[str, str]] = {
    "http_error": ("the final response was an HTTP 4xx or 5xx error (after retries)",
                   "crawl.retry_times / crawl.retry_http_codes"),
    "timeout": ("the site did not answer in time", "crawl.download_timeout"),
    "dns_error": ("the host name does not resolve", "crawl.dns_timeout"),
    "connection_error": ("the connection was refused, reset or cut mid-body",
                         "crawl.retry_times"),
    "robots_denied": ("the site's robots.txt disallows the URL", "crawl.obey_robots"),
    "robots_unreachable": ("the site's robots.txt answered 5xx or could not be reached, which "
                           "RFC 9309 reads as 'disallow everything'", "crawl.obey_robots"),
    "too_large": ("the page is larger than the size cap", "crawl.max_page_bytes"),
    "not_html": ("the content type is not an allowed (HTML/text) type",
                 "crawl.allowed_content_types"),
    "too_many_redirects": ("the URL redirects too many times", "crawl.max_redirects"),
    "blocked_address": ("the host resolves to an address the SSRF guard refuses",
                        "crawl.address_guard"),
    "bad_url": ("the crawler could not build a request for the URL", "crawl.max_url_length"),
    "archive_missing": ("dead live, and no web archive holds a capture of it",
                        "crawl.archive_lookup / crawl.archive_services"),
}
EXTRACTION: dict[str, tuple[str, str]] = {
    "warc_error": ("the page's WARC record is missing or unreadable", ""),
    "empty_body": ("the HTTP body has no bytes", ""),
    "too_large": ("the body is larger than trafilatura's size cap", "clean.max_html_bytes"),
    "not_text": ("binary bytes served as HTML", ""),
    "extract_timeout": ("extraction ran past the per-page time limit", "clean.page_timeout_s"),
    "extract_error": ("the extractor raised an error on the page", ""),
    "extract_empty": ("trafilatura found no main text on the page",
                      "clean.focus / clean.fast"),
    "decode_error": ("too many characters could not be decoded (U+FFFD)",
                     "clean.max_replaced_frac"),
}
LANGUAGE: dict[str, tuple[str, str]] = {
    "lang_not_allowed": ("the detected language is not one of the allowed languages",
                         "clean.langs"),
    "lang_low_score": ("the language detector is not confident enough", "clean.min_lang_score"),
}
# What each quality rule's signal measures (clean/quality.py), in words.
SIGNAL_WORDS: dict[str, str] = {
    "n_words": "words in the document",
    "gopher_mean_word_length": "mean word length (characters)",
    "gopher_hash_ratio": "'#' symbols per word",
    "gopher_ellipsis_ratio": "ellipses per word",
    "gopher_bullet_lines_frac": "share of lines starting with a bullet",
    "gopher_ellipsis_lines_frac": "share of lines ending with an ellipsis",
    "gopher_alpha_words_frac": "share of words with a letter",
    "gopher_stop_words": "English stop words present",
    "gopher_dup_line_frac": "share of lines that repeat an earlier line",
    "gopher_dup_para_frac": "share of paragraphs that repeat an earlier one",
    "gopher_dup_line_char_frac": "share of characters in repeated lines",
    "gopher_dup_para_char_frac": "share of characters in repeated paragraphs",
    "c4_sentences": "sentences left after C4's line filters",
    "c4_lorem_ipsum": "lines with 'lorem ipsum'",
    "c4_curly_bracket": "lines with a curly bracket (code)",
    "c4_javascript_lines": "lines mentioning javascript",
    "c4_policy_lines": "lines with a cookie or privacy-policy phrase",
    "fineweb_line_punct_frac": "share of lines ending in punctuation",
    "fineweb_short_line_frac": "share of short lines",
    "fineweb_dup_line_char_frac": "share of characters in duplicated lines",
    "fineweb_newline_word_ratio": "line breaks per word (lists)",
    "replaced_char_frac": "share of undecodable characters (U+FFFD)",
}
_OP_WORDS = {"<": "below", ">": "above", "<=": "at or below", ">=": "at or above"}
DEDUP: dict[str, tuple[str, str]] = {
    "duplicate_exact": ("the same normalised text as a document kept instead (the keeper is "
                        "chosen by the keep rule)", "dedup.keep_rule"),
    "duplicate_near": ("a near-duplicate (MinHash estimate of Jaccard similarity at or above "
                       "the threshold) of a document kept instead", "dedup.threshold"),
    "duplicate_earlier_snapshot": ("its duplicate cluster holds a document of an earlier "
                                   "build, which keeps it", "dedup.previous"),
}


def signal_words(signal: str) -> str:
    if signal in SIGNAL_WORDS:
        return SIGNAL_WORDS[signal]
    if signal.startswith("gopher_top_"):
        return f"share of characters in the most frequent {signal.split('_')[2]}"
    if signal.startswith("gopher_dup_"):
        return f"share of characters in repeated {signal.split('_')[2]}s"
    return signal.replace("_", " ")


def _rule_words(code: str, clean: Any) -> tuple[str, str] | None:
    from webtext.clean.quality import RULE_BY_REASON
    from webtext.clean.reasons import Reason

    if code not in {r.value for r in Reason} or Reason(code) not in RULE_BY_REASON:
        return None
    rule = RULE_BY_REASON[Reason(code)]
    limit = rule.threshold(clean)
    setting = f"clean.{rule.limit}" if isinstance(rule.limit, str) else f"clean.{rule.enabled}"
    return (f"{signal_words(rule.signal)} ({rule.signal}) {_OP_WORDS[rule.op]} {limit:g}",
            setting)


def explain(step: str, code: str, clean: Any) -> dict[str, str]:
    """What `code` means in funnel step `step`, and the setting that controls it."""
    tables = {"submissions": [SOURCE], "urls": [CRAWL],
              "fetched pages": [EXTRACTION], "extracted docs": [LANGUAGE, EXTRACTION],
              "passing docs": [DEDUP]}.get(step, [SOURCE, CRAWL, EXTRACTION, LANGUAGE, DEDUP])
    for table in tables:
        if code in table:
            text, setting = table[code]
            return {"text": text, "setting": setting}
    rule = _rule_words(code, clean)
    if rule is not None:
        return {"text": rule[0], "setting": rule[1]}
    return {"text": code.replace("_", " "), "setting": ""}


def explain_funnel(funnel: list[dict[str, Any]], clean: Any) -> None:
    """Put `explained` ({code: {text, setting}}) into every step of the funnel."""
    for step in funnel:
        step["explained"] = {code: explain(step["step"], code, clean) for code in step["reasons"]}
