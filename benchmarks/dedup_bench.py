"""Benchmark of the dedup stage: signatures, LSH insert/query, memory per document.

Run:  /work/venv/bin/python benchmarks/dedup_bench.py [--docs 100000] [--plain-docs 2000]
      [--single-docs 10000] [--workers 2] [--dask]

One run, one corpus: --docs synthetic documents of ~4 KB (words drawn with the word
frequencies of the fixture world's English prose, 10% of them lightly edited copies of
others). It prints, measured in the same run:
  1. signatures/s of the plain datasketch loop (`m = MinHash(num_perm=128); for s in
     shingles: m.update(s)`) on the first --plain-docs documents (it is ~100x slower, so it
     does not run on all of them), of datasketch's `MinHash.bulk` on the same documents, and
     of this stage's numpy path on --single-docs documents in one process and on all
     documents in --workers processes; the speed-up is per document, text to signature;
  2. datasketch MinHashLSH insert and query documents/s at the default threshold (0.6:
     23 bands x 5 rows) over all documents;
  3. peak memory per document of the in-memory path (signatures + MinHashLSH + clustering),
     measured as peak RSS in a fresh process, and the largest corpus one 24 GB machine can
     deduplicate in memory at that rate;
  4. with --dask, the same clustering by the sharded band join on a 2-worker LocalCluster.
No timing is asserted: the machine is shared, so compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from webtext.dedup.minhash import Sketcher, SketchParams, lsh_params
from webtext.dedup.shingles import normalize_words, shingles

GB = 1024**3


def make_corpus(n: int, seed: int = 0, doc_chars: int = 4000) -> list[str]:
    """n documents of about doc_chars characters; 10% are edited copies of earlier ones."""
    from webtext.world.text import prose_paragraphs

    counts: dict[str, int] = {}
    for p in prose_paragraphs():
        for w in p.split():
            counts[w] = counts.get(w, 0) + 1
    vocab = np.array(list(counts), dtype=object)
    prob = np.array(list(counts.values()), dtype=float)
    prob /= prob.sum()
    rng = np.random.default_rng(seed)
    mean_len = float(np.dot(prob, [len(w) + 1 for w in vocab]))
    n_words = int(doc_chars / mean_len)
    # one draw for the whole corpus: per-document draws with p= cost a minute at 100k docs
    cdf = np.cumsum(prob)
    idx = np.minimum(np.searchsorted(cdf, rng.random((n, n_words))), len(vocab) - 1)
    copy = rng.random(n) < 0.10
    copy[:10] = False
    docs: list[str] = []
    for i in range(n):
        if copy[i]:
            words = docs[int(rng.integers(0, i))].split(" ")
            for j in rng.integers(0, len(words), size=max(1, len(words) // 100)):
                words[j] = "edited"
            docs.append(" ".join(words))
        else:
            docs.append(" ".join(vocab[idx[i]].tolist()))
    return docs


def plain_datasketch(texts: list[str]) -> float:
    """Seconds for the plain loop, text to signature (shingling included)."""
    from datasketch import MinHash

    t0 = time.perf_counter()
    for text in texts:
        m = MinHash(num_perm=128)
        for s in shingles(normalize_words(text), 5):
            m.update(s)
    return time.perf_counter() - t0


def bulk_datasketch(texts: list[str]) -> float:
    from datasketch import MinHash

    t0 = time.perf_counter()
    MinHash.bulk([shingles(normalize_words(t), 5) for t in texts], num_perm=128)
    return time.perf_counter() - t0


def _sketch_chunk(texts: list[str], sketcher: Sketcher) -> np.ndarray:
    out = np.empty((len(texts), sketcher.params.num_perm), dtype=np.uint32)
    for i, t in enumerate(texts):
        out[i] = sketcher.sketch(normalize_words(t))[1]
    return out


def fast_signatures(texts: list[str], workers: int, sketcher: Sketcher
                    ) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    if workers <= 1:
        sigs = _sketch_chunk(texts, sketcher)
    else:
        chunk = -(-len(texts) // (workers * 8))
        parts = [texts[i:i + chunk] for i in range(0, len(texts), chunk)]
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            sigs = np.concatenate(list(pool.map(_sketch_chunk, parts,
                                                [sketcher] * len(parts))))
    return sigs, time.perf_counter() - t0


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss() -> int:
    """This process's RSS high-water mark (VmHWM). Not getrusage's ru_maxrss: that one
    survives exec, so a spawned child would report its parent's peak."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _memory_probe(npy: str, bands: int, rows: int, how: str,
                  out: multiprocessing.Queue) -> None:
    """In a fresh process: peak RSS and times of clustering stored signatures in memory,
    with datasketch's MinHashLSH (how="datasketch") or the numpy band join (how="numpy")."""
    from webtext.dedup.bandjoin import cluster_local
    from webtext.dedup.clusters import cluster_memory
    from webtext.dedup.minhash import MemoryIndex

    MemoryIndex(128, 1, bands, rows)  # import datasketch/scipy before the baseline
    base = _rss()
    sigs = np.load(npy)
    n = len(sigs)
    hashes, has = np.arange(n, dtype=np.uint64), np.ones(n, bool)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if how == "datasketch":
        labels, candidates = cluster_memory(sigs, hashes, has, bands, rows, 0.6, True, 1,
                                            timings)
    else:
        labels, candidates = cluster_local(sigs, hashes, has, bands, rows, 0.6, True)
    cluster_s = time.perf_counter() - t0
    peak = _peak_rss()
    out.put({"n": n, "cluster_s": cluster_s, **timings, "peak_bytes": peak - base,
             "candidates": candidates, "clusters": int(len(np.unique(labels)))})


