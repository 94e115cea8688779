"""Language identification with py3langid, whose model ships inside the package (no download).

In:  an extracted text.
Out: (ISO 639-1 code, probability): the identifier's normalised probability (norm_probs=True)
     of its top language, so that a minimum score means the same for every page. Only the
     first `lang_max_chars` characters are read: the language is settled long before, and the
     cost grows with the text. py3langid is imported here only.

py3langid walks its byte-level automaton in a Python loop, about a microsecond per byte: as
much as a fifth of trafilatura's time per page. `LanguageId` computes the same features with
numpy instead. The automaton is an Aho-Corasick machine whose states are at most
`window` bytes deep (measured when the model loads), so the state after any byte depends only
on the last `window` bytes: reading those few bytes from the root, for every position at
once, gives every state of the sequential walk. Scoring is then py3langid's own (naive Bayes
log-probabilities, temperature sqrt(bytes), softmax, alias folding); a test checks that the
labels and scores equal `classify()`'s.
"""

from __future__ import annotations

import functools
import math
import unicodedata
from dataclasses import dataclass

import numpy as np
from py3langid.langid import MODEL_FILE, LanguageIdentifier


def _max_depth(nextmove: np.ndarray, rows: np.ndarray) -> int:
    """Length of the longest byte string a state stands for (its BFS distance from the root).

    States share transition rows (`tk_row`), so each row is expanded once.
    """
    depth = np.full(len(rows), -1, dtype=np.int64)
    row_done = np.zeros(int(rows.max()) + 1, dtype=bool)
    depth[0] = 0
    frontier = np.array([0])
    d = 0
    while len(frontier):
        d += 1
        new_rows = np.unique(rows[frontier])
        new_rows = new_rows[~row_done[new_rows]]
        row_done[new_rows] = True
        targets = nextmove[((new_rows << 8)[:, None] + np.arange(256)).ravel()]
        frontier = np.unique(targets[depth[targets] < 0])
        depth[frontier] = d
    return int(depth.max())


@dataclass(frozen=True)
class _Model:
    nextmove: np.ndarray  # (rows * 256,) next state by row and byte
    rowbase: np.ndarray  # (states,) row of each state, times 256
    output: np.ndarray  # (states,) feature emitted on entering a state, or -1
    window: int  # deepest state, in bytes
    ptc: np.ndarray  # (features, classes) float32 log-probabilities
    pc: np.ndarray  # (classes,) log-priors
    classes: tuple[str, ...]
    alias_pairs: tuple[tuple[int, int], ...]
    reference: LanguageIdentifier  # py3langid's own identifier, for tests


@functools.cache
def model() -> _Model:
    """The model, loaded once per process (worker processes fork from a process that did)."""
    ref = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    rows = np.asarray(ref.tk_row, dtype=np.int64)
    nextmove = np.frombuffer(ref.tk_nextmove, dtype=f"u{ref.tk_nextmove.itemsize}")
    return _Model(
        nextmove=nextmove,
        rowbase=rows << 8,
        output=np.asarray(ref.tk_output, dtype=np.int64),
        window=_max_depth(nextmove, rows),
        # float32 once (57 MB): converting the gathered float16 rows on every page costs
        # more than the rest of the identification.
        ptc=np.asarray(ref.nb_ptc, dtype=np.float32),
        pc=np.asarray(ref.nb_pc, dtype=np.float32),
        classes=tuple(ref.nb_classes),
        alias_pairs=tuple(ref._alias_pairs),
        reference=ref,
    )


class LanguageId:
    """Identifies the language of the first `max_chars` characters of a text."""

    def __init__(self, max_chars: int):
        self.max_chars = max_chars
        self.model = model()

    @staticmethod
    def _encode(text: str) -> bytes:
        # py3langid's own normalisation (LanguageIdentifier._encode).
        if text.isupper():
            text = text.lower()
        return unicodedata.normalize("NFC", text).encode("utf8", errors="surrogatepass")

    def _features(self, data: bytes) -> tuple[np.ndarray, np.ndarray]:
        """(feature ids, counts) of the automaton walk over data, as visit_counts finds them."""
        m = self.model
        b = np.frombuffer(data, dtype=np.uint8).astype(np.int64)
        n = len(b)
        states = np.zeros(n, dtype=np.int64)
        for k in range(m.window):
            lag = m.window - 1 - k  # step k reads, for position i, the byte at i - lag
            if lag >= n:
                continue
            states[lag:] = m.nextmove[m.rowbase[states[lag:]] + b[: n - lag]]
        feats = m.output[states]
        return np.unique(feats[feats >= 0], return_counts=True)

    def __call__(self, text: str) -> tuple[str, float]:
        m = self.model
        data = self._encode(text[: self.max_chars])
        ids, counts = self._features(data)
        if len(ids):
            scores = np.log1p(counts.astype(np.float32)) @ m.ptc[ids] + m.pc
        else:
            scores = np.zeros(len(m.classes), dtype=np.float32)  # uniform: abstain
        # T = sqrt(bytes) keeps the softmax calibrated across lengths (py3langid).
        scores = scores * (1.0 / math.sqrt(len(data) or 1))
        scores = np.exp(scores - scores.max())
        scores /= scores.sum()
        for i, j in m.alias_pairs:
            scores[i] += scores[j]
            scores[j] = 0.0
        best = int(scores.argmax())
        return str(m.classes[best]), float(scores[best])
