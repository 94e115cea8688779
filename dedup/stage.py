"""The dedup stage: docs/*.parquet in, dedup.parquet and the dedup/ folder out.

In:  a build's docs shards (doc_id, text, karma, n_chars), its DedupConfig, optional
     evaluation texts and earlier builds.
Out: dedup.parquet (one row per document: cluster_id, keep, dup_of, dup_kind, jaccard_est,
     contaminated, dup_build), dedup/ (signatures per shard, parameters, threshold report and
     done marker: dedup/store.py), dedup_stats.json (with `resume`: signature shards reused
     or computed again, and why) and configs/dedup.toml. The done marker (dedup/.done.json)
     records what the finished run read, for the skip check. Nothing is deleted: duplicates
     are marked. Every document ends in exactly one state: kept, or exact / near /
     earlier_snapshot duplicate; documents without text are kept singletons (the quality
     rules already exclude them).

`run` is the stage (docs/design.md, "Stages"); one function per phase:
  `finished`        the whole stage is skipped when nothing it reads has changed;
  `sketch`          signatures per docs shard in worker processes, each shard skipped when
                    already stored with the same parameters and package versions
                    (OUTPUT_PACKAGES) from the same docs file;
  `cluster`         clusters over this build's and earlier snapshots' signatures, with the
                    band join in this process ("local", the default: the signatures plus a few
                    bytes per document per band) or sharded on Dask ("dask"; the same clusters);
  `threshold_report` the duplicate rate by threshold, from the stored signatures;
  `keep_one`        the keep rule (dedup/clusters.py) and the Jaccard estimates, the last
                    use of the signatures: they are freed before the output columns;
  `decontaminate`   documents sharing a `decontam_ngram`-gram (13) with the evaluation texts,
                    and the GPT-2 paper's 8-gram overlap rate;
  `dedup_stats`, `write_outputs`   the counts; dedup.parquet, the stats, the resolved config
                    and the done marker, last.
File I/O lives here; the logic is in the modules it calls.
"""

from __future__ import annotations

import functools
import hashlib
import multiprocessing
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from webtext.dedup.bandjoin import SigLookup, cluster_local
from webtext.dedup.clusters import DupKind, Nodes, dup_jaccard, keeper_order, output_columns
from webtext.dedup.config import DedupConfig
from webtext.dedup.decontam import EvalIndex
from webtext.dedup.minhash import Sketcher, SketchParams, datasketch_version, lsh_params
from webtext.dedup.shingles import normalize_words
from webtext.dedup.store import (
    DEDUP_SCHEMA,
    JOIN_DIR,
    META_SCHEMA,
    MINHASH_DIR,
    THRESHOLDS_FILE,
    ShardedSignatures,
    Snapshot,
    discard_reason,
    done_file,
    find_previous,
    meta_rows,
    prepare,
    read_meta,
    shard_done,
    shard_files,
    shard_names,
    source_stamp,
    write_shard,
)
from webtext.errors import UsageError
from webtext.io import clean_stale_tmp, read_json, write_json, write_parquet
from webtext.layout import BuildLayout, package_versions, shard_marker
from webtext.stage import Progress, ProgressFn, report

# The packages whose code decides a stored signature: webtext (shingles, hashing, permutations)
# and datasketch (the sha1 shingle hash; the scheme the signatures must stay identical to).
OUTPUT_PACKAGES = ("webtext", "datasketch")

# (number of this run's signature shards to cluster, threshold, bands, rows)
#   -> (component label of every node of those shards, candidate pairs verified)
Join = Callable[[int, float, int, int], tuple[np.ndarray, int]]

# Rows of a docs shard a worker turns into Python strings at a time (~4 MB of text at 4 KB a
# document): its memory stays flat whatever the shard size, and a batch still amortises the
# Parquet reads (docs shards are written in row groups of 2,000, clean/docs.py).
READ_BATCH_ROWS = 1000


def params_of(cfg: DedupConfig) -> SketchParams:
    return SketchParams(num_perm=cfg.num_perm, seed=cfg.seed, ngram=cfg.ngram,
                        shingle_hash=cfg.shingle_hash)


# ---------------------------------------------------------------- per-shard workers

