"""The SentencePiece seam: train a tokenizer that round-trips any text, load it, encode batches.

In:  training sentences (lines of the sampled documents) and a `TokenizeConfig`; later, texts.
Out: the bytes of a SentencePiece model file; a `Tokenizer` whose `decode(encode(t)) == t` for
     every Unicode string, and whose end-of-document id cannot be produced from text.

How exact round-trips are obtained (SentencePiece, Kudo & Richardson 2018, normalises by default):
- no NFKC (the identity rule), no whitespace collapsing, no dummy prefix space;
- `byte_fallback` (as in LLaMA): a character outside the vocabulary is spelled in UTF-8 byte
  pieces instead of `<unk>`, so control characters, `\\r`, rare CJK and emoji survive;
- SentencePiece writes a space as U+2581 ("▁") and decodes every "▁" back to a space, so a
  literal U+2581 would come back as a space. A normalisation rule escapes it to the pair
  U+E000 U+E001 (and U+E000 itself to U+E000 U+E000), and a denormalisation rule stored in the
  model undoes that at decode time, so every reader of the model file gets the exact text back;
- the end-of-document piece is a control symbol: control symbols are never matched in text, so
  a literal "<|endoftext|>" in a document is spelled with ordinary pieces.

This is the only module that imports sentencepiece (docs/design.md, "Conventions" 2).
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import sentencepiece as spm

from webtext.tokenize.config import TokenizeConfig

# Escape of U+2581 (see the module docstring); U+E000 and U+E001 are private-use characters.
_NORMALIZATION_TSV = "2581\tE000 E001\nE000\tE000 E000\n"
_DENORMALIZATION_TSV = "E000 E001\t2581\nE000 E000\tE000\n"
# Training sentences are lines, so the trainer never sees a newline: make it a piece of its own.
_USER_SYMBOLS = ["\n"]
# Web paragraphs are often longer than SentencePiece's default cap of 4192 bytes per sentence,
# which it would silently skip.
_MAX_SENTENCE_BYTES = 1 << 16


class TokenizerTrainingError(ValueError):
    """SentencePiece refused the training input (usually: sample too small for the vocab)."""


def train_model(sentences: Iterable[str], config: TokenizeConfig) -> bytes:
    """Train a SentencePiece model on `sentences`; return the model file's bytes."""
    out = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="webtext-spm-") as tmp:
        norm, denorm = Path(tmp, "normalization.tsv"), Path(tmp, "denormalization.tsv")
        norm.write_text(_NORMALIZATION_TSV, encoding="ascii")
        denorm.write_text(_DENORMALIZATION_TSV, encoding="ascii")
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(sentences),
                model_writer=out,
                model_type=config.model_type,
                # Exactly this many pieces (hard_vocab_limit stays on): a sample too small for
                # it fails with the largest size it supports, rather than silently yielding a
                # smaller vocabulary than the model and the run config were sized for.
                vocab_size=config.vocab_size,
                character_coverage=config.character_coverage,
                byte_fallback=True,
                normalization_rule_tsv=str(norm),
                denormalization_rule_tsv=str(denorm),
                remove_extra_whitespaces=False,
                add_dummy_prefix=False,
                allow_whitespace_only_pieces=True,  # runs of spaces (code indentation)
                split_digits=config.split_digits,
                user_defined_symbols=_USER_SYMBOLS,
                max_sentence_length=_MAX_SENTENCE_BYTES,
                unk_id=0,
                eos_id=1,
                eos_piece=config.eod_piece,
                bos_id=-1,
                pad_id=-1,
                num_threads=config.train_threads,
                minloglevel=2,
            )
        except RuntimeError as e:
            # "INTERNAL: src/x.cc(638) [check] Vocabulary size ..." -> the sentence after "] "
            message = str(e).strip().splitlines()[-1]
            raise TokenizerTrainingError(message.rsplit("] ", 1)[-1]) from None
    return _strip_rule_paths(out.getvalue())


class Tokenizer:
    """A loaded SentencePiece model with the facts the stage and its readers need."""

    def __init__(self, model: bytes) -> None:
        self.model = model
        self.sha256 = hashlib.sha256(model).hexdigest()
        self._sp = spm.SentencePieceProcessor(model_proto=model)
        self.vocab_size: int = self._sp.get_piece_size()
        self.eod_id: int = self._sp.eos_id()
        if self.eod_id < 0:
            raise ValueError("the tokenizer has no end-of-document (eos) piece")
        self.model_type = _model_type(model)
        # Ids of the 256 byte-fallback pieces, for the byte-fallback rate.
        self.byte_ids = [i for i in range(self.vocab_size) if self._sp.is_byte(i)]

    @classmethod
    def load(cls, path: Path) -> Tokenizer:
        return cls(Path(path).read_bytes())

    def encode(self, texts: Sequence[str], threads: int = 1) -> list[list[int]]:
        """Token ids of each text, without the end-of-document id."""
        return self._sp.encode(list(texts), num_threads=threads)

    def decode(self, ids: Sequence[int]) -> str:
        return self._sp.decode(list(ids))


# --- protobuf surgery -------------------------------------------------------------------------
# SentencePiece records the path of the rule files in the model (NormalizerSpec field 6,
# `normalization_rule_tsv`, in ModelProto fields 3 and 5). The path is a temporary directory, so
# it would make two trainings on the same input differ; the rules themselves are compiled into
# `precompiled_charsmap`. We drop that one string field with a minimal wire-format rewrite
# (protobuf is not a dependency), and read the model type the same way.

_SPEC_FIELDS = (3, 5)  # ModelProto.normalizer_spec, ModelProto.denormalizer_spec
_RULE_TSV_FIELD = 6  # NormalizerSpec.normalization_rule_tsv


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def _put_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _fields(buf: bytes) -> Iterable[tuple[int, int, bytes, bytes]]:
    """(field number, wire type, raw bytes of the whole field, payload) of each field."""
    pos = 0
    while pos < len(buf):
        start = pos
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, pos = _varint(buf, pos)
            payload = b""
        elif wire == 1:
            pos += 8
            payload = b""
        elif wire == 5:
            pos += 4
            payload = b""
        elif wire == 2:
            n, pos = _varint(buf, pos)
            payload = buf[pos : pos + n]
            pos += n
        else:
            raise ValueError(f"unexpected protobuf wire type {wire}")
        yield number, wire, buf[start:pos], payload


_TRAINER_SPEC_FIELD, _MODEL_TYPE_FIELD = 2, 3  # ModelProto.trainer_spec, TrainerSpec.model_type
_MODEL_TYPES = {1: "unigram", 2: "bpe", 3: "word", 4: "char"}  # TrainerSpec.ModelType


def _model_type(model: bytes) -> str:
    """The trainer spec's model type (the Python API does not expose it without protobuf)."""
    for number, wire, _, payload in _fields(model):
        if number == _TRAINER_SPEC_FIELD and wire == 2:
            for n, w, raw, _ in _fields(payload):
                if n == _MODEL_TYPE_FIELD and w == 0:
                    return _MODEL_TYPES.get(_varint(raw, 1)[0], "unknown")
    return "unigram"  # the proto's default


def _strip_rule_paths(model: bytes) -> bytes:
    out = bytearray()
    for number, wire, raw, payload in _fields(model):
        if number in _SPEC_FIELDS and wire == 2:
            inner = b"".join(r for n, _, r, _ in _fields(payload) if n != _RULE_TSV_FIELD)
            out += _put_varint((number << 3) | 2) + _put_varint(len(inner)) + inner
        else:
            out += raw
    return bytes(out)
