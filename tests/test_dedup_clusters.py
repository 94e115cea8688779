"""Clusters and the keep rule: the band join against datasketch's MinHashLSH (the oracle)."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from webtext.dedup import bandjoin
from webtext.dedup.bandjoin import (
    band_rows,
    candidate_pairs,
    cluster_local,
    components,
    exact_edges,
)
from webtext.dedup.clusters import DupKind, Nodes, assign, keeper_order
from webtext.dedup.minhash import Sketcher, SketchParams, lean, lsh_params
from webtext.dedup.shingles import normalize_words
from webtext.world.text import prose_paragraphs, small_edit

PARAS = prose_paragraphs()


def _doc(start: int, n: int = 8) -> str:
    return "\n\n".join(PARAS[start:start + n])


def _sketch_all(texts: list[str], seed: int = 1):
    sk = Sketcher(SketchParams(seed=seed))
    sigs = np.full((len(texts), 128), 0xFFFFFFFF, dtype=np.uint32)
    hashes = np.zeros(len(texts), dtype=np.uint64)
    has = np.zeros(len(texts), dtype=bool)
    for i, t in enumerate(texts):
        h, s = sk.sketch(normalize_words(t))
        hashes[i] = h
        if s is not None:
            sigs[i], has[i] = s, True
    return sigs, hashes, has


class MemoryIndex:
    """datasketch MinHashLSH over integer node ids, fed stored signatures."""

    def __init__(self, num_perm: int, seed: int, bands: int, rows: int):
        from datasketch import MinHashLSH

        self.seed = seed
        self.lsh = MinHashLSH(num_perm=num_perm, params=(bands, rows))

    def insert_many(self, items) -> None:
        with self.lsh.insertion_session() as session:
            for node, sig in items:
                session.insert(node, lean(sig, self.seed), check_duplication=False)

    def query(self, sig: np.ndarray) -> list[int]:
        return self.lsh.query(lean(sig, self.seed))


def cluster_memory(sigs: np.ndarray, hashes: np.ndarray, has_sig: np.ndarray, bands: int,
                   rows: int, threshold: float, verify: bool, seed: int
                   ) -> tuple[np.ndarray, int]:
    """The oracle: component labels of all nodes, with candidates from datasketch's
    MinHashLSH (the stage's backend until its 9-13 KB per document ruled it out).

    Exact copies are joined by hash first and only one node per exact group enters the
    index. Returns the labels and the number of candidate pairs verified.
    """
    nodes = np.flatnonzero(has_sig).astype(np.int64)
    eu, ev = exact_edges(hashes[nodes], nodes)
    is_copy = np.zeros(len(sigs), dtype=bool)
    is_copy[ev] = True
    reps = nodes[~is_copy[nodes]]
    index = MemoryIndex(sigs.shape[1], seed, bands, rows)
    index.insert_many((int(n), sigs[n]) for n in reps)
    need = threshold * sigs.shape[1] - 1e-9
    us, vs, n_candidates = [eu], [ev], 0
    for n in reps:
        found = np.fromiter(index.query(sigs[n]), dtype=np.int64)
        found = found[found > n]  # each pair once: from its smaller node
        n_candidates += len(found)
        if verify and len(found):
            found = found[np.count_nonzero(sigs[found] == sigs[n], axis=1) >= need]
        if len(found):
            us.append(np.full(len(found), n, dtype=np.int64))
            vs.append(found)
    return components(len(sigs), np.concatenate(us), np.concatenate(vs)), n_candidates


def _labels(texts: list[str], threshold: float = 0.6, seed: int = 1) -> np.ndarray:
    sigs, hashes, has = _sketch_all(texts, seed)
    bands, rows = lsh_params(threshold, 128, 0.2)
    return cluster_local(sigs, hashes, has, bands, rows, threshold, True)[0]


def test_identical_documents_cluster():
    a = _doc(0)
    labels = _labels([a, _doc(100), a, a.upper().replace(".", " !")])
    assert labels[0] == labels[2] == labels[3]
    assert labels[1] != labels[0]


def test_small_edits_cluster_at_default_threshold():
    rng = random.Random(3)
    original = _doc(200, 10)
    edited = "\n\n".join(small_edit(p, rng, 2) for p in PARAS[200:210])
    labels = _labels([original, edited, _doc(300, 10)])
    assert labels[0] == labels[1]
    assert labels[2] != labels[0]


def test_unrelated_documents_do_not_cluster():
    texts = [_doc(i * 10, 8) for i in range(40)]
    labels = _labels(texts)
    assert len(set(labels.tolist())) == 40


def test_half_overlap_does_not_cluster():
    # two documents sharing half their paragraphs: word 5-gram Jaccard about 1/3
    a = "\n\n".join(PARAS[400:408])
    b = "\n\n".join(PARAS[404:412])
    labels = _labels([a, b])
    assert labels[0] != labels[1]


def test_same_seed_same_clusters_other_seed_runs():
    rng = random.Random(5)
    texts = [_doc(i * 9, 9) for i in range(20)]
    texts += ["\n\n".join(small_edit(p, rng, 1) for p in t.split("\n\n")) for t in texts[:10]]
    assert np.array_equal(_labels(texts, seed=11), _labels(texts, seed=11))
    # every edited copy finds its original under another seed too
    other = _labels(texts, seed=12)
    assert all(other[i] == other[20 + i] for i in range(10))


def _corpus(seed: int = 0) -> list[str]:
    """Originals, exact copies, lightly and heavily edited copies, partial overlaps, empties."""
    rng = random.Random(seed)
    texts = []
    for i in range(60):
        base = list(PARAS[i * 7:i * 7 + 7])
        texts.append("\n\n".join(base))
        kind = rng.choice(["none", "exact", "light", "heavy", "partial", "empty"])
        if kind == "exact":
            texts.append("\n\n".join(base).upper())
        elif kind == "light":
            texts.append("\n\n".join(small_edit(p, rng, 1) for p in base))
        elif kind == "heavy":
            texts.append("\n\n".join(small_edit(p, rng, 8) for p in base))
        elif kind == "partial":
            texts.append("\n\n".join(base[:4] + list(PARAS[900 + i * 3:903 + i * 3])))
        elif kind == "empty":
            texts.append("")
    return texts


@pytest.mark.parametrize("verify", [True, False])
def test_datasketch_lsh_and_band_join_give_the_same_clusters(verify):
    texts = _corpus()
    sigs, hashes, has = _sketch_all(texts)
    bands, rows = lsh_params(0.6, 128, 0.2)
    mem, n_mem = cluster_memory(sigs, hashes, has, bands, rows, 0.6, verify, 1)
    join, n_join = cluster_local(sigs, hashes, has, bands, rows, 0.6, verify)
    assert np.array_equal(mem, join)
    assert n_mem == n_join  # the same candidate pairs, not just the same outcome
    assert len(set(mem.tolist())) < len(texts)  # the corpus does contain duplicates


def test_candidate_pairs_collapse_identical_copies_in_a_bucket():
    sig = np.arange(128, dtype=np.uint32)
    sigs = np.stack([sig] * 50 + [sig + 1])
    nodes = np.arange(51, dtype=np.int64)
    hashes = np.array([7] * 50 + [8], dtype=np.uint64)
    band, keys, bh, bn = band_rows(sigs, nodes, hashes, 4, 8)
    u, v = candidate_pairs(band, keys, bh, bn)
    assert len(u) == 0  # 50 copies of one text: no pair to verify
    eu, ev = exact_edges(hashes, nodes)
    assert sorted(ev.tolist()) == list(range(1, 50)) and set(eu.tolist()) == {0}


def _pairs_by_bucket(band, keys, hashes, nodes) -> set[tuple[int, int]]:
    """The definition, by full bucket keys (band, values): pairs of the smallest node of each
    exact-text hash in a bucket."""
    buckets: dict[tuple, dict[int, int]] = {}
    for b, k, h, n in zip(band.tolist(), keys.tolist(), hashes.tolist(), nodes.tolist(),
                          strict=True):
        first = buckets.setdefault((b, *k), {})
        first[h] = min(first.get(h, n), n)
    pairs = set()
    for first in buckets.values():
        reps = sorted(first.values())
        pairs |= {(a, b) for i, a in enumerate(reps) for b in reps[i + 1:]}
    return pairs


@pytest.mark.parametrize("mix_bits", [0, 1])
def test_candidate_pairs_survive_bucket_mix_collisions(monkeypatch, mix_bits):
    # few distinct values, so that buckets are shared; nodes 30-39 are exact copies of 0-9
    rng = np.random.default_rng(4)
    sigs = rng.integers(0, 3, size=(40, 8)).astype(np.uint32)
    sigs[30:] = sigs[:10]
    hashes = np.concatenate([np.arange(30), np.arange(10)]).astype(np.uint64)
    band, keys, bh, bn = band_rows(sigs, np.arange(40, dtype=np.int64), hashes, 4, 2)
    u, v = candidate_pairs(band, keys, bh, bn)
    # distinct buckets share a mix: none (mix_bits 0) or 1 bit of it is left
    real_mix = bandjoin.bucket_mix
    monkeypatch.setattr(bandjoin, "bucket_mix",
                        lambda b, k: real_mix(b, k) & np.uint64((1 << mix_bits) - 1))
    cu, cv = candidate_pairs(band, keys, bh, bn)
    assert np.array_equal(cu, u) and np.array_equal(cv, v)
    assert set(zip(cu.tolist(), cv.tolist(), strict=True)) == _pairs_by_bucket(band, keys, bh,
                                                                                bn)
    assert 0 < len(cu) < 40 * 39 // 2  # shared buckets, but not everything in one


def _nodes(karma, n_chars, snapshot=None, hashes=None) -> Nodes:
    n = len(karma)
    return Nodes(
        doc_id=pa.array([f"d{i}" for i in range(n)]),
        karma=np.array(karma, dtype=np.int64),
        n_chars=np.array(n_chars, dtype=np.int64),
        snapshot=np.array(snapshot if snapshot is not None else [0] * n, dtype=np.int32),
        hashes=np.array(hashes if hashes is not None else range(n), dtype=np.uint64),
        n_current=n,
    )


def test_keep_rule_karma_then_length_then_earliest():
    labels = np.zeros(4, dtype=np.int64)  # one cluster
    assert keeper_order(_nodes([3, 9, 9, 1], [10, 5, 7, 99]), labels,
                        ["karma", "length", "earliest"])[0] == 2
    assert keeper_order(_nodes([3, 9, 9, 1], [10, 5, 7, 99]), labels,
                        ["length", "karma", "earliest"])[0] == 3
    assert keeper_order(_nodes([3, 9, 9, 1], [10, 5, 7, 99]), labels, ["earliest"])[0] == 0
    assert keeper_order(_nodes([5, 5, 5, 5], [7, 7, 7, 7]), labels,
                        ["karma", "length"])[0] == 0  # input order breaks the last tie


def _lists(columns: dict[str, pa.Array]) -> dict[str, list]:
    return {name: col.to_pylist() for name, col in columns.items()}


def test_assign_columns_and_kinds():
    # nodes 0-2 of this build (snapshot 1), node 3 of an earlier build (snapshot 0)
    nodes = _nodes([1, 5, 2, 1], [10, 10, 10, 10], snapshot=[1, 1, 1, 0],
                   hashes=[10, 10, 11, 12])
    nodes.n_current = 3
    sigs = np.array([[1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 9], [5, 5, 5, 5]], dtype=np.uint32)
    cols = _lists(assign(nodes, np.array([0, 0, 0, 3]), ["karma", "length", "earliest"],
                         lambda ids: sigs[ids], ["old", "new"]))
    assert cols["keep"] == [False, True, False]
    assert cols["cluster_id"] == ["d1", "d1", "d1"]
    assert cols["dup_of"] == ["d1", None, "d1"]
    assert cols["dup_kind"] == [DupKind.EXACT, None, DupKind.NEAR]
    assert cols["jaccard_est"] == [1.0, None, 0.75]
    # a cluster holding an earlier snapshot's document keeps that one
    cols = _lists(assign(nodes, np.array([0, 0, 0, 0]), ["karma"], lambda ids: sigs[ids],
                         ["old", "new"]))
    assert cols["keep"] == [False, False, False]
    assert cols["dup_kind"] == [DupKind.EARLIER_SNAPSHOT] * 3
    assert cols["dup_of"] == ["d3"] * 3 and cols["dup_build"] == ["old"] * 3
