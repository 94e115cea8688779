"""Benchmark of the dedup stage: signatures, the band join, memory per document.

Run:  .venv/bin/python benchmarks/dedup_bench.py [--docs 100000] [--plain-docs 2000]
      [--single-docs 10000] [--workers 2] [--dask]
      [--stage-docs 200000 1000000] [--shard-docs 10000] [--workdir DIR]

Sections 1-4 use one corpus of --docs synthetic documents of ~4 KB (words drawn with the word
frequencies of the fixture world's English prose, 10% of them lightly edited copies of
others; --docs 0 skips them). It prints, measured in the same run:
  1. signatures/s of the plain datasketch loop (`m = MinHash(num_perm=128); for s in
     shingles: m.update(s)`) on the first --plain-docs documents (it is ~100x slower, so it
     does not run on all of them), of datasketch's `MinHash.bulk` on the same documents, and
     of this stage's numpy path on --single-docs documents in one process and on all
     documents in --workers processes; the speed-up is per document, text to signature;
  2. documents/s of the stage's band join (backend "local": bandjoin.cluster_local, the
     candidate rule of datasketch's MinHashLSH; tests/test_dedup_clusters.py checks they give
     the same pairs) at the default threshold (0.6: 23 bands x 5 rows) over all documents;
  3. peak memory per document of that join (signatures included), measured as peak RSS in a
     fresh process, and the largest corpus one 24 GB machine can cluster at that rate;
  4. with --dask, the same clustering by the sharded band join on a 2-worker LocalCluster;
  5. with --stage-docs, the whole dedup stage, all in: for each size N, a build whose docs/
     holds N such documents as Parquet shards of --shard-docs rows (the docs contract's
     columns; no done markers, which the stage does not need), deduplicated by
     `webtext.dedup.stage.run(layout, DedupConfig())` (every setting the default) in a fresh
     Python process. Its peak memory is the sum of the VmHWM of that process and of
     every process it starts (signature workers, multiprocessing's resource tracker), per
     document; two or more sizes split it into a fixed part and a per-document slope (least
     squares), which give the largest corpus one 24 GB machine can deduplicate.
No timing is asserted: the machine is shared, so compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from webtext.dedup.minhash import Sketcher, SketchParams, lsh_params
from webtext.dedup.shingles import normalize_words, shingles

GB = 1024**3


@functools.cache
def _vocab() -> tuple[np.ndarray, np.ndarray]:
    """The words of the fixture world's English prose and their frequencies."""
    from webtext.world.text import prose_paragraphs

    counts: dict[str, int] = {}
    for p in prose_paragraphs():
        for w in p.split():
            counts[w] = counts.get(w, 0) + 1
    prob = np.array(list(counts.values()), dtype=float)
    return np.array(list(counts), dtype=object), prob / prob.sum()


def make_corpus(n: int, seed: int = 0, doc_chars: int = 4000) -> list[str]:
    """n documents of about doc_chars characters; 10% are edited copies of earlier ones."""
    vocab, prob = _vocab()
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


def _memory_of(pid: int | str = "self") -> tuple[int, int] | None:
    """(VmHWM, VmRSS) of a process in bytes, None once it has exited. VmHWM, not getrusage's
    ru_maxrss: that one survives exec, so a spawned child would report its parent's peak."""
    found: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmHWM:", "VmRSS:")):
                    found[line[:5]] = int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    if "VmHWM" not in found:  # a zombie: its memory is already gone
        return None
    return found["VmHWM"], found["VmRSS"]


def _peak_rss() -> int:
    """This process's RSS high-water mark (VmHWM)."""
    mem = _memory_of()
    if mem is None:
        raise RuntimeError("no VmHWM in /proc/self/status")
    return mem[0]


