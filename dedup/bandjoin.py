"""Candidate pairs from band buckets, verified edges, and connected components, in numpy.

In:  signatures (uint32 rows) with integer node ids, the band layout (bands x rows), and the
     exact-text hash of every node.
Out: edges (u, v) between nodes that are duplicates, and the component label of every node
     (the smallest node id in its component).

The rule, shared by the in-memory datasketch path and the sharded Dask path so that both give
the same clusters: two nodes are candidates when they agree on all `rows` values of at least
one band (datasketch MinHashLSH's buckets: band i is hashvalues[i*rows:(i+1)*rows]); a
candidate pair is an edge when its estimated Jaccard reaches the threshold (or always, without
verification); nodes with equal exact-text hashes are joined directly. Clusters are the
connected components of the edges (union-find semantics; Broder 1997, datatrove, NeMo Curator).
Any subset of edges that spans the same components gives the same clusters, which is what lets
a partition send back a spanning forest instead of every pair.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from webtext.dedup.shingles import fmix64_inplace

SigLookup = Callable[[np.ndarray], np.ndarray]  # node ids -> their signature rows


def components(n: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Label of every node 0..n-1: the smallest node id of its connected component.

    Vectorised union-find (hooking by minimum + pointer jumping), so tens of millions of nodes
    cost a few numpy passes instead of a Python loop.
    """
    label = np.arange(n, dtype=np.int64)
    u = np.asarray(u, dtype=np.int64)
    v = np.asarray(v, dtype=np.int64)
    if len(u) == 0:
        return label
    while True:
        lu, lv = label[u], label[v]
        if np.array_equal(lu, lv):
            return label
        low = np.minimum(lu, lv)
        # Hook each root to the smaller label of any edge touching its tree.
        np.minimum.at(label, lu, low)
        np.minimum.at(label, lv, low)
        while True:  # pointer jumping: every node points at its root
            nxt = label[label]
            if np.array_equal(nxt, label):
                break
            label = nxt


