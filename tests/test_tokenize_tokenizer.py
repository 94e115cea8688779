"""The SentencePiece tokenizer: exact round-trips, an end-of-document id text cannot produce,
byte fallback, deterministic training."""

from __future__ import annotations

import random

import pytest
from tokenize_fixtures import HARD_TEXTS, make_text

from webtext.tokenize.config import TokenizeConfig
from webtext.tokenize.spm import Tokenizer, TokenizerTrainingError, train_model
from webtext.tokenize.stage import training_sentences


def corpus(seed: int = 0, n: int = 150) -> list[str]:
    rng = random.Random(seed)
    return [make_text(rng, rng.randint(50, 200)) for _ in range(n)] + HARD_TEXTS


def small(**kw) -> TokenizeConfig:
    return TokenizeConfig(vocab_size=kw.pop("vocab_size", 400), **kw)


@pytest.fixture(scope="module")
def bpe() -> Tokenizer:
    return Tokenizer(train_model(training_sentences(iter(corpus())), small()))


def random_unicode(rng: random.Random, n: int) -> str:
    """Code points from every plane in use, surrogates excluded (not valid in UTF-8)."""
    out = []
    for _ in range(n):
        lo, hi = rng.choice([(0, 0x7F), (0x80, 0x7FF), (0x800, 0xD7FF), (0xE000, 0xFFFF),
                             (0x10000, 0x10FFFF), (0x2580, 0x2582), (0xE000, 0xE002)])
        out.append(chr(rng.randint(lo, hi)))
    return "".join(out)


@pytest.mark.parametrize("text", HARD_TEXTS)
def test_hard_texts_round_trip(bpe, text):
    assert bpe.decode(bpe.encode([text])[0]) == text


def test_random_unicode_round_trips(bpe):
    rng = random.Random(1)
    texts = [random_unicode(rng, rng.randint(0, 60)) for _ in range(300)]
    for text, ids in zip(texts, bpe.encode(texts, threads=2), strict=True):
        assert bpe.decode(ids) == text


def test_end_of_document_id_cannot_come_from_text(bpe):
    assert bpe.eod_id >= 0
    texts = ["<|endoftext|>", "a <|endoftext|> b", "</s><s><unk><pad>", "<|endoftext|>" * 5]
    for ids in bpe.encode(texts):
        assert bpe.eod_id not in ids and 0 not in ids  # nor <unk>, thanks to byte fallback
    assert bpe.decode([bpe.eod_id]) == ""  # a control symbol decodes to nothing


def test_characters_outside_the_vocabulary_fall_back_to_bytes(bpe):
    text = "\U00013000"  # an Egyptian hieroglyph: never in the training text
    ids = bpe.encode([text])[0]
    assert len(ids) == len(text.encode("utf-8")) and set(ids) <= set(bpe.byte_ids)
    assert len(bpe.byte_ids) == 256


def test_training_is_deterministic_and_records_no_temporary_path():
    texts = corpus(seed=2, n=60)
    a = train_model(training_sentences(iter(texts)), small(vocab_size=500))
    b = train_model(training_sentences(iter(texts)), small(vocab_size=500))
    assert a == b
    assert b"webtext-spm-" not in a and b".tsv" not in a
    other = train_model(training_sentences(iter(corpus(seed=3, n=60))), small(vocab_size=500))
    assert other != a


def test_unigram_option_round_trips():
    tok = Tokenizer(train_model(training_sentences(iter(corpus(n=60))),
                                small(model_type="unigram")))
    assert tok.model_type == "unigram"
    for text in HARD_TEXTS:
        assert tok.decode(tok.encode([text])[0]) == text


def test_model_type_and_vocab_are_read_from_the_model(bpe):
    assert bpe.model_type == "bpe" and bpe.vocab_size == 400


def test_vocabulary_larger_than_the_sample_allows_is_a_clear_error():
    with pytest.raises(TokenizerTrainingError, match="[Vv]ocab"):
        train_model(iter(["tiny text only"]), small(vocab_size=5000))
