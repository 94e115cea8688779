"""Quality signals of an extracted text, and the published rules that judge them.

In:  a document's text (one paragraph per line, as trafilatura writes it) and a `CleanConfig`.
Out: `measure()` -> a dict of signals, one float/int column each in docs/*.parquet;
     `judge()` -> every `Reason` whose rule the signals fail. Nothing is removed here
     (annotate, then select: docs/design.md, "Principles" 1); a recipe chooses which codes to apply.

Rules implemented (definitions follow the reference code where the paper is silent):
- Gopher quality, Rae et al. 2021 appendix A.1.1: word count, mean word length, hash and
  ellipsis to word ratios, bullet and ellipsis line fractions, alphabetic-word fraction, stop
  words. A word is a whitespace token with surrounding punctuation stripped; punctuation-only
  tokens are not words (datatrove drops them too).
- Gopher repetition, Rae et al. 2021 table A1: duplicate line/paragraph fractions (by count and
  by characters), the character fraction of the most frequent 2-, 3-, 4-gram and of the
  duplicated 5- to 10-grams (datatrove's greedy count, which never counts an overlap twice).
  Blank lines are not lines; paragraphs are split at blank lines, so on trafilatura's text,
  which has none, the paragraph rules see one paragraph.
- C4, Raffel et al. 2020 section 2.2 and tensorflow_datasets c4_utils.clean_page. C4 removes
  lines: too long a word, no terminal punctuation, fewer than 3 words, "javascript", a policy
  or cookie phrase, each line judged by the first of these it fails, in that order. Here those
  lines are counted, not removed, and C4's page-level decisions become reasons: fewer than 5
  sentences left after the removal (c4_too_few_sentences), "lorem ipsum" or "{" in a line that
  survives the first three rules (c4_lorem_ipsum, c4_curly_bracket, as in C4's code). Since C4
  keeps none of the javascript and policy lines, a page with more of them than the configured
  number (0 by default) fails c4_javascript / c4_policy; a recipe that tolerates them ignores
  those codes. Sentences are counted with a punctuation rule, not NLTK's punkt as in C4.
- FineWeb, Penedo et al. 2024: fraction of lines ending in punctuation, fraction of short
  lines, fraction of characters in duplicated lines; and datatrove's newline-to-word ratio
  (the "list" rule used to build FineWeb).
- Decoding (this project's rule; none is published): the share of the text's characters that
  are U+FFFD, i.e. bytes no charset could decode (clean/decode.py). A share, not "any", so
  that one stray byte does not cost a long article (see max_replaced_frac in clean/config.py).
"""

from __future__ import annotations

import operator
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate, filterfalse, repeat
from typing import Any

import numpy as np

from webtext.clean.config import CleanConfig
from webtext.clean.reasons import Reason
from webtext.records import SIGNAL_COLUMNS

_PUNCT = string.punctuation + "“”‘’«»„…—–·•"
_ALPHA = re.compile(r"[^\W\d_]")  # a letter in any script
_PARAGRAPH_SPLIT = re.compile(r"\n{2,}")
# Gopher speaks of "a bullet point"; "-" and "*" are included because trafilatura writes list
# items as "- item".
_BULLETS = ("•", "●", "◦", "▪", "‣", "-", "*")
_ELLIPSES = ("...", "…")
_HASH_BASE = np.uint64(1_000_003)
TOP_NGRAMS = (2, 3, 4)
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)

# C4 (tensorflow_datasets c4_utils): end marks, citation markers, policy phrases.
_C4_END_MARKS = (".", "?", "!", '"')
_C4_CITATION = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]")
_C4_POLICY = (
    "terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies",
    "use cookies",
)
# A sentence ends at ., ! or ? (optionally followed by closing quotes/brackets) before a space
# or the end of the line: an approximation of punkt that is good enough to count to five.
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s|$)")
_FINEWEB_STOP_CHARS = (".", "'", '"', "!", "?")

