"""One test per quality reason code (Gopher, C4, FineWeb), each with a small inline text.

Each case starts from PROSE, which passes every rule (checked first), and makes it fail one
rule; the test asserts that rule's code is reported. The n-gram counting is also checked
against a direct transcription of datatrove's reference functions.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from webtext.clean import quality
from webtext.clean.config import CleanConfig
from webtext.clean.fixture import PROSE, PROSE_LINES
from webtext.clean.reasons import NO_TEXT, Reason

CONFIG = CleanConfig()


def reasons_of(text: str, config: CleanConfig = CONFIG) -> list[Reason]:
    n_words, signals = quality.measure(text, config)
    assert set(signals) == set(quality.SIGNALS)
    return quality.judge(n_words, signals, config)


def test_prose_passes_every_rule():
    assert reasons_of(PROSE) == []


def _numbered(n: int, template: str) -> str:
    return "\n".join(template.format(i=i, w=_WORDS[i % len(_WORDS)]) for i in range(n))


_WORDS = ("apple", "river", "garden", "window", "bridge", "candle", "forest", "marble",
          "pocket", "ladder", "silver", "thunder", "velvet", "harbor", "meadow", "lantern")

CASES: dict[Reason, tuple[str, dict]] = {
    # Undecodable bytes all over the text (every "the" lost a letter): over 1 % of characters.
    Reason.DECODE_ERROR: (PROSE.replace("the ", "th\ufffd "), {}),
    Reason.GOPHER_SHORT_DOC: ("The page has moved to a new address.", {}),
    # Published bound is 100,000 words; a lower one keeps the inline text small.
    Reason.GOPHER_LONG_DOC: (PROSE, {"gopher_max_words": 60}),
    Reason.GOPHER_SHORT_WORDS: (" ".join(["It is so, as we do it, to be or go at it."] * 8)
                                + "\n" + PROSE_LINES[0], {}),
    Reason.GOPHER_LONG_WORDS: (" ".join(
        ["Internationalization", "characteristically", "misunderstandings", "responsibilities",
         "telecommunications", "incomprehensibility"] * 10) + ".", {}),
    Reason.GOPHER_HASH_RATIO: (PROSE + "\n" + " ".join(f"#tag{i}" for i in range(20)) + ".",
                               {}),
    Reason.GOPHER_ELLIPSIS_RATIO: (PROSE.replace(" the ", " the... ").replace(" and ", " and… "),
                                   {}),
    Reason.GOPHER_BULLET_LINES: ("\n".join(f"• {line}" for line in PROSE_LINES), {}),
    Reason.GOPHER_ELLIPSIS_LINES: ("\n".join(line[:-1] + "..." if i % 2 else line
                                             for i, line in enumerate(PROSE_LINES)), {}),
    Reason.GOPHER_ALPHA_WORDS: (PROSE + "\n" + " ".join(str(1000 + i) for i in range(400))
                                + ".", {}),
    Reason.GOPHER_STOP_WORDS: (" ".join(f"Quiet {w} sleeps beside every {_WORDS[-i - 1]}."
                                        for i, w in enumerate(_WORDS)), {}),
    Reason.GOPHER_DUP_LINE_FRAC: ("\n".join(PROSE_LINES[:2] * 4), {}),
    Reason.GOPHER_DUP_PARA_FRAC: ("\n\n".join(["\n".join(PROSE_LINES[:3])] * 3), {}),
    Reason.GOPHER_DUP_LINE_CHAR_FRAC: (PROSE + "\n" + "\n".join(PROSE_LINES[:2]), {}),
    Reason.GOPHER_DUP_PARA_CHAR_FRAC: ("\n\n".join(["\n".join(PROSE_LINES[:3]),
                                                    "\n".join(PROSE_LINES[3:]),
                                                    "\n".join(PROSE_LINES[:3])]), {}),
    Reason.GOPHER_TOP_2GRAM: (" ".join(f"New York {w}." for w in _WORDS * 2), {}),
    Reason.GOPHER_TOP_3GRAM: (" ".join(f"the old town {w}." for w in _WORDS * 2), {}),
    Reason.GOPHER_TOP_4GRAM: (" ".join(f"in the old town {w}." for w in _WORDS * 2), {}),
    Reason.C4_TOO_FEW_SENTENCES: ("\n".join(PROSE_LINES[:2]) + "\n" + " ".join(
        f"{w} and more {w} items listed here" for w in _WORDS), {}),
    Reason.C4_LOREM_IPSUM: (PROSE + "\nLorem ipsum dolor sit amet, consectetur adipiscing.",
                            {}),
    Reason.C4_CURLY_BRACKET: (PROSE + "\nWrite the mapping as {key: value} in the file.", {}),
    Reason.C4_JAVASCRIPT: (PROSE + "\nPlease enable JavaScript to see the comments.", {}),
    Reason.C4_POLICY: (PROSE + "\nBy using this site you agree to our privacy policy.", {}),
    Reason.FINEWEB_LINE_PUNCT: ("\n".join(line.rstrip(".") for line in PROSE_LINES), {}),
    Reason.FINEWEB_SHORT_LINES: (PROSE + "\n" + _numbered(14, "{w} {i}"), {}),
    Reason.FINEWEB_DUP_LINE_CHARS: (PROSE + "\n" + PROSE_LINES[2], {}),
    Reason.FINEWEB_LIST_RATIO: (PROSE + "\n" + _numbered(60, "{w}{i}."), {}),
}
# Duplicated n-grams for n = 5 ... 10: one repeated passage of 10+ words fails all of them.
for _n in quality.DUP_NGRAMS:
    CASES[Reason(f"gopher_dup_{_n}gram")] = (PROSE + "\n" + " ".join(PROSE_LINES[1:3]), {})


def test_every_rule_has_a_case():
    """The cases below cover every code that a text can fail (the rest: test_clean_page)."""
    text_codes = {r for r in Reason if r not in NO_TEXT and not r.startswith("lang_")}
    assert set(CASES) == text_codes
    assert {rule.reason for rule in quality.RULES} == text_codes


@pytest.mark.parametrize("reason", list(CASES), ids=str)
def test_rule_fails(reason: Reason):
    text, overrides = CASES[reason]
    config = CONFIG.model_copy(update=overrides)
    assert reason in reasons_of(text, config)
    assert reason not in reasons_of(PROSE)  # clean prose passes the rule at its defaults
    if overrides:  # and the lowered bound, not the text alone, is what fails the case
        assert reason not in reasons_of(text)


def test_decode_error_is_a_share_of_the_text():
    one = PROSE.replace("library", "libr\ufffdry", 1)  # one stray byte in ~540 characters
    _, s = quality.measure(one, CONFIG)
    assert s["replaced_char_frac"] == 1 / len(one)
    assert reasons_of(one) == []
    assert reasons_of(one, CONFIG.model_copy(update={"max_replaced_frac": 0.0})) == [
        Reason.DECODE_ERROR]


def test_c4_line_rules_follow_c4_order():
    # C4 drops a line at its first failing rule: a "javascript" line without terminal
    # punctuation is a no-punctuation line, and "{" in such a line does not drop the page.
    text = PROSE + "\nEnable JavaScript {to continue}"
    _, s = quality.measure(text, CONFIG)
    assert (s["c4_no_punct_lines"], s["c4_javascript_lines"], s["c4_curly_bracket"]) == (1, 0, 0)
    assert s["c4_kept_lines"] == len(PROSE_LINES)


def test_switches_turn_rules_off():
    text = PROSE + "\nWrite the mapping as {key: value} in the file."
    off = CONFIG.model_copy(update={"c4_curly_bracket": False})
    assert Reason.C4_CURLY_BRACKET not in reasons_of(text, off)


# ------------------------------------------------------------------ reference n-gram counts
# datatrove's gopher_repetition_filter functions, transcribed: the reference semantics.
def _ref_ngrams(words: list[str], n: int) -> list[str]:
    return [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]


def _ref_top(words: list[str], n: int) -> int:
    grams = _ref_ngrams(words, n)
    if not grams:
        return 0
    gram, count = Counter(grams).most_common(1)[0]
    return len(gram) * count


def _ref_all_dup(words: list[str], n: int) -> int:
    grams = _ref_ngrams(words, n)
    seen, chars, i = set(), 0, 0
    while i < len(grams):
        if grams[i] in seen:
            chars += len(grams[i])
            i += n
        else:
            seen.add(grams[i])
            i += 1
    return chars


@pytest.mark.parametrize("seed", range(6))
def test_ngram_signals_match_reference(seed: int):
    rng = random.Random(seed)
    vocab = _WORDS[: rng.randint(3, len(_WORDS))]
    text = " ".join(rng.choice(vocab) for _ in range(rng.randint(5, 400)))
    words = quality.words_of(text)
    _, s = quality.measure(text, CONFIG)
    for n in quality.TOP_NGRAMS:
        assert s[f"gopher_top_{n}gram_char_frac"] == pytest.approx(_ref_top(words, n) / len(text))
    for n in quality.DUP_NGRAMS:
        assert s[f"gopher_dup_{n}gram_char_frac"] == pytest.approx(
            _ref_all_dup(words, n) / len(text))
