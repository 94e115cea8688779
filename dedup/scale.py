"""The scale path: a sharded band-bucket join on Dask, for corpora beyond one machine's memory.

In:  signature shards on a shared filesystem (`store.py`: one .npy and one .parquet per
     shard, this build's then earlier snapshots'), the band layout and threshold.
Out: the component label of every node, equal to what the in-process band join
     (`bandjoin.cluster_local`, backend "local") gives on the same signatures.

Map (one task per signature shard): every document's band rows (band id, the band's `rows`
values, exact hash, node) and exact-hash rows are split into P partitions by a hash of the
bucket, so each bucket lands whole in one partition; written as .npz files.
Reduce (one task per partition): sort the band rows, pair the nodes of each bucket, verify
pairs against the threshold by reading their signature rows from the memory-mapped shards,
and write a spanning forest of the edges. Driver: vectorised union-find over all forests.

Memory: a map task holds one shard; a reduce task holds ~ N x bands x (4 rows + 18) / P bytes;
the driver holds a few int64 arrays of N. Tasks pass file paths, never documents. Dask is
imported inside `cluster_dask`, so the stage imports fine without a cluster.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from webtext.dedup.bandjoin import (
    band_rows,
    bucket_partition,
    components,
    join_partition,
)
from webtext.dedup.store import ShardedSignatures


def map_shard(npy: str, meta: str, offset: int, bands: int, rows: int, partitions: int,
              out_dir: str, shard_no: int) -> int:
    """Write this shard's band rows and exact rows, split by partition; returns rows written."""
    sigs = np.load(npy, mmap_mode="r")
    table = pq.read_table(meta, columns=["text_hash", "has_sig"])
    has_sig = table.column("has_sig").to_numpy(zero_copy_only=False)
    local = np.flatnonzero(has_sig)
    nodes = local.astype(np.int64) + offset
    hashes = table.column("text_hash").to_numpy()[local].astype(np.uint64)
    band, keys, bhashes, bnodes = band_rows(np.asarray(sigs[local]), nodes, hashes, bands, rows)
    part = bucket_partition(band, keys, partitions)
    hpart = (hashes % np.uint64(partitions)).astype(np.int64)
    for p in range(partitions):
        m, hm = part == p, hpart == p
        target = Path(out_dir) / f"p{p:05d}" / f"s{shard_no:06d}.npz"
        target.parent.mkdir(parents=True, exist_ok=True)
        np.savez(target, band=band[m], keys=keys[m], bhashes=bhashes[m], nodes=bnodes[m],
                 hashes=hashes[hm], hash_nodes=nodes[hm])
    return int(len(band))


def reduce_partition(part_dir: str, npy_paths: list[str], counts: list[int], threshold: float,
                     verify: bool, out_path: str) -> int:
    """Join one partition; write its spanning-forest edges; return candidate pairs seen."""
    cols: dict[str, list[np.ndarray]] = {k: [] for k in
                                         ("band", "keys", "bhashes", "nodes", "hashes",
                                          "hash_nodes")}
    for f in sorted(Path(part_dir).glob("*.npz")):
        with np.load(f) as z:
            for k in cols:
                cols[k].append(z[k])
    lookup = ShardedSignatures([Path(p) for p in npy_paths], counts, mmap=True)
    u, v, n_candidates = join_partition(
        *(np.concatenate(cols[k]) for k in cols), lookup, threshold, verify)
    np.save(out_path, np.stack([u, v]).astype(np.int64))
    return n_candidates


@contextmanager
def dask_client(scheduler: str = "", n_workers: int = 2) -> Iterator[Any]:
    """A client of the given scheduler, or of a LocalCluster of worker processes on 127.0.0.1."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        client = Client(scheduler)
        try:
            yield client
        finally:
            client.close()
        return
    # processes, one thread each: the join is numpy + Python, bound by the GIL
    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None,
                      scheduler_kwargs={"dashboard": False}) as cluster, \
            Client(cluster) as client:
        yield client


def cluster_dask(client: Any, npy_paths: list[Path], meta_paths: list[Path], counts: list[int],
                 bands: int, rows: int, threshold: float, verify: bool, partitions: int,
                 work_dir: Path) -> tuple[np.ndarray, int]:
    """Component labels of all nodes (shards in node order) and candidate pairs verified."""
    work = Path(work_dir)
    shutil.rmtree(work, ignore_errors=True)
    (work / "bands").mkdir(parents=True)
    (work / "edges").mkdir(parents=True)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    maps = [client.submit(map_shard, str(npy), str(meta), int(offsets[i]), bands, rows,
                          partitions, str(work / "bands"), i, pure=False)
            for i, (npy, meta) in enumerate(zip(npy_paths, meta_paths, strict=True))]
    client.gather(maps)
    edge_files = [str(work / "edges" / f"p{p:05d}.npy") for p in range(partitions)]
    reduces = [client.submit(reduce_partition, str(work / "bands" / f"p{p:05d}"),
                             [str(x) for x in npy_paths], list(counts), threshold, verify,
                             edge_files[p], pure=False)
               for p in range(partitions)]
    n_candidates = int(sum(client.gather(reduces)))
    edges = [np.load(f) for f in edge_files]
    u = np.concatenate([e[0] for e in edges])
    v = np.concatenate([e[1] for e in edges])
    labels = components(int(offsets[-1]), u, v)
    shutil.rmtree(work, ignore_errors=True)
    return labels, n_candidates