# Every signal column, in the order written to Parquet, with its Arrow type: the docs contract
# (webtext.records.SIGNAL_COLUMNS). `measure()` fills each of them; the n-gram signals are named
# by the sizes above, so the contract must name one column per size.
SIGNALS = SIGNAL_COLUMNS
_NGRAM_SIGNALS = ([f"gopher_top_{n}gram_char_frac" for n in TOP_NGRAMS]
                  + [f"gopher_dup_{n}gram_char_frac" for n in DUP_NGRAMS])
if _missing := [name for name in _NGRAM_SIGNALS if name not in SIGNALS]:
    raise ImportError(f"webtext.records.SIGNAL_COLUMNS lacks {', '.join(_missing)}")


def words_of(text: str) -> list[str]:
    """Gopher's words: whitespace tokens without surrounding punctuation, none empty."""
    return list(filter(None, map(str.strip, text.split(), repeat(_PUNCT))))


def _duplicates(items: list[str]) -> tuple[int, int]:
    """(number of items seen before, characters in them), as Gopher counts duplicates."""
    seen: set[str] = set()
    n_dup = chars = 0
    for item in items:
        if item in seen:
            n_dup += 1
            chars += len(item)
        else:
            seen.add(item)
    return n_dup, chars


def _ngram_hashes(words: list[str]) -> Iterator[tuple[int, np.ndarray]]:
    """For n = 2, 3, ... 10 in turn, a 64-bit hash of the n-gram at each word position.

    Polynomial hashes of the words' own hashes in wrapping uint64 arithmetic: only n-grams of
    one document are compared, so a collision (probability of the order of 1e-14) is the
    only way the result could differ from comparing the words themselves. A generator, so
    that the longer n-grams are only hashed when the shorter ones repeat.
    """
    ids = np.fromiter(map(hash, words), dtype=np.int64, count=len(words)).view(np.uint64)
    h = ids
    for n in range(2, max(DUP_NGRAMS) + 1):
        if len(ids) < n:
            return
        h = h[:-1] * _HASH_BASE + ids[n - 1:]
        yield n, h


