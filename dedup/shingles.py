"""Normalised words, exact-text hashes and word n-gram hashes, computed with numpy per document.

In:  a document's text.
Out: its normalised words (lower-cased alphanumeric words, the normalisation of the GPT-2
     paper's overlap analysis: "only lower-cased alphanumeric words with a single space as a
     delimiter"), a 64-bit hash of that normalised text (exact dedup), and one 64-bit hash per
     word n-gram (MinHash shingles, decontamination n-grams).

The n-gram hash is a function of the n-gram's words only, so `shingle_hash64(b"w1 w2 w3")`
(plain Python, one shingle) equals the numpy value computed for that n-gram inside a whole
document; that is what lets datasketch reproduce our signatures bit for bit. Construction:
each word's UTF-8 bytes c_0..c_k get h = sum((c_i + 1) * B**i) mod 2**64 (a prefix-sum over
the whole document in numpy), then the MurmurHash3 64-bit finalizer; an n-gram is
fmix64(sum_j word_j * C_j) mod 2**64 with fixed odd constants C_j.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache

import numpy as np

WORD = re.compile(r"[^\W_]+")  # alphanumeric runs in any script; "_" is \w but not a letter

_U64 = np.uint64
_MASK = (1 << 64) - 1
_BASE = 0x100000001B3  # the FNV-1a 64-bit prime: odd, so invertible mod 2**64
_BASE_INV = pow(_BASE, -1, 1 << 64)
_FMIX64 = (33, 0xFF51AFD7ED558CCD, 33, 0xC4CEB9FE1A85EC53, 33)


def normalize_words(text: str) -> list[str]:
    """Lower-cased alphanumeric words of `text`, in order."""
    return WORD.findall(text.lower())


def text_hash(words: list[str]) -> int:
    """64-bit hash of the normalised text: equal for texts that differ only in case,
    punctuation and whitespace (exact dedup)."""
    digest = hashlib.blake2b(" ".join(words).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _fmix64_int(h: int) -> int:
    s1, m1, s2, m2, s3 = _FMIX64
    h ^= h >> s1
    h = (h * m1) & _MASK
    h ^= h >> s2
    h = (h * m2) & _MASK
    return h ^ (h >> s3)


def fmix64(h: np.ndarray) -> np.ndarray:
    """The MurmurHash3 64-bit finalizer on a uint64 array (a bijection that avalanches)."""
    s1, m1, s2, m2, s3 = (_U64(x) for x in _FMIX64)
    h = h ^ (h >> s1)
    h = h * m1
    h = h ^ (h >> s2)
    h = h * m2
    return h ^ (h >> s3)


def fmix64_inplace(h: np.ndarray, tmp: np.ndarray) -> None:
    """`h = fmix64(h)` in place, with `tmp` (same shape, uint64) as the only scratch: two
    arrays instead of the six temporaries of `fmix64`, for arrays of one row per document."""
    s1, m1, s2, m2, s3 = (_U64(x) for x in _FMIX64)
    h ^= np.right_shift(h, s1, out=tmp)
    h *= m1
    h ^= np.right_shift(h, s2, out=tmp)
    h *= m2
    h ^= np.right_shift(h, s3, out=tmp)


@cache
def _combine_constants(n: int) -> tuple[int, ...]:
    """n fixed odd 64-bit constants (splitmix64 from a fixed state), one per n-gram slot."""
    out, state = [], 0x9E3779B97F4A7C15
    for _ in range(n):
        state = (state + 0x9E3779B97F4A7C15) & _MASK
        out.append(_fmix64_int(state) | 1)
    return tuple(out)


class _Powers:
    """B**i and B**-i mod 2**64 for i < size, grown on demand (shared by a whole process)."""

    def __init__(self) -> None:
        self.pow = np.ones(1, dtype=_U64)
        self.inv = np.ones(1, dtype=_U64)

    def ensure(self, size: int) -> None:
        if size <= len(self.pow):
            return
        size = max(size, 2 * len(self.pow), 4096)
        # Multiplication of uint64 arrays wraps, which is the intended arithmetic mod 2**64.
        self.pow = np.concatenate([[_U64(1)], np.cumprod(np.full(size - 1, _BASE, _U64))])
        self.inv = np.concatenate([[_U64(1)], np.cumprod(np.full(size - 1, _BASE_INV, _U64))])


_POWERS = _Powers()


def word_hashes(words: list[str]) -> np.ndarray:
    """One 64-bit hash per word (uint64 array), computed for all words at once."""
    if not words:
        return np.empty(0, dtype=_U64)
    data = np.frombuffer(" ".join(words).encode("utf-8"), dtype=np.uint8)
    size = len(data)
    _POWERS.ensure(size + 1)
    prefix = np.zeros(size + 1, dtype=_U64)
    np.cumsum((data.astype(_U64) + _U64(1)) * _POWERS.pow[:size], out=prefix[1:])
    spaces = np.flatnonzero(data == 32)  # words never contain a space: they are \w runs
    starts = np.concatenate([[0], spaces + 1])
    ends = np.concatenate([spaces, [size]])
    # The space bytes inside [start, end) are never included, so each word's hash starts
    # at power 0, exactly as if the word were hashed alone.
    return fmix64((prefix[ends] - prefix[starts]) * _POWERS.inv[starts])


def ngram_hashes(words: list[str], n: int, short: bool = True) -> np.ndarray:
    """64-bit hashes of every word n-gram of `words` (uint64, with repeats, in order).

    A text shorter than n words gives one hash of all its words when `short` (a document
    is never without shingles) and none otherwise (decontamination counts only full n-grams).
    """
    wh = word_hashes(words)
    if len(wh) == 0 or (len(wh) < n and not short):
        return np.empty(0, dtype=_U64)
    count = max(1, len(wh) - n + 1)
    width = min(n, len(wh))
    consts = _combine_constants(n)
    acc = wh[0:count] * _U64(consts[0])
    for j in range(1, width):
        acc = acc + wh[j : j + count] * _U64(consts[j])
    return fmix64(acc)


def shingles(words: list[str], n: int) -> list[bytes]:
    """The shingles themselves, as datasketch takes them: n words joined by one space."""
    if not words:
        return []
    count = max(1, len(words) - n + 1)
    return [" ".join(words[i : i + n]).encode("utf-8") for i in range(count)]


def shingle_hash64(shingle: bytes) -> int:
    """The 64-bit hash of one shingle in plain Python: equal to the numpy value in
    `ngram_hashes` for the same words (the reference that datasketch can call)."""
    words = shingle.split(b" ")
    consts = _combine_constants(len(words))
    acc = 0
    for slot, word in enumerate(words):
        h, p = 0, 1
        for c in word:
            h = (h + (c + 1) * p) & _MASK
            p = (p * _BASE) & _MASK
        acc = (acc + _fmix64_int(h) * consts[slot]) & _MASK
    return _fmix64_int(acc)