def _memory_probe(npy: str, bands: int, rows: int, out: multiprocessing.Queue) -> None:
    """In a fresh process: peak RSS and time of clustering stored signatures with the stage's
    band join (every document its own exact-text hash: near duplicates only)."""
    from webtext.dedup.bandjoin import cluster_local

    base = _rss()
    sigs = np.load(npy)
    n = len(sigs)
    hashes, has = np.arange(n, dtype=np.uint64), np.ones(n, bool)
    t0 = time.perf_counter()
    labels, candidates = cluster_local(sigs, hashes, has, bands, rows, 0.6, True)
    cluster_s = time.perf_counter() - t0
    peak = _peak_rss()
    out.put({"n": n, "cluster_s": cluster_s, "peak_bytes": peak - base,
             "candidates": candidates, "clusters": int(len(np.unique(labels)))})


def probe(npy: str, bands: int, rows: int) -> dict:
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_memory_probe, args=(npy, bands, rows, q))
    p.start()
    while True:  # a probe that dies (an import error, the OOM killer) must not hang the run
        try:
            result = q.get(timeout=5)
            break
        except queue.Empty:
            if not p.is_alive():
                raise SystemExit(f"memory probe died with exit code {p.exitcode}") from None
    p.join()
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--plain-docs", type=int, default=1_000)
    ap.add_argument("--single-docs", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dask", action="store_true", help="also time the Dask band join")
    ap.add_argument("--stage-docs", type=int, nargs="*", default=[],
                    help="measure the whole dedup stage at these corpus sizes (section 5)")
    ap.add_argument("--shard-docs", type=int, default=10_000, help="rows per docs shard")
    ap.add_argument("--workdir", type=Path,
                    help="where section 5 writes its builds (kept, and its docs shards reused "
                         "by the next run); default: a temporary folder")
    ap.add_argument("--stage-child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stage_child:
        _stage_child(args.stage_child)
        return 0
    if any(n <= 0 or n % args.shard_docs for n in args.stage_docs):
        ap.error(f"--stage-docs: each size must be a positive multiple of --shard-docs "
                 f"({args.shard_docs:,})")
    if args.docs > 0:
        run_sections(args)
    if args.stage_docs:
        if args.workdir:
            run_stage(args.stage_docs, args.shard_docs, args.workdir)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                run_stage(args.stage_docs, args.shard_docs, Path(tmp))
    return 0


def run_sections(args: argparse.Namespace) -> None:
    """Sections 1-4 on one corpus of args.docs documents."""
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
        nb = probe(npy, bands, rows)
        n = nb["n"]
        print(f"\n2. band join (backend \"local\"), threshold 0.6 -> {bands} bands x {rows} "
              f"rows, {n:,} docs: {n / nb['cluster_s']:,.0f} docs/s "
              f"({nb['candidates']:,} candidate pairs verified) -> {nb['clusters']:,} clusters")
        usable = 24 * GB * 0.8  # leave a fifth of the machine to the OS and the rest
        per_doc = nb["peak_bytes"] / n
        n_max = usable / per_doc
        hours = n_max / (n / nb["cluster_s"]) / 3600
        print("\n3. memory of the join (peak RSS of a fresh process minus its RSS after "
              f"imports; signatures {sigs.shape[1] * 4} B/doc included): {per_doc:,.0f} B/doc "
              f"-> one 24 GB machine (80% usable): ~{n_max / 1e6:,.1f} M docs, "
              f"~{hours:.1f} h single-process; the whole stage, all in: section 5")
        print(f"   past that: the Dask band join (backend = \"dask\"), per reduce task "
              f"~ N x {bands} bands x {4 * rows + 18} B / partitions, driver ~ 40 B/doc")

        if args.dask:
            run_dask(npy, sigs, bands, rows)


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


def write_docs_shards(docs_dir: Path, n_docs: int, shard_docs: int) -> list[Path]:
    """docs/ Parquet shards (the docs contract's schema) holding n_docs synthetic documents,
    generated one shard at a time so that no more than one shard of text is in memory; shards
    already there are kept (they depend only on their index and shard_docs)."""
    import pyarrow as pa

    from webtext.clean.docs import DOCS_SCHEMA, ROW_GROUP_ROWS
    from webtext.io import write_parquet
    from webtext.records import doc_id

    paths = []
    for shard, start in enumerate(range(0, n_docs, shard_docs)):
        path = docs_dir / f"{shard:05d}.parquet"
        paths.append(path)
        if path.exists():
            continue
        # copies are drawn within the shard: the join is global, so where they sit does not
        # change the memory, and a shard stays a function of its index alone
        texts = make_corpus(shard_docs, seed=shard)
        ids = range(start, start + shard_docs)
        urls = [f"https://site{i % 997}.example/post/{i}" for i in ids]
        karma = np.random.default_rng(shard).integers(3, 500, shard_docs)
        columns = {
            "doc_id": [doc_id(u) for u in urls], "url": urls, "final_url": urls,
            "domain": [f"site{i % 997}.example" for i in ids], "karma": karma,
            "karma_sum": karma, "text": texts, "n_chars": [len(t) for t in texts],
            "n_words": [t.count(" ") + 1 for t in texts], "lang": ["en"] * shard_docs,
            "lang_score": np.full(shard_docs, 0.99), "reasons": [[]] * shard_docs,
        }
        table = pa.table({f.name: pa.array(columns[f.name], f.type) if f.name in columns
                          else pa.nulls(shard_docs, f.type) for f in DOCS_SCHEMA},
                         schema=DOCS_SCHEMA)
        write_parquet(path, table, row_group_size=ROW_GROUP_ROWS)
    return paths


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(c) for c in f.read().split()]
    except (FileNotFoundError, ProcessLookupError):
        pass
    return out


def _cmdline(pid: int) -> bytes | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None


def _role(cmd: bytes) -> str:
    return ("resource tracker" if b"resource_tracker" in cmd
            else "worker" if b"spawn_main" in cmd else "other")


class TreeMemory:
    """The VmHWM of a process and of every process below it, polled.

    A process's VmHWM only grows, so the last value read before it exits is its peak up to
    that poll; the stage keeps its worker pool until it returns, so the workers' peaks (one
    docs shard each) are read long before they exit. `rss_peak` is the largest sum of VmRSS
    seen at one poll: the memory actually held at the same time (the sum of VmHWM, whose
    peaks fall in different phases, bounds it from above).

    A child read between its fork and its exec (its command line still its parent's) is
    left out: until exec it shares its parent's pages (copy-on-write, or the very address
    space under vfork, which multiprocessing's spawn uses), so /proc shows the parent's
    memory under the child's pid; counting it added the stage's ~180 MiB at that moment to
    whichever child was caught there (the resource tracker's real peak is ~13 MiB)."""

    def __init__(self, root: int):
        self.root = root
        self.hwm: dict[int, int] = {}
        self.role: dict[int, str] = {}
        self.rss_peak = 0

    def poll(self) -> None:
        todo: list[tuple[int, bytes | None]] = [(self.root, None)]
        rss = 0
        while todo:
            pid, parent_cmd = todo.pop()
            cmd = _cmdline(pid)
            if cmd is None:
                continue
            todo += [(child, cmd) for child in _children(pid)]
            if cmd == parent_cmd:  # forked, not yet exec'd: its parent's pages
                continue
            mem = _memory_of(pid)
            if mem is None:
                continue
            self.hwm[pid] = max(self.hwm.get(pid, 0), mem[0])
            self.role[pid] = "stage" if pid == self.root else _role(cmd)
            rss += mem[1]
        self.rss_peak = max(self.rss_peak, rss)

    def by_role(self) -> dict[str, tuple[int, int]]:
        """role -> (number of processes, sum of their VmHWM)."""
        out: dict[str, tuple[int, int]] = {}
        for pid, peak in self.hwm.items():
            k, b = out.get(self.role[pid], (0, 0))
            out[self.role[pid]] = (k + 1, b + peak)
        return out


def _stage_child(root: str) -> None:
    """--stage-child: dedup the build at `root` with every setting the default; print its
    stats and this process's VmHWM as one JSON line."""
    from webtext.dedup.config import DedupConfig
    from webtext.dedup.stage import run
    from webtext.layout import BuildLayout

    stats = run(BuildLayout(Path(root)), DedupConfig())
    keep = ("docs", "kept", "dup_exact", "dup_near", "candidate_pairs_verified", "timings")
    print(json.dumps({"peak_bytes": _peak_rss(), **{k: stats[k] for k in keep}}), flush=True)


def stage_memory(pool: Path, root: Path, n_docs: int, shard_docs: int,
                 interval: float = 0.05) -> dict:
    """Peak memory, all in, of the dedup stage on a fresh build of n_docs documents (its
    docs/ hard-links the first shards of `pool`), run in a fresh Python process."""
    shutil.rmtree(root, ignore_errors=True)
    (root / "docs").mkdir(parents=True)
    for src in write_docs_shards(pool, n_docs, shard_docs):
        os.link(src, root / "docs" / src.name)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--stage-child", str(root)],
                            stdout=subprocess.PIPE, text=True)
    tree = TreeMemory(proc.pid)
    while proc.poll() is None:
        tree.poll()
        time.sleep(interval)
    out = proc.stdout.read() if proc.stdout else ""
    if proc.returncode != 0:
        raise SystemExit(f"dedup stage on {n_docs:,} docs failed (exit {proc.returncode})")
    result = json.loads(out.strip().splitlines()[-1])
    # the child's own final VmHWM is exact; the polls may have missed its last moments
    tree.hwm[proc.pid] = max(tree.hwm.get(proc.pid, 0), result["peak_bytes"])
    tree.role[proc.pid] = "stage"
    return {**result, "n": n_docs, "wall_s": time.perf_counter() - t0,
            "roles": tree.by_role(), "total_bytes": sum(tree.hwm.values()),
            "rss_peak": tree.rss_peak}


