"""The closed set of reason codes a document of docs/*.parquet can carry (docs/design.md,
"Conventions" 3).

In:  nothing (plain definitions).
Out: `Reason`, a StrEnum. A row's `reasons` column lists every code it fails; an empty list
     means it passes every rule. Extraction failures (the first group) come with text "" and
     no other code: the rules below them need text to be measured.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    # --- the page could not become text (text is "", signals are null)
    WARC_ERROR = "warc_error"  # the WARC record at the given offset is missing or unreadable
    EMPTY_BODY = "empty_body"  # the HTTP body has no bytes
    TOO_LARGE = "too_large"  # body above max_html_bytes (trafilatura's MAX_FILE_SIZE)
    NOT_TEXT = "not_text"  # binary bytes served as HTML (WHATWG MIME sniffing, section 7.2)
    EXTRACT_TIMEOUT = "extract_timeout"  # past page_timeout_s (or its worker was killed)
    EXTRACT_ERROR = "extract_error"  # the extractor raised, or its worker died on the page
    EXTRACT_EMPTY = "extract_empty"  # no main text found
    # --- decoding (text is kept, but some bytes were replaced by U+FFFD)
    # no charset decodes the body, and over max_replaced_frac of the text's characters are
    # U+FFFD (one stray byte in a long article is not enough)
    DECODE_ERROR = "decode_error"
    # --- language ID
    LANG_NOT_ALLOWED = "lang_not_allowed"  # top language not in `langs`
    LANG_LOW_SCORE = "lang_low_score"  # top language's score below `min_lang_score`
    # --- Gopher quality rules (Rae et al. 2021, appendix A.1.1)
    GOPHER_SHORT_DOC = "gopher_short_doc"
    GOPHER_LONG_DOC = "gopher_long_doc"
    GOPHER_SHORT_WORDS = "gopher_short_words"  # mean word length below 3
    GOPHER_LONG_WORDS = "gopher_long_words"  # mean word length above 10
    GOPHER_HASH_RATIO = "gopher_hash_ratio"
    GOPHER_ELLIPSIS_RATIO = "gopher_ellipsis_ratio"
    GOPHER_BULLET_LINES = "gopher_bullet_lines"
    GOPHER_ELLIPSIS_LINES = "gopher_ellipsis_lines"
    GOPHER_ALPHA_WORDS = "gopher_alpha_words"
    GOPHER_STOP_WORDS = "gopher_stop_words"
    # --- Gopher repetition rules (Rae et al. 2021, table A1)
    GOPHER_DUP_LINE_FRAC = "gopher_dup_line_frac"
    GOPHER_DUP_PARA_FRAC = "gopher_dup_para_frac"
    GOPHER_DUP_LINE_CHAR_FRAC = "gopher_dup_line_char_frac"
    GOPHER_DUP_PARA_CHAR_FRAC = "gopher_dup_para_char_frac"
    GOPHER_TOP_2GRAM = "gopher_top_2gram"
    GOPHER_TOP_3GRAM = "gopher_top_3gram"
    GOPHER_TOP_4GRAM = "gopher_top_4gram"
    GOPHER_DUP_5GRAM = "gopher_dup_5gram"
    GOPHER_DUP_6GRAM = "gopher_dup_6gram"
    GOPHER_DUP_7GRAM = "gopher_dup_7gram"
    GOPHER_DUP_8GRAM = "gopher_dup_8gram"
    GOPHER_DUP_9GRAM = "gopher_dup_9gram"
    GOPHER_DUP_10GRAM = "gopher_dup_10gram"
    # --- C4 (Raffel et al. 2020, section 2.2): page-level consequences of its line rules
    C4_TOO_FEW_SENTENCES = "c4_too_few_sentences"
    C4_LOREM_IPSUM = "c4_lorem_ipsum"
    C4_CURLY_BRACKET = "c4_curly_bracket"
    C4_JAVASCRIPT = "c4_javascript"
    C4_POLICY = "c4_policy"
    # --- FineWeb (Penedo et al. 2024)
    FINEWEB_LINE_PUNCT = "fineweb_line_punct"
    FINEWEB_SHORT_LINES = "fineweb_short_lines"
    FINEWEB_DUP_LINE_CHARS = "fineweb_dup_line_chars"
    FINEWEB_LIST_RATIO = "fineweb_list_ratio"


# Codes that mean "there is no text": every other rule is left unmeasured on such rows.
NO_TEXT = frozenset({
    Reason.WARC_ERROR, Reason.EMPTY_BODY, Reason.TOO_LARGE, Reason.NOT_TEXT,
    Reason.EXTRACT_TIMEOUT, Reason.EXTRACT_ERROR, Reason.EXTRACT_EMPTY,
})