def _docs_file(path: Path, columns: list[str]) -> tuple[pq.ParquetFile, list[str]]:
    """A docs shard opened for reading in batches, and those of `columns` it holds."""
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise UsageError(f"{path}: not a readable Parquet docs shard: {e}") from None
    names = pf.schema_arrow.names
    if "doc_id" not in names:
        raise UsageError(f"{path}: not a docs shard (no doc_id column)")
    return pf, [c for c in columns if c in names]


def _doc_batches(path: Path, columns: list[str]) -> Iterator[pa.Table]:
    """The shard's rows, READ_BATCH_ROWS at a time: a worker never holds a whole shard's text
    as Python strings (~360 MB per 10,000 documents of 4 KB)."""
    pf, present = _docs_file(path, columns)
    # no decoding threads: the workers already run one per core, and each reader thread
    # keeps buffers of its own (measured: ~17 MiB less peak per worker with both changes)
    for batch in pf.iter_batches(batch_size=READ_BATCH_ROWS, columns=present,
                                 use_threads=False):
        yield pa.Table.from_batches([batch])
        # the caller is done with the batch: hand its freed pages back to the system, so a
        # worker's memory does not creep over the shards it reads
        del batch
        pa.default_memory_pool().release_unused()


def _num_rows(path: Path) -> int:
    try:
        return pq.read_metadata(path).num_rows
    except (pa.ArrowInvalid, OSError) as e:
        raise UsageError(f"{path}: not a readable Parquet docs shard: {e}") from None


def sketch_table(table: pa.Table, sketcher: Sketcher) -> tuple[pa.Table, np.ndarray]:
    """Per-document columns and signatures of one docs table (no file I/O)."""
    n = table.num_rows
    params = sketcher.params
    texts = table.column("text").to_pylist() if "text" in table.column_names else [""] * n
    sigs = np.full((n, params.num_perm), 0xFFFFFFFF, dtype=np.uint32)
    hashes = np.zeros(n, dtype=np.uint64)
    has_sig = np.zeros(n, dtype=bool)
    for i, text in enumerate(texts):
        h, sig = sketcher.sketch(normalize_words(text or ""))
        hashes[i] = h
        if sig is not None:
            sigs[i], has_sig[i] = sig, True
    karma = (table.column("karma").to_numpy(zero_copy_only=False).astype(np.int64)
             if "karma" in table.column_names else np.zeros(n, np.int64))
    n_chars = (table.column("n_chars").to_numpy(zero_copy_only=False).astype(np.int64)
               if "n_chars" in table.column_names
               else np.array([len(t or "") for t in texts], dtype=np.int64))
    meta = pa.table({"doc_id": table.column("doc_id"), "text_hash": hashes,
                     "has_sig": has_sig, "karma": karma, "n_chars": n_chars},
                    schema=META_SCHEMA)
    return meta, sigs


def sketch_shard(docs_path: str, dedup_dir: str, sketcher: Sketcher) -> dict[str, int]:
    """Worker: read one docs shard batch by batch, write its signatures; returns counts."""
    path = Path(docs_path)
    stamp = source_stamp(path)
    sigs = np.empty((_num_rows(path), sketcher.params.num_perm), dtype=np.uint32)
    metas, start = [], 0
    for batch in _doc_batches(path, ["doc_id", "text", "karma", "n_chars"]):
        meta, batch_sigs = sketch_table(batch, sketcher)
        sigs[start:start + batch.num_rows] = batch_sigs
        metas.append(meta)
        start += batch.num_rows
    if start != len(sigs):  # the footer and the row groups disagree: a damaged file
        raise UsageError(f"{path}: {start:,} rows read, its footer says {len(sigs):,}")
    # one chunk per column: the stored table does not depend on the batch size
    meta = pa.concat_tables(metas).combine_chunks() if metas else META_SCHEMA.empty_table()
    write_shard(Path(dedup_dir), path.stem, meta, sigs, stamp)
    return {"docs": meta.num_rows, "with_text": int(np.count_nonzero(meta["has_sig"]))}


