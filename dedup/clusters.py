"""The keep-one rule over duplicate clusters, and the closed set of duplicate kinds.

In:  the nodes of one dedup run (this build's documents, then those of earlier snapshots):
     their exact-text hashes, karma, length and snapshot rank, the component label of every
     node (the band join: `bandjoin.cluster_local` or `scale.cluster_dask`) and a lookup of
     their signature rows.
Out: for each document of this build its cluster, whether it is kept, the kept document it
     duplicates, the kind of duplicate and the estimated Jaccard with the kept document
     (`assign`; or `keeper_order`, `dup_jaccard` and `output_columns` one after the other,
     so that the signatures can be freed before the columns are built).

The keep rule picks one document per cluster: a document of an earlier snapshot always wins
(the oldest snapshot first), then the configured keys (highest karma, longest, earliest by
default), then input order, so that the choice is a total order and re-runs give the same
bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from webtext.dedup.bandjoin import SigLookup


class DupKind(StrEnum):
    """Why a document is not kept: the closed set of `dup_kind` values (null when kept)."""

    EXACT = "exact"  # same normalised text as the kept document
    NEAR = "near"  # MinHash near-duplicate of the kept document (or linked to it)
    EARLIER_SNAPSHOT = "earlier_snapshot"  # its cluster holds a document of an earlier build


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


# Signature rows compared at a time by `dup_jaccard`: two blocks of 4,096 x num_perm uint32
# (2 MiB each at 128 permutations) stay small beside the signature matrix itself.
JACCARD_BLOCK = 4096


def dup_jaccard(keeper: np.ndarray, n: int, lookup: SigLookup) -> np.ndarray:
    """The estimated Jaccard of each of the first `n` nodes with its kept node (NaN for the
    kept ones): the only part of the output that reads signatures, so that the caller can
    free them before the output columns are built."""
    kp = keeper[:n]
    dup = np.flatnonzero(kp != np.arange(n, dtype=np.int64))
    jacc = np.full(n, np.nan)
    for s in range(0, len(dup), JACCARD_BLOCK):
        block = dup[s:s + JACCARD_BLOCK]
        a, b = lookup(block), lookup(kp[block])
        jacc[block] = np.count_nonzero(a == b, axis=1) / a.shape[1]
    return jacc


def assign(nodes: Nodes, labels: np.ndarray, keep_rule: Sequence[str], lookup: SigLookup,
           snapshot_names: Sequence[str]) -> dict[str, pa.Array]:
    """The dedup.parquet columns of this build's documents (everything but `contaminated`)."""
    keeper = keeper_order(nodes, labels, keep_rule)
    return output_columns(nodes, keeper, dup_jaccard(keeper, nodes.n_current, lookup),
                          snapshot_names)


def output_columns(nodes: Nodes, keeper: np.ndarray, jacc: np.ndarray,
                   snapshot_names: Sequence[str]) -> dict[str, pa.Array]:
    """The dedup.parquet columns of this build's documents (everything but `contaminated`)
    from the kept node of every node and the Jaccard estimates (`dup_jaccard`), as Arrow
    arrays built from numpy: a few bytes per document, where Python lists of one object per
    document cost ~500 bytes (benchmarks/dedup_bench.py)."""
    n = nodes.n_current
    cur = np.arange(n, dtype=np.int64)
    kp = keeper[:n]
    keep = kp == cur
    this_snapshot = nodes.snapshot[0] if n else 0
    kept_snapshot = nodes.snapshot[kp]
    earlier = kept_snapshot != this_snapshot
    exact = nodes.hashes[kp] == nodes.hashes[cur]
    # one int8 code per document into the closed set of kinds; null (masked) when kept
    kinds = [DupKind.EXACT.value, DupKind.NEAR.value, DupKind.EARLIER_SNAPSHOT.value]
    code = np.where(earlier, 2, np.where(exact, 0, 1)).astype(np.int8)
    dup_kind = pa.DictionaryArray.from_arrays(pa.array(code, mask=keep), pa.array(kinds))
    dup_build = pa.DictionaryArray.from_arrays(
        pa.array(kept_snapshot, mask=keep | ~earlier), pa.array(list(snapshot_names),
                                                                pa.string()))
    doc_id = nodes.doc_id
    if isinstance(doc_id, pa.ChunkedArray):
        doc_id = doc_id.combine_chunks()
    cluster = doc_id.take(pa.array(kp))
    keep_arr = pa.array(keep)
    return {
        "doc_id": doc_id.slice(0, n),
        "cluster_id": cluster,
        "keep": keep_arr,
        "dup_of": pc.if_else(keep_arr, pa.scalar(None, pa.string()), cluster),
        # plain strings, as the dedup.parquet contract types them
        "dup_kind": dup_kind.cast(pa.string()),
        "jaccard_est": pa.array(jacc, mask=keep),
        "dup_build": dup_build.cast(pa.string()),
    }