def _runs(grams: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(order, starts, lengths): a stable sort of the n-grams and its runs of equal values.

    order[starts[k]] is the first position of the k-th distinct n-gram (the sort is stable).
    """
    order = np.argsort(grams, kind="stable")
    ordered = grams[order]
    change = np.empty(len(ordered), dtype=bool)
    change[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=change[1:])
    starts = change.nonzero()[0]
    lengths = np.empty_like(starts)
    np.subtract(starts[1:], starts[:-1], out=lengths[:-1])
    lengths[-1] = len(ordered) - starts[-1]
    return order, starts, lengths


def _top_ngram_chars(grams: np.ndarray, prefix: list[int], n: int) -> int:
    """Characters covered by the most frequent n-gram: its length times its count.

    Ties go to the n-gram that occurs first, as with datatrove's Counter.most_common.
    """
    order, starts, lengths = _runs(grams)
    top = int(lengths.max())
    i = int(order[starts[lengths == top]].min())
    return (prefix[i + n] - prefix[i] + n - 1) * top


def _dup_ngram_chars(hashes: Iterator[tuple[int, np.ndarray]], prefix: list[int],
                     ) -> dict[int, int]:
    """Characters in duplicated n-grams for each n of DUP_NGRAMS, greedy left to right.

    datatrove's find_all_duplicate: an n-gram seen before counts, and the scan jumps past it,
    so overlapping repeats are not counted twice. Only positions whose n-gram occurs twice or
    more can be "seen before", so only those are walked. And an (n+1)-gram can repeat only
    where the n-grams at i and at i+1 both repeat, so each longer n is sorted over those
    candidates alone (every occurrence of a repeated (n+1)-gram is one), and the first n
    without any repeat ends the work: the same result as walking every position, at a fraction
    of the cost. `hashes` yields n-grams from n = 5.
    """
    out = dict.fromkeys(DUP_NGRAMS, 0)
    candidates: np.ndarray | None = None  # None: every position
    for n, grams in hashes:
        sub = grams if candidates is None else grams[candidates]
        if len(sub) < 2:
            break
        order, starts, lengths = _runs(sub)
        if len(starts) == len(sub):
            break  # no n-gram repeats, so no longer one does either
        repeated = np.zeros(len(sub), dtype=bool)
        repeated[order] = np.repeat(lengths > 1, lengths)
        positions = repeated.nonzero()[0] if candidates is None else candidates[repeated]
        seen: set[int] = set()
        chars = resume = 0
        for i, gram in zip(positions.tolist(), sub[repeated].tolist(), strict=True):
            if i < resume:
                continue  # inside an n-gram already counted
            if gram in seen:
                chars += prefix[i + n] - prefix[i] + n - 1
                resume = i + n
            else:
                seen.add(gram)
        out[n] = chars
        candidates = positions[:-1][positions[1:] - positions[:-1] == 1]
    return out


def _c4_lines(text: str, config: CleanConfig) -> dict[str, int]:
    """Count the lines C4 would remove, by the first rule each fails, and its page flags."""
    out = dict.fromkeys(
        ("c4_long_word_lines", "c4_no_punct_lines", "c4_short_lines", "c4_javascript_lines",
         "c4_policy_lines", "c4_kept_lines", "c4_sentences", "c4_lorem_ipsum",
         "c4_curly_bracket"), 0)
    # Whole-text checks first: a rule that no line of the text can fail is not tested per
    # line. (Lower-casing maps no non-ASCII character to these ASCII phrases in one place and
    # not in another, and str.split() never joins words across lines.)
    lower_text = text.lower()
    long_words = max(map(len, text.split()), default=0) > config.c4_max_word_length
    citations = "[" in text
    lorem = "lorem ipsum" in lower_text
    javascript = "javascript" in lower_text
    curly = "{" in text
    policies = [p for p in _C4_POLICY if p in lower_text]
    min_words = config.c4_min_words_per_line
    for raw in text.splitlines():
        line = raw.strip()
        words = line.split()
        if long_words and max(map(len, words), default=0) > config.c4_max_word_length:
            out["c4_long_word_lines"] += 1
            continue
        if citations:
            line = _C4_CITATION.sub("", line)
        if config.c4_terminal_punct and (
            not line.endswith(_C4_END_MARKS) or line.endswith("...")
        ):
            out["c4_no_punct_lines"] += 1
            continue
        if len(words) < min_words:
            out["c4_short_lines"] += 1
            continue
        if lorem or javascript or policies:
            lower = line.lower()
            # C4 drops the whole page on these two; the counting goes on so the line counts
            # stay complete.
            if lorem and "lorem ipsum" in lower:
                out["c4_lorem_ipsum"] = 1
            if javascript and "javascript" in lower:
                out["c4_javascript_lines"] += 1
                continue
        else:
            lower = ""
        if curly and "{" in line:
            out["c4_curly_bracket"] = 1
        if policies and any(p in lower for p in policies):
            out["c4_policy_lines"] += 1
            continue
        out["c4_kept_lines"] += 1
        out["c4_sentences"] += max(1, len(_SENTENCE_END.findall(line)))
    return out


def measure(text: str, config: CleanConfig) -> tuple[int, dict[str, Any]]:
    """(n_words, signals) of a non-empty text; every key of SIGNALS is present."""
    n_chars = len(text)
    words = words_of(text)
    n_words = len(words)
    per_word = 1.0 / n_words if n_words else 0.0
    lines = [line for line in text.splitlines() if line.strip()]
    per_line = 1.0 / len(lines) if lines else 0.0
    stop = frozenset(config.gopher_stop_words)
    lengths = list(map(len, words))
    s: dict[str, Any] = {"n_lines": len(lines)}

    # Gopher quality
    s["gopher_mean_word_length"] = sum(lengths) * per_word
    s["gopher_hash_ratio"] = text.count("#") * per_word
    s["gopher_ellipsis_ratio"] = (text.count("...") + text.count("…")) * per_word
    s["gopher_bullet_lines_frac"] = sum(
        1 for line in lines if line.lstrip().startswith(_BULLETS)) * per_line
    s["gopher_ellipsis_lines_frac"] = sum(
        1 for line in lines if line.rstrip().endswith(_ELLIPSES)) * per_line
    # str.isalpha settles most words at C speed; the regex looks only at the rest.
    not_alpha = list(filterfalse(str.isalpha, words))
    with_letter = n_words - len(not_alpha) + sum(1 for w in not_alpha if _ALPHA.search(w))
    s["gopher_alpha_words_frac"] = with_letter * per_word
    s["gopher_stop_words"] = sum(map(stop.__contains__, map(str.lower, words)))

    # Gopher repetition
    # A substring test first: the regex scan costs more than the rest of the paragraph rules.
    paragraphs = ([p for p in _PARAGRAPH_SPLIT.split(text.strip()) if p.strip()]
                  if "\n\n" in text else [text.strip()])
    n_dup, dup_chars = _duplicates(lines)
    s["gopher_dup_line_frac"] = n_dup * per_line
    s["gopher_dup_line_char_frac"] = dup_chars / n_chars
    n_dup, dup_chars = _duplicates(paragraphs)
    s["gopher_dup_para_frac"] = n_dup / len(paragraphs) if paragraphs else 0.0
    s["gopher_dup_para_char_frac"] = dup_chars / n_chars
    prefix = [0, *accumulate(lengths)]
    for n in TOP_NGRAMS:
        s[f"gopher_top_{n}gram_char_frac"] = 0.0
    hashes = _ngram_hashes(words)
    for n, grams in hashes:
        s[f"gopher_top_{n}gram_char_frac"] = _top_ngram_chars(grams, prefix, n) / n_chars
        if n == max(TOP_NGRAMS):
            break
    for n, chars in _dup_ngram_chars(hashes, prefix).items():
        s[f"gopher_dup_{n}gram_char_frac"] = chars / n_chars

    s.update(_c4_lines(text, config))

    # FineWeb: lines are split on "\n" with blank ones included, as in datatrove.
    fw_lines = text.split("\n")
    s["fineweb_line_punct_frac"] = sum(
        1 for line in fw_lines if line.endswith(_FINEWEB_STOP_CHARS)) / len(fw_lines)
    s["fineweb_short_line_frac"] = sum(
        1 for line in fw_lines if len(line) <= config.fineweb_short_line_chars) / len(fw_lines)
    non_newline_chars = n_chars - text.count("\n")
    dup_chars = _duplicates([line for line in fw_lines if line.strip()])[1]
    s["fineweb_dup_line_char_frac"] = dup_chars / non_newline_chars if non_newline_chars else 0.0
    s["fineweb_newline_word_ratio"] = text.count("\n") / max(n_words, 1)

    s["replaced_char_frac"] = text.count("\ufffd") / max(n_chars, 1)
    return n_words, s


@dataclass(frozen=True, slots=True)
class Rule:
    """A document fails `reason` when `signal <op> limit`; limit names a config field."""

    reason: Reason
    signal: str
    op: str  # "<", ">", "<=", ">="
    limit: str | int  # a CleanConfig field, or a constant
    enabled: str | None = None  # a CleanConfig bool that switches the rule off

    def threshold(self, config: CleanConfig) -> float:
        return getattr(config, self.limit) if isinstance(self.limit, str) else self.limit

    def fails(self, value: float, config: CleanConfig) -> bool:
        if self.enabled is not None and not getattr(config, self.enabled):
            return False
        return _OPS[self.op](value, self.threshold(config))


_OPS = {"<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge}

# Every quality rule, in the order of `Reason`: the one place that says which way each
# threshold cuts. FineWeb's comparisons are <= and >= where Gopher's are strict (datatrove).
RULES: tuple[Rule, ...] = (
    Rule(Reason.DECODE_ERROR, "replaced_char_frac", ">", "max_replaced_frac"),
    Rule(Reason.GOPHER_SHORT_DOC, "n_words", "<", "gopher_min_words"),
    Rule(Reason.GOPHER_LONG_DOC, "n_words", ">", "gopher_max_words"),
    Rule(Reason.GOPHER_SHORT_WORDS, "gopher_mean_word_length", "<",
         "gopher_min_mean_word_length"),
    Rule(Reason.GOPHER_LONG_WORDS, "gopher_mean_word_length", ">",
         "gopher_max_mean_word_length"),
    Rule(Reason.GOPHER_HASH_RATIO, "gopher_hash_ratio", ">", "gopher_max_symbol_word_ratio"),
    Rule(Reason.GOPHER_ELLIPSIS_RATIO, "gopher_ellipsis_ratio", ">",
         "gopher_max_symbol_word_ratio"),
    Rule(Reason.GOPHER_BULLET_LINES, "gopher_bullet_lines_frac", ">",
         "gopher_max_bullet_lines_frac"),
    Rule(Reason.GOPHER_ELLIPSIS_LINES, "gopher_ellipsis_lines_frac", ">",
         "gopher_max_ellipsis_lines_frac"),
    Rule(Reason.GOPHER_ALPHA_WORDS, "gopher_alpha_words_frac", "<",
         "gopher_min_alpha_words_frac"),
    Rule(Reason.GOPHER_STOP_WORDS, "gopher_stop_words", "<", "gopher_min_stop_words"),
    Rule(Reason.GOPHER_DUP_LINE_FRAC, "gopher_dup_line_frac", ">", "gopher_max_dup_line_frac"),
    Rule(Reason.GOPHER_DUP_PARA_FRAC, "gopher_dup_para_frac", ">", "gopher_max_dup_para_frac"),
    Rule(Reason.GOPHER_DUP_LINE_CHAR_FRAC, "gopher_dup_line_char_frac", ">",
         "gopher_max_dup_line_char_frac"),
    Rule(Reason.GOPHER_DUP_PARA_CHAR_FRAC, "gopher_dup_para_char_frac", ">",
         "gopher_max_dup_para_char_frac"),
    *(Rule(Reason(f"gopher_top_{n}gram"), f"gopher_top_{n}gram_char_frac", ">",
           f"gopher_max_top_{n}gram_char_frac") for n in TOP_NGRAMS),
    *(Rule(Reason(f"gopher_dup_{n}gram"), f"gopher_dup_{n}gram_char_frac", ">",
           f"gopher_max_dup_{n}gram_char_frac") for n in DUP_NGRAMS),
    Rule(Reason.C4_TOO_FEW_SENTENCES, "c4_sentences", "<", "c4_min_sentences"),
    Rule(Reason.C4_LOREM_IPSUM, "c4_lorem_ipsum", ">", 0, enabled="c4_lorem_ipsum"),
    Rule(Reason.C4_CURLY_BRACKET, "c4_curly_bracket", ">", 0, enabled="c4_curly_bracket"),
    Rule(Reason.C4_JAVASCRIPT, "c4_javascript_lines", ">", "c4_max_javascript_lines"),
    Rule(Reason.C4_POLICY, "c4_policy_lines", ">", "c4_max_policy_lines"),
    Rule(Reason.FINEWEB_LINE_PUNCT, "fineweb_line_punct_frac", "<=",
         "fineweb_min_line_punct_frac"),
    Rule(Reason.FINEWEB_SHORT_LINES, "fineweb_short_line_frac", ">=",
         "fineweb_max_short_line_frac"),
    Rule(Reason.FINEWEB_DUP_LINE_CHARS, "fineweb_dup_line_char_frac", ">=",
         "fineweb_max_dup_line_char_frac"),
    Rule(Reason.FINEWEB_LIST_RATIO, "fineweb_newline_word_ratio", ">",
         "fineweb_max_newline_word_ratio"),
)
RULE_BY_REASON = {rule.reason: rule for rule in RULES}


def judge(n_words: int, s: dict[str, Any], config: CleanConfig) -> list[Reason]:
    """Every quality rule the signals fail, in the order of `Reason`."""
    values = {"n_words": n_words, **s}
    return [rule.reason for rule in RULES if rule.fails(values[rule.signal], config)]
