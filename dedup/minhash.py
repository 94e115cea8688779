"""MinHash signatures and datasketch's band layout: the one module that imports datasketch.

In:  normalised words of documents (see `shingles.py`) or 32-bit shingle hashes.
Out: datasketch-compatible MinHash signatures (uint32 rows, scheme "affine32"), the band
     layout datasketch's optimiser picks for a threshold, and `lean`, a signature as datasketch's
     own LeanMinHash (for the tests' MinHashLSH oracle).

Published rule: Broder's MinHash (1997) with datasketch 2.0's affine32 scheme: every 32-bit
shingle hash h is pre-mixed with the MurmurHash3 32-bit finalizer, permuted by
a_k * h + b_k mod 2**32 (a_k odd), and the signature keeps the minimum per permutation.
The permutations are datasketch's own (`MinHash(num_perm, seed).permutations`), and the
numpy computation here is bit-identical to `MinHash(num_perm, seed, hashfunc=...)` fed the
same shingles (tests/test_dedup_minhash.py), so stored signatures can be loaded into
`LeanMinHash` and mixed with sketches made by plain datasketch code. Sketches of datasketch's
older "legacy" scheme cannot share an index with these.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from webtext.dedup.shingles import ngram_hashes, shingle_hash64, shingles, text_hash

# datasketch is imported inside the functions that need it: importing it pulls in
# scipy.integrate (~1.3 s), and the signature workers never need it (they get the
# permutations from the parent inside a `Sketcher`).
SCHEME = "affine32"
EMPTY = np.uint32(0xFFFFFFFF)  # datasketch's "no shingle seen" value for affine32
_FMIX32 = (16, 0x85EBCA6B, 13, 0xC2B2AE35, 16)  # MurmurHash3 finalizer, as datasketch uses
_CHUNK = 4096  # shingles per numpy block: bounds memory at 4096 x num_perm x 4 bytes


def shingle_hash32(shingle: bytes) -> int:
    """The "poly64" shingle hash as datasketch's `hashfunc` takes it (32 bits)."""
    return shingle_hash64(shingle) >> 32


@lru_cache(maxsize=8)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 permutation parameters (a, b) for this num_perm and seed."""
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=seed, scheme=SCHEME).permutations
    a, b = np.array(a, dtype=np.uint32), np.array(b, dtype=np.uint32)
    a.flags.writeable = b.flags.writeable = False
    return a, b


def _fmix32(h: np.ndarray) -> np.ndarray:
    s1, m1, s2, m2, s3 = (np.uint32(x) for x in _FMIX32)
    h = h ^ (h >> s1)
    h = h * m1
    h = h ^ (h >> s2)
    h = h * m2
    return h ^ (h >> s3)


def signature_from_hashes(hv: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """MinHash signature (uint32, len(a)) of a set given as 32-bit hashes (repeats allowed),
    under the permutations (a, b)."""
    sig = np.full(len(a), EMPTY, dtype=np.uint32)
    hv = _fmix32(np.asarray(hv, dtype=np.uint32))
    for start in range(0, len(hv), _CHUNK):
        block = hv[start : start + _CHUNK, None] * a + b  # (chunk, num_perm), wraps mod 2**32
        np.minimum(sig, block.min(axis=0), out=sig)
    return sig


@dataclass(frozen=True)
class SketchParams:
    """Everything that decides a signature; stored signatures are reused only if it matches."""

    num_perm: int = 128
    seed: int = 1
    ngram: int = 5
    shingle_hash: str = "poly64"

    def to_json(self) -> dict:
        return {"scheme": SCHEME, "num_perm": self.num_perm, "seed": self.seed,
                "ngram": self.ngram, "shingle_hash": self.shingle_hash,
                "normalize": "lower-alnum-words/1"}


def shingle_hashes32(words: list[str], params: SketchParams) -> np.ndarray:
    """The 32-bit value of every shingle of a document, as MinHash.update would see it."""
    if params.shingle_hash == "sha1":
        from datasketch.hashfunc import sha1_hash32

        return np.fromiter((sha1_hash32(s) for s in shingles(words, params.ngram)),
                           dtype=np.uint32)
    return (ngram_hashes(words, params.ngram) >> np.uint64(32)).astype(np.uint32)


class Sketcher:
    """Signatures of documents under fixed parameters; pickles small (for worker processes)."""

    def __init__(self, params: SketchParams):
        self.params = params
        self.a, self.b = permutations(params.num_perm, params.seed)

    def sketch(self, words: list[str]) -> tuple[int, np.ndarray | None]:
        """(exact-text hash, signature) of one document; no signature when it has no words."""
        if not words:
            return text_hash(words), None
        return text_hash(words), signature_from_hashes(
            shingle_hashes32(words, self.params), self.a, self.b)


def sketch(words: list[str], params: SketchParams) -> tuple[int, np.ndarray | None]:
    """(exact-text hash, signature) of one document (see `Sketcher`)."""
    return Sketcher(params).sketch(words)


def datasketch_version() -> str:
    from importlib.metadata import version

    return version("datasketch")


def jaccard_est(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray:
    """Estimated Jaccard (fraction of equal minima), row-wise; datasketch's MinHash.jaccard."""
    return np.count_nonzero(sig_a == sig_b, axis=-1) / sig_a.shape[-1]


def lean(sig: np.ndarray, seed: int) -> Any:
    """A stored signature as a datasketch LeanMinHash (no copy of permutations)."""
    from datasketch import LeanMinHash

    return LeanMinHash(seed=seed, hashvalues=sig, scheme=SCHEME)


@lru_cache(maxsize=64)
def lsh_params(threshold: float, num_perm: int, fp_weight: float) -> tuple[int, int]:
    """(bands, rows) that datasketch's optimiser picks for this threshold and weights."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm,
                     weights=(fp_weight, 1.0 - fp_weight))
    return lsh.b, lsh.r