def run_stage(sizes: list[int], shard_docs: int, workdir: Path) -> None:
    usable = 24 * GB * 0.8  # as in 3.: a fifth of the machine left to the OS and the rest
    pool = workdir / f"docs-{shard_docs}"
    pool.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    write_docs_shards(pool, max(sizes), shard_docs)
    print(f"\n5. dedup stage, all in: run(layout, DedupConfig()) in a fresh process, docs "
          f"shards of {shard_docs:,} rows (written in {time.perf_counter() - t0:,.0f}s); peak "
          f"= sum of the VmHWM of the stage process and of every process it starts")
    runs = []
    for n in sorted(sizes):
        # each size in a data root of its own: sibling builds would be earlier snapshots
        r = stage_memory(pool, workdir / f"n{n}" / "build", n, shard_docs)
        runs.append(r)
        parts = ", ".join(f"{role} {b / 2**20:,.0f} MiB" + (f" ({k} processes)" if k > 1 else "")
                          for role, (k, b) in sorted(r["roles"].items()))
        t = r["timings"]
        print(f"   {n:>10,} docs: {r['total_bytes'] / 2**20:>8,.0f} MiB = "
              f"{r['total_bytes'] / n:>6,.0f} B/doc all in [{parts}]; simultaneous RSS peak "
              f"{r['rss_peak'] / 2**20:,.0f} MiB ({r['rss_peak'] / n:,.0f} B/doc)")
        print(f"   {'':>10}       {r['kept']:,} kept, {r['dup_exact']:,} exact + "
              f"{r['dup_near']:,} near duplicates, {r['candidate_pairs_verified']:,} "
              f"candidate pairs; signatures {t['signatures_s']:,.0f}s, clusters "
              f"{t['cluster_s']:,.0f}s, threshold report {t['threshold_report_s']:,.0f}s, "
              f"stage {t['total_s']:,.0f}s, load avg {os.getloadavg()[0]:.1f}")
    if len(runs) < 2:
        print("   (give two sizes or more to separate the fixed part from the per-document "
              "slope)")
        return
    for name, key in (("sum of VmHWM", "total_bytes"), ("simultaneous RSS", "rss_peak")):
        slope, fixed = np.polyfit([r["n"] for r in runs], [r[key] for r in runs], 1)
        print(f"   fit ({name}): {fixed / 2**20:,.0f} MiB fixed + {slope:,.0f} B/doc -> one "
              f"24 GB machine (80% usable): ~{(usable - fixed) / slope / 1e6:,.1f} M docs")


if __name__ == "__main__":
    sys.exit(main())
