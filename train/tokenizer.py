"""The trainer's view of the pipeline's tokenizer: decode sampled ids, encode prompts.

`webtext.tokenize.spm` is the one module importing SentencePiece (docs/design.md, "Conventions");
this wraps it with the single-text calls the trainer needs.

In:  a `tokenizer.model` file, as the tokenize stage writes it.
Out: `Tokenizer.encode(text) -> ids`, `Tokenizer.decode(ids) -> text`; `train_tokenizer` makes
     a small model from texts with the tokenize stage's own trainer (test fixtures only).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from webtext.tokenize.config import TokenizeConfig
from webtext.tokenize.spm import Tokenizer as _StageTokenizer
from webtext.tokenize.spm import train_model


class Tokenizer:
    def __init__(self, model_path: Path) -> None:
        self._tok = _StageTokenizer.load(Path(model_path))

    @property
    def vocab_size(self) -> int:
        return self._tok.vocab_size

    @property
    def eod_id(self) -> int:
        return self._tok.eod_id

    def encode(self, text: str) -> list[int]:
        return self._tok.encode([text])[0]

    def decode(self, ids: Iterable[int]) -> str:
        # Ids past the tokenizer's vocabulary come from the model's padded embedding rows.
        return self._tok.decode([int(i) for i in ids if 0 <= int(i) < self.vocab_size])


def train_tokenizer(texts: list[str], model_path: Path, vocab_size: int) -> Path:
    """Train a byte-fallback BPE model (fixtures only; the tokenize stage owns real ones)."""
    config = TokenizeConfig(vocab_size=vocab_size, train_threads=1)
    Path(model_path).write_bytes(train_model(texts, config))
    return Path(model_path)
