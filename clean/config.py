"""Config of the clean stage: extraction, language ID and the thresholds of every quality rule.

In:  the `[clean]` table of the TOML config.
Out: `CleanConfig`. Every default is the published value of the rule it belongs to, with its
     source beside it; a rule's reason code (clean/reasons.py) is named in the comment too.
     Sources: Gopher = Rae et al. 2021, "Scaling Language Models: Methods, Analysis & Insights
     from Training Gopher", appendix A.1.1 and table A1; C4 = Raffel et al. 2020, "Exploring the
     Limits of Transfer Learning with a Unified Text-to-Text Transformer", section 2.2, and its
     reference code (tensorflow_datasets c4_utils.clean_page); FineWeb = Penedo et al. 2024,
     "The FineWeb Datasets", section 3, and its reference code (datatrove's
     FineWebQualityFilter).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from webtext.configbase import StageConfig


class CleanConfig(StageConfig):
    """How pages become documents, and the thresholds that annotate them."""

    # ------------------------------------------------------------------ running
    workers: int = Field(2, ge=1)  # worker processes over WARC shards (CLI --workers overrides)
    # Per-page time limit. trafilatura can hang on some pages; its own CLI stops a file after
    # EXTRACTION_TIMEOUT = 30 s (trafilatura settings.cfg). A page past it gets extract_timeout.
    page_timeout_s: float = Field(30.0, gt=0)
    # A worker stuck in C code (lxml, regex) cannot take the in-process alarm; the supervisor
    # kills it this long after the page's limit and restarts the shard past that page.
    kill_grace_s: float = Field(5.0, gt=0)
    # Bodies above this are not extracted (too_large): trafilatura's own MAX_FILE_SIZE.
    max_html_bytes: int = Field(20_000_000, gt=0)

    # ------------------------------------------------------------------ extraction
    # WebText keeps the main text of a page; comments are other people's text (trafilatura's
    # default includes them).
    include_comments: bool = False
    include_tables: bool = True  # trafilatura's default
    # trafilatura's default "balanced"; FineWeb extracted with favour_precision=True.
    focus: Literal["balanced", "precision", "recall"] = "balanced"
    # False = trafilatura's default: fall back to readability/jusText when its own pass finds
    # little; True skips the fallbacks (about twice as fast, less recall on odd layouts).
    fast: bool = False

    # ------------------------------------------------------------------ decoding
    # decode_error: more than this share of the extracted text's characters are U+FFFD (bytes
    # that no charset decodes, clean/decode.py). No published pipeline has such a rule; the
    # number is this project's. 0.005 (1 in 200) lets one stray byte pass in every text long
    # enough for gopher_short_doc (50 words, some 250 characters or more): on real news pages
    # a single bad byte in a 1,200-character article used to cost the article. A page, or a
    # part of one, in a charset other than the one decoded loses every accented letter and
    # typographic quote, 1-4 % of the characters of French or German text: well over it.
    # 0 restores "any replaced byte fails". The count itself is the decode_errors column.
    max_replaced_frac: float = Field(0.005, ge=0.0, le=1.0)

    # ------------------------------------------------------------------ language ID
    # WebText is English. FineWeb keeps English with a language-ID score >= 0.65 (Penedo et
    # al. 2024, fastText lid.176); here the score is py3langid's normalised probability, a
    # different model, so 0.65 is the published number, not a calibrated equivalent.
    langs: list[str] = Field(default_factory=lambda: ["en"])  # reason lang_not_allowed
    min_lang_score: float = Field(0.65, ge=0.0, le=1.0)  # reason lang_low_score
    # Language ID reads at most this many characters: the language is clear long before, and
    # the identifier's cost grows with the text.
    lang_max_chars: int = Field(10_000, gt=0)

    # ------------------------------------------------------------------ Gopher quality
    gopher_min_words: int = 50  # Gopher: 50 to 100,000 words; reason gopher_short_doc
    gopher_max_words: int = 100_000  # reason gopher_long_doc
    gopher_min_mean_word_length: float = 3.0  # Gopher: 3 to 10 characters; gopher_short_words
    gopher_max_mean_word_length: float = 10.0  # reason gopher_long_words
    # Gopher: "symbol-to-word ratio greater than 0.1 for either the hash symbol or the
    # ellipsis"; reasons gopher_hash_ratio, gopher_ellipsis_ratio.
    gopher_max_symbol_word_ratio: float = 0.1
    gopher_max_bullet_lines_frac: float = 0.9  # Gopher: 90 % of lines; gopher_bullet_lines
    gopher_max_ellipsis_lines_frac: float = 0.3  # Gopher: 30 % of lines; gopher_ellipsis_lines
    gopher_min_alpha_words_frac: float = 0.8  # Gopher: 80 % of words; gopher_alpha_words
    gopher_min_stop_words: int = 2  # Gopher: "at least two of"; reason gopher_stop_words
    gopher_stop_words: list[str] = Field(  # Gopher's list
        default_factory=lambda: ["the", "be", "to", "of", "and", "that", "have", "with"]
    )

    # ------------------------------------------------------------------ Gopher repetition
    # Gopher table A1. Reasons gopher_dup_line_frac, gopher_dup_para_frac,
    # gopher_dup_line_char_frac, gopher_dup_para_char_frac.
    gopher_max_dup_line_frac: float = 0.30
    gopher_max_dup_para_frac: float = 0.30
    gopher_max_dup_line_char_frac: float = 0.20
    gopher_max_dup_para_char_frac: float = 0.20
    # Fraction of characters in the most frequent n-gram (Gopher table A1); reasons
    # gopher_top_2gram, gopher_top_3gram, gopher_top_4gram.
    gopher_max_top_2gram_char_frac: float = 0.20
    gopher_max_top_3gram_char_frac: float = 0.18
    gopher_max_top_4gram_char_frac: float = 0.16
    # Fraction of characters in duplicated n-grams (Gopher table A1); reasons
    # gopher_dup_5gram ... gopher_dup_10gram.
    gopher_max_dup_5gram_char_frac: float = 0.15
    gopher_max_dup_6gram_char_frac: float = 0.14
    gopher_max_dup_7gram_char_frac: float = 0.13
    gopher_max_dup_8gram_char_frac: float = 0.12
    gopher_max_dup_9gram_char_frac: float = 0.11
    gopher_max_dup_10gram_char_frac: float = 0.10

    # ------------------------------------------------------------------ C4
    # C4 removes lines; here the lines it would remove are counted and the page-level
    # consequences become reasons (see clean/quality.py).
    c4_min_sentences: int = 5  # C4: pages with fewer than 5 sentences; c4_too_few_sentences
    c4_min_words_per_line: int = 3  # C4: keep lines with at least 3 words
    c4_max_word_length: int = 1000  # C4 code: drop lines with a word longer than 1000 chars
    # C4 keeps only lines ending in terminal punctuation. FineWeb turned this off (it removed
    # too much, Penedo et al. 2024); set false to count sentences as FineWeb's C4 filter does.
    c4_terminal_punct: bool = True
    c4_lorem_ipsum: bool = True  # C4: drop any page with "lorem ipsum"; c4_lorem_ipsum
    c4_curly_bracket: bool = True  # C4: drop any page with a "{"; c4_curly_bracket
    # C4 removes every line mentioning "javascript" or a cookie/terms/privacy phrase, i.e. it
    # keeps none of them: a page with more such lines than this fails c4_javascript/c4_policy.
    c4_max_javascript_lines: int = 0
    c4_max_policy_lines: int = 0

    # ------------------------------------------------------------------ FineWeb
    # Fraction of lines ending in punctuation <= 0.12 fails (FineWeb); fineweb_line_punct.
    fineweb_min_line_punct_frac: float = 0.12
    # Fraction of lines of <= 30 characters >= 0.67 fails (FineWeb); fineweb_short_lines.
    fineweb_max_short_line_frac: float = 0.67
    fineweb_short_line_chars: int = 30
    # Fraction of characters in duplicated lines >= 0.1 fails (FineWeb paper, section 3.5;
    # datatrove's code default is 0.01); reason fineweb_dup_line_chars.
    fineweb_max_dup_line_char_frac: float = 0.1
    # Newlines per word > 0.3 fails (datatrove's FineWebQualityFilter, used to build FineWeb;
    # not in the paper); reason fineweb_list_ratio.
    fineweb_max_newline_word_ratio: float = 0.3