def probe(npy: str, bands: int, rows: int, how: str) -> dict:
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_memory_probe, args=(npy, bands, rows, how, q))
    p.start()
    result = q.get()
    p.join()
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--plain-docs", type=int, default=1_000)
    ap.add_argument("--single-docs", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dask", action="store_true", help="also time the Dask band join")
    args = ap.parse_args()

    t0 = time.perf_counter()
    texts = make_corpus(args.docs)
    mean_chars = sum(len(t) for t in texts) / len(texts)
    print(f"corpus: {len(texts):,} docs, mean {mean_chars:,.0f} chars, "
          f"generated in {time.perf_counter() - t0:.1f}s; cpus={os.cpu_count()}, "
          f"load avg {os.getloadavg()[0]:.1f}")

    sketcher = Sketcher(SketchParams())
    plain_s = plain_datasketch(texts[:args.plain_docs])
    bulk_s = bulk_datasketch(texts[:args.plain_docs])
    _, single_s = fast_signatures(texts[:args.single_docs], 1, sketcher)
    sigs, multi_s = fast_signatures(texts, args.workers, sketcher)
    plain_rate = args.plain_docs / plain_s
    rates = {
        f"plain datasketch loop ({args.plain_docs:,} docs, 1 process)": plain_rate,
        f"datasketch MinHash.bulk ({args.plain_docs:,} docs, 1 process)":
            args.plain_docs / bulk_s,
        f"webtext numpy ({args.single_docs:,} docs, 1 process)": args.single_docs / single_s,
        f"webtext numpy ({len(texts):,} docs, {args.workers} processes)": len(texts) / multi_s,
    }
    print("\n1. signatures (text -> 128-permutation MinHash, word 5-grams)")
    for name, rate in rates.items():
        print(f"   {name:<48} {rate:>10,.0f} docs/s   x{rate / plain_rate:6.1f}")

    bands, rows = lsh_params(0.6, 128, 0.2)
    with tempfile.TemporaryDirectory() as tmp:
        npy = str(Path(tmp) / "sigs.npy")
        np.save(npy, sigs)
        ds = probe(npy, bands, rows, "datasketch")
        nb = probe(npy, bands, rows, "numpy")
        n = ds["n"]
        print(f"\n2. datasketch MinHashLSH, threshold 0.6 -> {bands} bands x {rows} rows, "
              f"{n:,} docs")
        print(f"   insert           {n / ds['insert_s']:>10,.0f} docs/s")
        print(f"   query + verify   {n / ds['query_verify_s']:>10,.0f} docs/s "
              f"({ds['candidates']:,} candidate pairs)")
        print(f"   whole clustering {n / ds['cluster_s']:>10,.0f} docs/s "
              f"(+ exact hashes, union-find) -> {ds['clusters']:,} clusters")
        print(f"   numpy band join (backend \"numpy\", same buckets and rule) "
              f"{n / nb['cluster_s']:>10,.0f} docs/s -> {nb['clusters']:,} clusters")
        print("\n3. memory (peak RSS of a fresh process minus its RSS after imports; "
              f"signatures {sigs.shape[1] * 4} B/doc included)")
        usable = 24 * GB * 0.8  # leave a fifth of the machine to the OS and the rest
        for name, r in (("datasketch MinHashLSH path", ds), ("numpy band join path", nb)):
            per_doc = r["peak_bytes"] / n
            n_max = usable / per_doc
            hours = n_max / (n / r["cluster_s"]) / 3600
            print(f"   {name:<28} {per_doc:>8,.0f} B/doc -> one 24 GB machine (80% usable): "
                  f"~{n_max / 1e6:,.1f} M docs, ~{hours:.1f} h single-process")
        print(f"   past that: the Dask band join (backend = \"dask\"), per reduce task "
              f"~ N x {bands} bands x {4 * rows + 18} B / partitions, driver ~ 40 B/doc")

        if args.dask:
            run_dask(npy, sigs, bands, rows)
    return 0


def run_dask(npy: str, sigs: np.ndarray, bands: int, rows: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from webtext.dedup.scale import cluster_dask, dask_client
    from webtext.dedup.store import META_SCHEMA

    n = len(sigs)
    with tempfile.TemporaryDirectory() as tmp:
        shards, counts, metas, npys = 8, [], [], []
        per = -(-n // shards)
        for i in range(shards):
            part = sigs[i * per:(i + 1) * per]
            npys.append(Path(tmp) / f"{i}.npy")
            np.save(npys[-1], part)
            metas.append(Path(tmp) / f"{i}.parquet")
            pq.write_table(pa.table({
                "doc_id": [str(j) for j in range(len(part))],
                "text_hash": np.arange(i * per, i * per + len(part), dtype=np.uint64),
                "has_sig": np.ones(len(part), bool), "karma": np.zeros(len(part), np.int64),
                "n_chars": np.zeros(len(part), np.int64)}, schema=META_SCHEMA), metas[-1])
            counts.append(len(part))
        with dask_client("", 2) as client:
            t0 = time.perf_counter()
            labels, cands = cluster_dask(client, npys, metas, counts, bands, rows, 0.6, True,
                                         16, Path(tmp) / "join")
            dt = time.perf_counter() - t0
        print(f"\n4. Dask band join (LocalCluster, 2 worker processes, 8 shards, "
              f"16 partitions): {n / dt:,.0f} docs/s -> {len(np.unique(labels)):,} clusters")


if __name__ == "__main__":
    sys.exit(main())
