"""Tokenizer statistics of a tokenized variant, written to the build's stats.

In:  token-id histograms of the finished shards, the tokenizer, the UTF-8 bytes encoded.
Out: bytes per token (text tokens, the end-of-document ids left out), the byte-fallback rate
     (share of text tokens that are raw UTF-8 byte pieces: characters the vocabulary does not
     cover), the share of the vocabulary used, and the counts they come from.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from webtext.tokenize.spm import Tokenizer


def tokenizer_stats(histograms: Sequence[np.ndarray], tokenizer: Tokenizer, n_bytes: int) -> dict:
    hist = np.zeros(tokenizer.vocab_size, dtype=np.int64)
    for h in histograms:
        hist += h
    n_docs = int(hist[tokenizer.eod_id])
    text_hist = hist.copy()
    text_hist[tokenizer.eod_id] = 0
    n_text = int(text_hist.sum())
    n_byte = int(text_hist[tokenizer.byte_ids].sum()) if tokenizer.byte_ids else 0
    used = int(np.count_nonzero(text_hist))
    return {
        "docs": n_docs,
        "text_tokens": n_text,
        "bytes": int(n_bytes),
        "bytes_per_token": round(n_bytes / n_text, 4) if n_text else None,
        "byte_fallback_tokens": n_byte,
        "byte_fallback_rate": round(n_byte / n_text, 6) if n_text else None,
        "vocab_used": used,
        "vocab_size": tokenizer.vocab_size,
        "vocab_used_share": round(used / tokenizer.vocab_size, 4),
    }
