"""The trainer's one seam to SentencePiece: decode sampled ids to text, encode prompts.

In:  a `tokenizer.model` file (SentencePiece model proto, as the tokenize stage writes it).
Out: `Tokenizer.encode(text) -> ids`, `Tokenizer.decode(ids) -> text`; `train_tokenizer` makes
     a small BPE model from texts, for the fixtures of tests and benchmarks only.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

import sentencepiece as spm


class Tokenizer:
    def __init__(self, model_path: Path) -> None:
        self.sp = spm.SentencePieceProcessor(model_file=str(model_path))

    @property
    def vocab_size(self) -> int:
        return self.sp.vocab_size()

    def encode(self, text: str) -> list[int]:
        return self.sp.encode(text)

    def decode(self, ids: Iterable[int]) -> str:
        # Ids past the tokenizer's vocabulary come from the model's padded embedding rows.
        return self.sp.decode([int(i) for i in ids if 0 <= int(i) < self.vocab_size])


def train_tokenizer(texts: list[str], model_path: Path, vocab_size: int, eod_id: int = 2) -> Path:
    """Train a byte-fallback BPE model (fixtures only; the tokenize stage owns real ones)."""
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=buf, vocab_size=vocab_size,
        model_type="bpe", byte_fallback=True, character_coverage=0.9995,
        max_sentence_length=1 << 20, unk_id=0, bos_id=-1, eos_id=eod_id, pad_id=-1,
        minloglevel=2,
    )
    Path(model_path).write_bytes(buf.getvalue())
    return Path(model_path)
