"""Duplicate clusters with datasketch's in-memory MinHashLSH, and the keep-one rule.

In:  the nodes of one dedup run (this build's documents, then those of earlier snapshots):
     their signatures, exact-text hashes, karma, length and snapshot rank.
Out: the component label of every node (`cluster_memory`), then for each document of this
     build its cluster, whether it is kept, the kept document it duplicates, the kind of
     duplicate and the estimated Jaccard with the kept document (`assign`).

Clusters follow the rule of `bandjoin.py` (shared with the Dask path). The keep rule picks one
document per cluster: a document of an earlier snapshot always wins (the oldest snapshot
first), then the configured keys (highest karma, longest, earliest by default), then input
order, so that the choice is a total order and re-runs give the same bytes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pyarrow as pa

from webtext.dedup.bandjoin import SigLookup, components, exact_edges
from webtext.dedup.minhash import MemoryIndex


class DupKind(StrEnum):
    """Why a document is not kept: the closed set of `dup_kind` values (null when kept)."""

    EXACT = "exact"  # same normalised text as the kept document
    NEAR = "near"  # MinHash near-duplicate of the kept document (or linked to it)
    EARLIER_SNAPSHOT = "earlier_snapshot"  # its cluster holds a document of an earlier build


def cluster_memory(sigs: np.ndarray, hashes: np.ndarray, has_sig: np.ndarray, bands: int,
                   rows: int, threshold: float, verify: bool, seed: int,
                   timings: dict[str, float] | None = None) -> tuple[np.ndarray, int]:
    """Component labels of all nodes, with candidates from datasketch's MinHashLSH.

    Exact copies are joined by hash first and only one node per exact group enters the
    index, which keeps the index small on crawls full of identical pages. Returns the labels
    and the number of candidate pairs verified; `timings`, if given, receives the seconds
    spent inserting and querying (for the benchmark).
    """
    clock = time.perf_counter
    nodes = np.flatnonzero(has_sig).astype(np.int64)
    eu, ev = exact_edges(hashes[nodes], nodes)
    is_copy = np.zeros(len(sigs), dtype=bool)
    is_copy[ev] = True
    reps = nodes[~is_copy[nodes]]
    t0 = clock()
    index = MemoryIndex(sigs.shape[1], seed, bands, rows)
    index.insert_many((int(n), sigs[n]) for n in reps)
    t1 = clock()
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
    if timings is not None:
        timings.update(insert_s=t1 - t0, query_verify_s=clock() - t1, index_docs=len(reps))
    return components(len(sigs), np.concatenate(us), np.concatenate(vs)), n_candidates


@dataclass
class Nodes:
    """Per-node columns of one dedup run: this build's documents first, then earlier ones."""

    doc_id: pa.Array | pa.ChunkedArray  # strings (compact for tens of millions of ids)
    karma: np.ndarray  # int64
    n_chars: np.ndarray  # int64
    snapshot: np.ndarray  # int32: 0 = oldest earlier build, ..., len(previous) = this build
    hashes: np.ndarray  # uint64 exact-text hashes
    n_current: int  # nodes [0, n_current) are this build's documents, in input order


def keeper_order(nodes: Nodes, labels: np.ndarray, keep_rule: Sequence[str]) -> np.ndarray:
    """The kept node of every node's cluster."""
    n = len(labels)
    position = np.arange(n, dtype=np.int64)
    by = {"karma": -nodes.karma, "length": -nodes.n_chars, "earliest": position}
    # np.lexsort sorts by the LAST key first: cluster, then snapshot, then the rule in order.
    keys = [position] + [by[k] for k in reversed(list(keep_rule))] + [nodes.snapshot, labels]
    order = np.lexsort(keys)
    first = np.ones(n, dtype=bool)
    first[1:] = labels[order][1:] != labels[order][:-1]
    keeper_of_label = np.full(n, -1, dtype=np.int64)
    keeper_of_label[labels[order][first]] = order[first]
    return keeper_of_label[labels]


def assign(nodes: Nodes, labels: np.ndarray, keep_rule: Sequence[str], lookup: SigLookup,
           snapshot_names: Sequence[str]) -> dict[str, list]:
    """The dedup.parquet columns of this build's documents (everything but `contaminated`)."""
    keeper = keeper_order(nodes, labels, keep_rule)
    cur = np.arange(nodes.n_current, dtype=np.int64)
    kp = keeper[: nodes.n_current]
    keep = kp == cur
    dup = np.flatnonzero(~keep)
    jacc = np.full(nodes.n_current, np.nan)
    for s in range(0, len(dup), 65536):
        block = dup[s:s + 65536]
        a, b = lookup(block), lookup(kp[block])
        jacc[block] = np.count_nonzero(a == b, axis=1) / a.shape[1]
    this_snapshot = nodes.snapshot[0] if nodes.n_current else 0
    earlier = nodes.snapshot[kp] != this_snapshot
    exact = nodes.hashes[kp] == nodes.hashes[cur]
    kinds: list[str | None] = [None] * nodes.n_current
    builds: list[str | None] = [None] * nodes.n_current
    for i in dup:
        if earlier[i]:
            kinds[i] = DupKind.EARLIER_SNAPSHOT.value
            builds[i] = snapshot_names[nodes.snapshot[kp[i]]]
        else:
            kinds[i] = (DupKind.EXACT if exact[i] else DupKind.NEAR).value
    cluster = nodes.doc_id.take(pa.array(kp)).to_pylist()
    return {
        "doc_id": nodes.doc_id.slice(0, nodes.n_current).to_pylist(),
        "cluster_id": cluster,
        "keep": keep.tolist(),
        "dup_of": [None if keep[i] else cluster[i] for i in range(nodes.n_current)],
        "dup_kind": kinds,
        "jaccard_est": [None if keep[i] else float(jacc[i]) for i in range(nodes.n_current)],
        "dup_build": builds,
    }
