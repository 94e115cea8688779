"""Shingles and MinHash signatures: bit-identical to datasketch, seeded, and accurate."""

from __future__ import annotations

import numpy as np
import pytest
from datasketch import LeanMinHash, MinHash, MinHashLSH

from webtext.dedup.bandjoin import cluster_local, components
from webtext.dedup.minhash import (
    Sketcher,
    SketchParams,
    jaccard_est,
    lsh_params,
    permutations,
    shingle_hash32,
    signature_from_hashes,
)
from webtext.dedup.shingles import (
    ngram_hashes,
    normalize_words,
    shingle_hash64,
    shingles,
    text_hash,
)

TEXTS = [
    "The quick brown fox jumps over the lazy dog, again and again, until the dog wakes up.",
    "Zürich café: a naïve señor ordered crème brûlée, à la française, and paid 12.50 CHF.",
    "two words",
    "",
    "Ünïcödé — ΕΛΛΗΝΙΚΆ κείμενο και русский текст 2024 mixed_with_underscores here.",
]


def test_normalisation_is_lower_alnum_words():
    words = normalize_words("Hello, WORLD!  It's 2024_x")
    assert words == ["hello", "world", "it", "s", "2024", "x"]
    assert text_hash(normalize_words("A b. C")) == text_hash(normalize_words("a  B   c!"))
    assert text_hash(normalize_words("a b c")) != text_hash(normalize_words("a b d"))


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("n", [1, 3, 5])
def test_numpy_ngram_hashes_equal_python_reference(text, n):
    words = normalize_words(text)
    expected = [shingle_hash64(s) for s in shingles(words, n)]
    assert ngram_hashes(words, n).tolist() == expected


def test_short_text_gives_one_shingle_or_none():
    words = normalize_words("only three words")
    assert len(ngram_hashes(words, 5)) == 1
    assert len(ngram_hashes(words, 5, short=False)) == 0
    assert len(ngram_hashes([], 5)) == 0


@pytest.mark.parametrize("shingle_hash", ["poly64", "sha1"])
@pytest.mark.parametrize("text", [t for t in TEXTS if t])
def test_signatures_bit_identical_to_datasketch(shingle_hash, text):
    params = SketchParams(num_perm=128, seed=7, ngram=5, shingle_hash=shingle_hash)
    words = normalize_words(text)
    _, sig = Sketcher(params).sketch(words)
    # datasketch's own MinHash, plain update loop, same shingles, seed and num_perm
    kwargs = {"hashfunc": shingle_hash32} if shingle_hash == "poly64" else {}
    m = MinHash(num_perm=128, seed=7, **kwargs)
    for s in shingles(words, 5):
        m.update(s)
    assert m.scheme == "affine32"
    assert sig.dtype == np.uint32
    assert np.array_equal(sig, m.hashvalues)
    lean = LeanMinHash(seed=7, hashvalues=sig, scheme="affine32")
    assert lean == LeanMinHash(m)


def test_permutations_are_datasketchs():
    a, b = permutations(64, 3)
    da, db = MinHash(num_perm=64, seed=3).permutations
    assert np.array_equal(a, da) and np.array_equal(b, db)


def test_fixed_seed_identical_other_seed_different():
    words = normalize_words(TEXTS[0] * 3)
    s1 = Sketcher(SketchParams(seed=1)).sketch(words)[1]
    s1b = Sketcher(SketchParams(seed=1)).sketch(words)[1]
    s2 = Sketcher(SketchParams(seed=2)).sketch(words)[1]
    assert np.array_equal(s1, s1b)
    assert not np.array_equal(s1, s2)


def test_empty_document_has_no_signature():
    h, sig = Sketcher(SketchParams()).sketch([])
    assert sig is None and isinstance(h, int)


def test_large_document_chunks_give_the_same_minimum():
    rng = np.random.default_rng(0)
    hv = rng.integers(0, 2**32, size=10_000, dtype=np.uint64).astype(np.uint32)
    a, b = permutations(128, 1)
    m = MinHash(num_perm=128, seed=1, hashfunc=int)
    m.update_batch(hv.tolist())
    assert np.array_equal(signature_from_hashes(hv, a, b), m.hashvalues)


def test_lsh_params_are_datasketchs():
    assert lsh_params(0.6, 128, 0.2) == (MinHashLSH(0.6, 128, weights=(0.2, 0.8)).b,
                                         MinHashLSH(0.6, 128, weights=(0.2, 0.8)).r)


# ---------------------------------------------------------------- accuracy on known Jaccard

def _pairs_with_known_jaccard(n_pairs: int, seed: int = 0):
    """Pairs of sets of 32-bit 'shingle hashes' with exactly known Jaccard similarity.

    Each pair draws a fresh disjoint block of distinct values (so pairs never overlap each
    other): |A ∩ B| = c, |A \\ B| = |B \\ A| = d, J = c / (c + 2d).
    """
    rng = np.random.default_rng(seed)
    # distinct 32-bit values: an odd multiplier is a bijection mod 2**32
    values = ((np.arange(n_pairs * 400, dtype=np.uint64) * np.uint64(2654435761)
               + np.uint64(12345)) % np.uint64(2**32)).astype(np.uint32)
    values = rng.permutation(values)
    out = []
    for i in range(n_pairs):
        block = values[i * 400:(i + 1) * 400]
        size = int(rng.integers(60, 200))  # |A| = |B| = size
        c = int(rng.integers(0, size + 1))
        d = size - c
        common, only_a, only_b = block[:c], block[c:c + d], block[c + d:c + 2 * d]
        a = np.concatenate([common, only_a])
        b = np.concatenate([common, only_b])
        out.append((a, b, c / (c + 2 * d)))
    return out


def test_estimate_rmse_recall_and_no_false_merges():
    pairs = _pairs_with_known_jaccard(2000)
    pa_, pb_ = permutations(128, 1)
    sigs = np.empty((2 * len(pairs), 128), dtype=np.uint32)
    truth = np.empty(len(pairs))
    for i, (a, b, j) in enumerate(pairs):
        sigs[2 * i] = signature_from_hashes(a, pa_, pb_)
        sigs[2 * i + 1] = signature_from_hashes(b, pa_, pb_)
        truth[i] = j
    est = jaccard_est(sigs[0::2], sigs[1::2])
    rmse = float(np.sqrt(np.mean((est - truth) ** 2)))
    assert rmse <= 0.05, rmse

    # the full near-dedup rule at the default threshold: LSH candidates + verification
    bands, rows = lsh_params(0.6, 128, 0.2)
    hashes = np.arange(len(sigs), dtype=np.uint64)  # no exact duplicates among the sets
    labels, _ = cluster_local(sigs, hashes, np.ones(len(sigs), bool), bands, rows, 0.6, True)
    merged = labels[0::2] == labels[1::2]
    high = truth >= 0.9
    low = truth <= 0.3
    assert high.sum() > 50 and low.sum() > 50  # the generator covers both ends
    assert merged[high].mean() >= 0.95, merged[high].mean()
    assert not merged[low].any()
    # and nothing merges across pairs (their sets are disjoint)
    assert len(np.unique(labels)) >= len(pairs)


def test_components_label_is_smallest_node():
    labels = components(7, np.array([5, 1, 6]), np.array([3, 5, 4]))
    assert labels.tolist() == [0, 1, 2, 1, 4, 1, 4]