def scan_shard(docs_path: str, index: EvalIndex
               ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Worker: of the documents with text, their row in the shard, whether each is
    contaminated and its evaluation 8-gram hits."""
    rows, flags, hits, start = [], [], [], 0
    for batch in _doc_batches(Path(docs_path), ["doc_id", "text"]):
        texts = (batch.column("text").to_pylist() if "text" in batch.column_names
                 else [""] * batch.num_rows)
        for i, text in enumerate(texts):
            words = normalize_words(text or "")
            if words:
                contaminated, doc_hits = index.scan_words(words)
                rows.append(start + i)
                flags.append(contaminated)
                hits.append(doc_hits)
        start += batch.num_rows
    return np.array(rows, dtype=np.int64), np.array(flags, dtype=bool), hits


class _Runner:
    """Runs per-shard jobs inline (one worker) or in one pool of spawned processes that is
    started on first use and shared by every phase (starting processes costs seconds).
    Progress counts documents: `sizes` holds each job's number of documents."""

    def __init__(self, workers: int, progress: ProgressFn | None):
        self.workers, self.progress = workers, progress
        self.pool: ProcessPoolExecutor | None = None

    def map(self, fn: Callable, jobs: list[tuple], sizes: list[int], phase: str) -> list[Any]:
        total, done = sum(sizes), 0
        report(self.progress, Progress(phase, 0, total, extra={"shards": 0}))
        if self.workers <= 1 or len(jobs) <= 1:
            results = (fn(*job) for job in jobs)
        else:
            if self.pool is None:
                # spawn, not fork: the parent may hold threads (Dask, Prefect) that fork copies
                self.pool = ProcessPoolExecutor(max_workers=self.workers,
                                                mp_context=multiprocessing.get_context("spawn"))
            futures = [self.pool.submit(fn, *job) for job in jobs]
            results = (f.result() for f in futures)
        out = []
        for i, (result, size) in enumerate(zip(results, sizes, strict=True)):
            out.append(result)
            done += size
            report(self.progress, Progress(phase, done, total, extra={"shards": i + 1}))
        return out

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()
            self.pool = None


@dataclass
class _Run:
    """What every phase of one run reads: the build, its config and the decided inputs."""

    layout: BuildLayout
    cfg: DedupConfig
    shards: list[Path]
    snapshots: list[Snapshot]
    skipped: list[dict]  # earlier builds found but not used, with the reason
    versions: dict[str, str]
    progress: ProgressFn | None
    timings: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    @property
    def params(self) -> dict:
        return params_of(self.cfg).to_json()


# ---------------------------------------------------------------- the stage

def run(layout: BuildLayout, config: DedupConfig, progress: ProgressFn | None = None, *,
        eval_texts: Sequence[str] | None = None,
        previous: Sequence[str | Path] | None = None) -> dict[str, Any]:
    """Dedup one build; returns the stats also written to dedup_stats.json.

    `eval_texts`: documents sharing a `decontam_ngram`-gram with one are marked contaminated.
    `previous` adds earlier builds to `config.previous` (and the discovered snapshots).
    Skipped (stats with "skipped": True) when dedup.parquet is newer than every docs shard
    and the config, earlier builds, evaluation texts and package versions are those it was
    made with.
    """
    if not isinstance(config, DedupConfig):
        raise TypeError(f"the dedup stage takes a DedupConfig (config.dedup), "
                        f"not {type(config).__name__}")
    layout = BuildLayout(layout.root if isinstance(layout, BuildLayout) else layout)
    shards = layout.require_docs_shards()
    try:
        snapshots, skipped = find_previous(
            layout, list(config.previous) + [str(p) for p in previous or []],
            config.discover_previous, params_of(config).to_json())
    except ValueError as e:
        raise UsageError(str(e)) from None
    r = _Run(layout, config, shards, snapshots, skipped, package_versions(OUTPUT_PACKAGES),
             progress)
    inputs = _inputs(r, eval_texts)
    done = finished(r, inputs)
    if done is not None:
        return done
    runner = _Runner(config.workers, progress)
    try:
        resume = sketch(r, runner)
        graph = load_graph(r)
        with join_backend(r, graph) as (join, lookup):
            labels, n_candidates = cluster(r, graph, join)
            # while the backend is up: the same join over this build's signatures only
            t0 = time.perf_counter()
            thresholds = threshold_report(
                functools.partial(join, len(shards)),
                graph.has_sig[:graph.nodes.n_current], config, progress)
            r.timings["threshold_report_s"] = time.perf_counter() - t0
            keeper, jacc = keep_one(r, graph, labels, lookup)
        # the Jaccard estimates are all the output needs of the signatures: free them (the
        # local backend's matrix, num_perm x 4 bytes per document) before the columns
        del join, lookup
        columns = output_columns(graph.nodes, keeper, jacc, _snapshot_names(r))
        del keeper, jacc
        columns["contaminated"], overlap = decontaminate(r, eval_texts, graph, columns, runner)
    finally:
        runner.close()
    stats = dedup_stats(r, graph, labels, columns, n_candidates, thresholds, overlap, resume)
    write_outputs(r, columns, stats, inputs)
    return stats


def _eval_digest(eval_texts: Sequence[str] | None) -> str | None:
    if not eval_texts:
        return None
    h = hashlib.sha256()
    for text in eval_texts:
        data = (text or "").encode("utf-8")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def _inputs(r: _Run, eval_texts: Sequence[str] | None) -> dict[str, Any]:
    """Everything besides the docs shards that decides this run's output."""
    return {"dedup": r.cfg.model_dump(mode="json"),
            # an earlier build deduplicated again since changes what is a duplicate here
            "previous": [{"build": str(s.dedup_dir.parent),
                          "done": done_file(s.dedup_dir).stat().st_mtime_ns}
                         for s in r.snapshots],
            "eval_texts": _eval_digest(eval_texts),
            "versions": r.versions}


def finished(r: _Run, inputs: dict[str, Any]) -> dict[str, Any] | None:
    """The stats of the finished run when nothing it read has changed since; else None."""
    layout = r.layout
    marker = done_file(layout.dedup_dir)
    if not (layout.dedup.exists() and marker.exists() and layout.stats("dedup").exists()):
        return None
    try:
        done = read_json(marker)
    except ValueError:  # a marker cut short: not a finished run
        return None
    made = layout.dedup.stat().st_mtime_ns
    docs = r.shards + sorted(layout.docs_markers.glob("*.json"))
    if (done.get("inputs") != inputs or done.get("shards") != [p.stem for p in r.shards]
            or any(p.stat().st_mtime_ns > made for p in docs)
            or discard_reason(layout.dedup_dir, r.params, r.versions) is not None):
        return None
    stats = read_json(layout.stats("dedup"))
    return {**stats, "skipped": True,
            "resume": {"skipped": stats.get("docs_shards", 0), "redone": {}}}


# ---------------------------------------------------------------- phase: signatures

def sketch(r: _Run, runner: _Runner) -> dict[str, Any]:
    """Signatures of every docs shard not already stored; returns the `resume` stats."""
    dedup_dir = r.layout.dedup_dir
    clean_stale_tmp(dedup_dir)
    stored = set(shard_names(dedup_dir))
    discarded = prepare(dedup_dir, r.params, r.versions)
    clean_stale_tmp(dedup_dir / "signatures")
    clean_stale_tmp(dedup_dir / MINHASH_DIR)
    todo = [p for p in r.shards if not shard_done(dedup_dir, p.stem, source_stamp(p))]
    redone: Counter[str] = Counter()
    for p in todo:
        if p.stem in stored:  # it had signatures: say why they are computed again
            redone[discarded or "its docs shard was written again since"] += 1
    t0 = time.perf_counter()
    sketcher = Sketcher(params_of(r.cfg))
    runner.map(sketch_shard, [(str(p), str(dedup_dir), sketcher) for p in todo],
               [_num_rows(p) for p in todo], "signatures")
    r.timings["signatures_s"] = time.perf_counter() - t0
    return {"skipped": len(r.shards) - len(todo), "redone": dict(redone.most_common())}


# ---------------------------------------------------------------- phase: clusters

@dataclass
class Graph:
    """The nodes of one run (this build's documents, then earlier snapshots', oldest first)
    and the signature shard files that hold their rows, in node order."""

    nodes: Nodes
    has_sig: np.ndarray  # bool per node: has a signature (some text)
    npys: list[Path]
    metapaths: list[Path]
    counts: list[int]  # nodes per shard


def load_graph(r: _Run) -> Graph:
    """The per-node columns of this build and its earlier snapshots (no signature rows),
    filled shard by shard into arrays sized from the Parquet footers: one shard's table is
    held at a time (concatenating every shard's table, then converting it, held each column
    two or three times over and left the allocator holding ~100 bytes per document)."""
    dirs = [r.layout.dedup_dir] + [s.dedup_dir for s in r.snapshots]
    names = [[p.stem for p in r.shards]] + [
        read_json(done_file(s.dedup_dir)).get("shards") or shard_names(s.dedup_dir)
        for s in r.snapshots]
    ranks = [len(r.snapshots)] + list(range(len(r.snapshots)))
    shards = [(d, name, rank) for d, shard_list, rank in zip(dirs, names, ranks, strict=True)
              for name in shard_list]
    npys, metapaths = [], []
    for d, name, _ in shards:
        npy, mp = shard_files(d, name)
        npys.append(npy)
        metapaths.append(mp)
    counts = [meta_rows(mp) for mp in metapaths]
    total = sum(counts)
    karma = np.empty(total, dtype=np.int64)
    n_chars = np.empty(total, dtype=np.int64)
    snapshot = np.empty(total, dtype=np.int32)
    hashes = np.empty(total, dtype=np.uint64)
    has_sig = np.empty(total, dtype=bool)
    doc_ids: list[pa.Array] = []
    start = 0
    for (d, name, rank), count in zip(shards, counts, strict=True):
        t = read_meta(d, name)
        if t.num_rows != count:  # the footer and the row groups disagree: a damaged file
            raise UsageError(f"{shard_files(d, name)[1]}: {t.num_rows:,} rows read, its "
                             f"footer says {count:,}: delete it to compute it again")
        end = start + count
        karma[start:end] = t.column("karma").to_numpy()
        n_chars[start:end] = t.column("n_chars").to_numpy()
        snapshot[start:end] = rank
        hashes[start:end] = t.column("text_hash").to_numpy()
        has_sig[start:end] = t.column("has_sig").to_numpy(zero_copy_only=False)
        doc_ids.extend(t.column("doc_id").chunks)  # only the ids' buffers outlive the table
        start = end
        del t
    # give the freed tables' pages back to the system rather than keep them for later reads
    pa.default_memory_pool().release_unused()
    nodes = Nodes(
        doc_id=pa.chunked_array(doc_ids, pa.string()),
        karma=karma,
        n_chars=n_chars,
        snapshot=snapshot,
        hashes=hashes,
        n_current=sum(counts[: len(r.shards)]),
    )
    return Graph(nodes, has_sig, npys, metapaths, counts)


def load_signatures(graph: Graph, num_perm: int) -> np.ndarray:
    """Every node's signature row in one matrix, filled shard by shard from memory-mapped
    files: the rows are held once (np.concatenate of loaded shards holds them twice)."""
    sigs = np.empty((sum(graph.counts), num_perm), dtype=np.uint32)
    start = 0
    for path, count in zip(graph.npys, graph.counts, strict=True):
        part = np.load(path, mmap_mode="r")
        if part.shape != (count, num_perm):
            raise UsageError(f"{path}: signatures of shape {part.shape}, expected "
                             f"({count}, {num_perm}): delete {path.parent.parent} to "
                             f"compute them again")
        sigs[start:start + count] = part
        start += count
        del part  # unmaps the file: its pages stop counting as this process's memory
    return sigs


@contextmanager
def join_backend(r: _Run, graph: Graph) -> Iterator[tuple[Join, SigLookup]]:
    """The configured band join over the first k signature shards, and the signature rows of
    any node, for as long as the backend is up (a Dask cluster is started once). The time it
    takes to start counts in the `cluster_s` timing."""
    cfg = r.cfg
    t0 = time.perf_counter()
    if cfg.backend == "local":
        # the signature rows in memory (num_perm x 4 bytes per document); the join adds a
        # few int64 per document and band (benchmarks/dedup_bench.py)
        sigs = load_signatures(graph, cfg.num_perm)
        offsets = np.concatenate([[0], np.cumsum(graph.counts)]).astype(np.int64)

        def join(k: int, threshold: float, bands: int, rows: int) -> tuple[np.ndarray, int]:
            n = int(offsets[k])
            return cluster_local(sigs[:n], graph.nodes.hashes[:n], graph.has_sig[:n], bands,
                                 rows, threshold, cfg.verify)

        r.timings["cluster_s"] = time.perf_counter() - t0
        yield join, lambda ids: sigs[ids]
        return
    from webtext.dedup.scale import cluster_dask, dask_client

    work = r.layout.dedup_dir / JOIN_DIR
    with dask_client(cfg.dask_scheduler, cfg.dask_workers) as client:
        r.timings["cluster_s"] = time.perf_counter() - t0

        def join_dask(k: int, threshold: float, bands: int, rows: int
                      ) -> tuple[np.ndarray, int]:
            return cluster_dask(client, graph.npys[:k], graph.metapaths[:k], graph.counts[:k],
                                bands, rows, threshold, cfg.verify, cfg.partitions, work)

        yield join_dask, ShardedSignatures(graph.npys, graph.counts, mmap=True)


def cluster(r: _Run, graph: Graph, join: Join) -> tuple[np.ndarray, int]:
    """Component labels of every node at the configured threshold, candidate pairs verified."""
    t0 = time.perf_counter()
    n = len(graph.has_sig)
    report(r.progress, Progress("clusters", 0, n))
    bands, rows = lsh_params(r.cfg.threshold, r.cfg.num_perm, r.cfg.lsh_weights[0])
    labels, n_candidates = join(len(graph.npys), r.cfg.threshold, bands, rows)
    report(r.progress, Progress("clusters", n, n, extra={"candidate_pairs": n_candidates}))
    r.timings["cluster_s"] = r.timings.get("cluster_s", 0.0) + time.perf_counter() - t0
    return labels, n_candidates


def threshold_report(join: Callable[[float, int, int], tuple[np.ndarray, int]],
                     has_sig: np.ndarray, cfg: DedupConfig,
                     progress: ProgressFn | None = None) -> list[dict]:
    """Duplicate rate of this build at each report threshold; `join(threshold, bands, rows)`
    clusters the stored signatures (labels, candidate pairs): no signature is recomputed."""
    out = []
    n_text = int(np.count_nonzero(has_sig))
    for t in cfg.report_thresholds:
        bands, rows = lsh_params(t, cfg.num_perm, cfg.lsh_weights[0])
        labels, n_candidates = join(t, bands, rows)
        clusters = len(np.unique(labels[has_sig]))
        dups = n_text - clusters
        out.append({"threshold": t, "bands": bands, "rows": rows, "duplicates": dups,
                    "dup_rate": dups / n_text if n_text else 0.0,
                    "candidate_pairs": n_candidates})
        report(progress, Progress("threshold report", len(out), len(cfg.report_thresholds),
                                  detail=f"threshold {t}"))
    return out


# ---------------------------------------------------------------- phase: keep rule

def keep_one(r: _Run, graph: Graph, labels: np.ndarray, lookup: SigLookup
             ) -> tuple[np.ndarray, np.ndarray]:
    """The kept node of every node's cluster, and the estimated Jaccard of each of this
    build's documents with its kept one (NaN when kept); the output columns follow from
    these (`output_columns`) once the signatures are freed."""
    keeper = keeper_order(graph.nodes, labels, r.cfg.keep_rule)
    return keeper, dup_jaccard(keeper, graph.nodes.n_current, lookup)


def _snapshot_names(r: _Run) -> list[str]:
    """The build names by snapshot rank: earlier builds, oldest first, then this one."""
    return [s.name for s in r.snapshots] + [r.layout.root.name]


# ---------------------------------------------------------------- phase: decontamination

def decontaminate(r: _Run, eval_texts: Sequence[str] | None, graph: Graph,
                  columns: dict[str, pa.Array], runner: _Runner
                  ) -> tuple[np.ndarray, dict | None]:
    """Whether each document shares a `decontam_ngram`-gram with an evaluation text, and the
    overlap report (evaluation 8-grams found in all documents, and in those kept for
    training); all False and no report without evaluation texts."""
    n = len(columns["doc_id"])
    if not eval_texts:
        return np.zeros(n, dtype=bool), None
    t0 = time.perf_counter()
    index = EvalIndex(list(eval_texts), n=r.cfg.decontam_ngram, overlap_n=r.cfg.overlap_ngram)
    scanned = runner.map(scan_shard, [(str(p), index) for p in r.shards],
                         [_num_rows(p) for p in r.shards], "decontamination")
    keep = columns["keep"].to_numpy(zero_copy_only=False)
    starts = np.cumsum([0] + graph.counts[:len(r.shards)])
    flagged, hits_all, hits_train = [], [], []
    for start, (rows, flags, hits) in zip(starts[:-1], scanned, strict=True):
        pos = start + rows  # this build's nodes are its documents in shard and row order
        flagged.append(pos[flags])
        hits_all += hits
        train = keep[pos] & ~flags
        hits_train += [h for h, t in zip(hits, train, strict=True) if t]
    overlap = {
        "all_docs_with_text": index.report(hits_all, len(hits_all)),
        "kept_not_contaminated": index.report(hits_train, len(hits_train)),
    }
    r.timings["decontam_s"] = time.perf_counter() - t0
    # by doc_id: every row of a contaminated document's id is marked
    ids = columns["doc_id"].take(pa.array(np.concatenate(flagged)))
    return pc.is_in(columns["doc_id"], value_set=ids).to_numpy(zero_copy_only=False), overlap


# ---------------------------------------------------------------- phase: stats and outputs

def dedup_stats(r: _Run, graph: Graph, labels: np.ndarray, columns: dict[str, Any],
                n_candidates: int, thresholds: list[dict], overlap: dict | None,
                resume: dict[str, Any]) -> dict[str, Any]:
    """The counts of dedup_stats.json: every document in exactly one state, and how."""
    cfg, n_current = r.cfg, graph.nodes.n_current
    bands, rows = lsh_params(cfg.threshold, cfg.num_perm, cfg.lsh_weights[0])
    kinds = {k["values"]: k["counts"] for k in pc.value_counts(columns["dup_kind"]).to_pylist()}
    keep = columns["keep"].to_numpy(zero_copy_only=False)
    return {
        "docs": n_current,
        "docs_shards": len(r.shards),
        # clean/ writes docs/.done/<shard>.json after each shard; a shard without one was
        # read anyway (its Parquet file is written atomically) and is counted here
        "docs_shards_without_done_marker": sum(
            1 for p in r.shards if not shard_marker(p).exists()),
        "docs_without_text": int(n_current - np.count_nonzero(graph.has_sig[:n_current])),
        "kept": int(np.count_nonzero(keep)),
        **{f"dup_{k.value}": int(kinds.get(k.value, 0)) for k in DupKind},
        "clusters_with_duplicates": len(pc.unique(columns["cluster_id"].filter(pa.array(~keep)))),
        "contaminated": int(np.count_nonzero(columns["contaminated"])),
        # pairs whose Jaccard estimate was checked; the Dask join checks a pair once in
        # every partition where it shares a bucket, so its count can be higher
        "candidate_pairs_verified": n_candidates,
        "lsh": {"backend": cfg.backend, "threshold": cfg.threshold, "bands": bands,
                "rows": rows, "weights": list(cfg.lsh_weights), "verify": cfg.verify,
                **r.params, "datasketch": datasketch_version()},
        "previous_builds": [str(s.dedup_dir.parent) for s in r.snapshots],
        "previous_docs": int(len(labels) - n_current),
        "previous_skipped": r.skipped,
        "versions": r.versions,
        "resume": resume,
        "overlap": overlap,
        "threshold_report": thresholds,
        "timings": {k: round(v, 3) for k, v in r.timings.items()}
        | {"total_s": round(time.perf_counter() - r.started, 3)},
    }


def write_outputs(r: _Run, columns: dict[str, Any], stats: dict[str, Any],
                  inputs: dict[str, Any]) -> None:
    """dedup.parquet, then the stats and resolved config, then the done marker (last)."""
    from webtext.config import write_resolved  # pydantic + every stage config: only here

    layout = r.layout
    write_parquet(layout.dedup, pa.table(columns, schema=DEDUP_SCHEMA))
    write_json(layout.dedup_dir / THRESHOLDS_FILE, stats["threshold_report"])
    write_json(layout.stats("dedup"), stats)
    write_resolved(r.cfg, layout.config("dedup"))
    write_json(done_file(layout.dedup_dir),
               {"params": r.params, "versions": r.versions, "docs": stats["docs"],
                "shards": [p.stem for p in r.shards], "lsh": stats["lsh"], "inputs": inputs})