def exact_edges(hashes: np.ndarray, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges joining every node to the smallest node with the same exact-text hash."""
    if len(nodes) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    order = np.lexsort((nodes, hashes))
    h, nd = hashes[order], nodes[order]
    first = np.ones(len(h), dtype=bool)
    first[1:] = h[1:] != h[:-1]
    group_first = nd[np.maximum.accumulate(np.where(first, np.arange(len(h)), 0))]
    dup = ~first
    return group_first[dup], nd[dup]


def band_rows(sigs: np.ndarray, nodes: np.ndarray, hashes: np.ndarray, bands: int, rows: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every (band, band values, exact hash, node) of the given signatures: bands x n rows."""
    n = len(nodes)
    band = np.repeat(np.arange(bands, dtype=np.uint16), n)
    keys = np.concatenate([sigs[:, i * rows:(i + 1) * rows] for i in range(bands)]) \
        if n else np.empty((0, rows), np.uint32)
    return (band, keys, np.tile(hashes.astype(np.uint64), bands),
            np.tile(nodes.astype(np.int64), bands))


def bucket_mix(band: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """One 64-bit mix (uint64) of each band row's band id and values: equal for the rows of
    one bucket; distinct buckets collide with probability ~2**-64 per pair."""
    acc = band.astype(np.uint64)
    acc *= np.uint64(0x9E3779B97F4A7C15)
    tmp = np.empty_like(acc)
    for j in range(keys.shape[1]):
        acc ^= keys[:, j]
        fmix64_inplace(acc, tmp)
    return acc


def bucket_partition(band: np.ndarray, keys: np.ndarray, partitions: int) -> np.ndarray:
    """Partition of each band row: a mix of its band id and values, so a bucket is never split."""
    return (bucket_mix(band, keys) % np.uint64(partitions)).astype(np.int64)


def _bucket_order(band: np.ndarray, keys: np.ndarray, hashes: np.ndarray, nodes: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Row order that puts each bucket in one run, sorted within by (exact hash, node), and
    the start of every bucket in that order.

    Sorting one 64-bit mix of the bucket instead of every band value (a lexsort over
    rows + 3 columns) keeps the working set near 40 bytes per row and the sort 3 keys long.
    Buckets that share a mix would interleave; that case (odds ~n**2 / 2**65 per band) is
    detected and sorted by the values themselves, so the result never depends on the mix.
    """
    mix = bucket_mix(band, keys)
    order = np.lexsort((nodes, hashes, mix))
    mix = mix[order]
    same = mix[1:] == mix[:-1]
    rows = np.flatnonzero(same)  # row i and i + 1 (in `order`) share a mix
    a, b = order[rows], order[rows + 1]
    if np.any(band[a] != band[b]) or np.any(keys[a] != keys[b]):
        order = np.lexsort((nodes, hashes)
                           + tuple(keys[:, j] for j in reversed(range(keys.shape[1])))
                           + (band,))
        k = keys[order]
        same = (band[order][1:] == band[order][:-1]) & np.all(k[1:] == k[:-1], axis=1)
    new_bucket = np.ones(len(order), dtype=bool)
    new_bucket[1:] = ~same
    return order, new_bucket


def candidate_pairs(band: np.ndarray, keys: np.ndarray, hashes: np.ndarray, nodes: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Unique node pairs (u < v) that share at least one band bucket.

    Within a bucket, nodes with the same exact-text hash are represented by the smallest
    one: exact edges already join them and their signatures are equal, so the components do
    not change, and a bucket of k identical copies costs k rows instead of k**2 / 2 pairs.
    """
    if len(nodes) < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    order, new_bucket = _bucket_order(band, keys, hashes, nodes)
    hashes, nodes = hashes[order], nodes[order]
    del order
    first_copy = new_bucket.copy()
    first_copy[1:] |= hashes[1:] != hashes[:-1]
    nodes, new_bucket = nodes[first_copy], new_bucket[first_copy]
    bounds = np.append(np.flatnonzero(new_bucket), len(nodes))
    sizes = np.diff(bounds)
    us, vs = [], []
    for k in np.unique(sizes[sizes >= 2]):
        firsts = bounds[:-1][sizes == k]
        iu, iv = np.triu_indices(int(k), 1)
        us.append(nodes[(firsts[:, None] + iu).ravel()])
        vs.append(nodes[(firsts[:, None] + iv).ravel()])
    if not us:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    u, v = np.concatenate(us), np.concatenate(vs)
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    pairs = np.unique(np.stack([lo, hi], axis=1), axis=0)  # a pair shares many bands
    return pairs[:, 0], pairs[:, 1]


def verify_pairs(u: np.ndarray, v: np.ndarray, lookup: SigLookup, threshold: float,
                 chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """The pairs whose estimated Jaccard reaches the threshold (`chunk` pairs at a time: two
    blocks of chunk x num_perm x 4 bytes, 4 MiB each at 128 permutations)."""
    keep = np.zeros(len(u), dtype=bool)
    for s in range(0, len(u), chunk):
        a, b = lookup(u[s:s + chunk]), lookup(v[s:s + chunk])
        keep[s:s + chunk] = np.count_nonzero(a == b, axis=1) >= threshold * a.shape[1] - 1e-9
    return u[keep], v[keep]


def forest(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A spanning forest of the edges: (root, node) for every non-root node they touch."""
    if len(u) == 0:
        return u, v
    local, inverse = np.unique(np.concatenate([u, v]), return_inverse=True)
    label = components(len(local), inverse[:len(u)], inverse[len(u):])
    nonroot = label != np.arange(len(local))
    return local[label[nonroot]], local[nonroot]


def join_partition(band: np.ndarray, keys: np.ndarray, band_hashes: np.ndarray,
                   nodes: np.ndarray, hashes: np.ndarray, hash_nodes: np.ndarray,
                   lookup: SigLookup, threshold: float, verify: bool
                   ) -> tuple[np.ndarray, np.ndarray, int]:
    """Edges (as a spanning forest) of one partition of band rows and exact-hash rows,
    plus the number of candidate pairs it verified."""
    eu, ev = exact_edges(hashes, hash_nodes)
    cu, cv = candidate_pairs(band, keys, band_hashes, nodes)
    n_candidates = len(cu)
    if verify:
        cu, cv = verify_pairs(cu, cv, lookup, threshold)
    u, v = forest(np.concatenate([eu, cu]), np.concatenate([ev, cv]))
    return u, v, n_candidates


def cluster_local(sigs: np.ndarray, hashes: np.ndarray, has_sig: np.ndarray, bands: int,
                  rows: int, threshold: float, verify: bool) -> tuple[np.ndarray, int]:
    """Component labels of all nodes of one in-memory signature matrix, joined band by band
    (memory: the signatures plus one band's rows and their sort, ~100 bytes per document at
    5 rows a band, at a time)."""
    nodes = np.flatnonzero(has_sig).astype(np.int64, copy=False)
    node_hashes = hashes[nodes]
    eu, ev = exact_edges(node_hashes, nodes)
    pairs = []
    for i in range(bands):
        keys = np.ascontiguousarray(sigs[nodes, i * rows:(i + 1) * rows])
        u, v = candidate_pairs(np.full(len(nodes), i, np.uint16), keys, node_hashes, nodes)
        del keys
        pairs.append(np.stack([u, v], axis=1))
    cand = np.unique(np.concatenate(pairs), axis=0) if pairs else np.empty((0, 2), np.int64)
    cu, cv = cand[:, 0], cand[:, 1]
    n_candidates = len(cu)
    if verify:
        cu, cv = verify_pairs(cu, cv, lambda ids: sigs[ids], threshold)
    u, v = forest(np.concatenate([eu, cu]), np.concatenate([ev, cv]))
    return components(len(sigs), u, v), n_candidates
