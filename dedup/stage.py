"""The dedup stage runner: docs/*.parquet in, dedup.parquet and the dedup/ folder out.

In:  a build's docs shards (doc_id, text, karma, n_chars), its DedupConfig, optional
     evaluation texts and earlier builds.
Out: dedup.parquet (one row per document: cluster_id, keep, dup_of, dup_kind, jaccard_est,
     contaminated, dup_build), dedup/ (signatures per shard, parameters, threshold report and
     done marker: dedup/store.py), dedup_stats.json (with `resume`: signature shards reused
     or computed again, and why) and configs/dedup.toml. Nothing is deleted: duplicates are
     marked. Every document ends in exactly one state: kept, or exact / near /
     earlier_snapshot duplicate; documents without text are kept singletons (the quality
     rules already exclude them).

Steps: (1) signatures per docs shard in worker processes, skipped when already stored with
the same parameters and package versions (OUTPUT_PACKAGES) from the same docs file
(resumable); (2) clusters over this build's and earlier snapshots' signatures, with
datasketch MinHashLSH in memory, the numpy band join in this process, or the sharded band join
on Dask (the same clusters); (3)
duplicate rate by threshold from the stored signatures; (4) the keep rule; (5)
decontamination against the evaluation texts. File I/O lives here; the logic is in the
modules it calls.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from webtext.dedup.bandjoin import cluster_local
from webtext.dedup.clusters import DupKind, Nodes, assign, cluster_memory
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
    done_file,
    find_previous,
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

Progress = Callable[[str, int, int], None]  # (phase, done, total)
# The packages whose code decides a stored signature: webtext (shingles, hashing, permutations)
# and datasketch (the sha1 shingle hash; the scheme the signatures must stay identical to).
OUTPUT_PACKAGES = ("webtext", "datasketch")


def params_of(cfg: DedupConfig) -> SketchParams:
    return SketchParams(num_perm=cfg.num_perm, seed=cfg.seed, ngram=cfg.ngram,
                        shingle_hash=cfg.shingle_hash)


def _read_docs(path: Path, columns: list[str]) -> pa.Table:
    names = pq.read_schema(path).names
    if "doc_id" not in names:
        raise UsageError(f"{path}: not a docs shard (no doc_id column)")
    return pq.read_table(path, columns=[c for c in columns if c in names])


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
    """Worker: read one docs shard, write its signatures; returns counts."""
    stamp = source_stamp(Path(docs_path))
    table = _read_docs(Path(docs_path), ["doc_id", "text", "karma", "n_chars"])
    meta, sigs = sketch_table(table, sketcher)
    write_shard(Path(dedup_dir), Path(docs_path).stem, meta, sigs, stamp)
    return {"docs": meta.num_rows, "with_text": int(np.count_nonzero(meta["has_sig"]))}


def scan_shard(docs_path: str, index: EvalIndex) -> list[tuple[str, bool, np.ndarray]]:
    """Worker: (doc_id, contaminated, eval 8-gram hits) of the documents with text."""
    table = _read_docs(Path(docs_path), ["doc_id", "text"])
    out = []
    for doc_id, text in zip(table.column("doc_id").to_pylist(),
                            table.column("text").to_pylist(), strict=True):
        words = normalize_words(text or "")
        if words:
            contaminated, hits = index.scan_words(words)
            out.append((doc_id, contaminated, hits))
    return out


class _Runner:
    """Runs per-shard jobs inline (one worker) or in one pool of spawned processes that is
    started on first use and shared by every phase (starting processes costs seconds)."""

    def __init__(self, workers: int, progress: Progress | None):
        self.workers, self.progress = workers, progress
        self.pool: ProcessPoolExecutor | None = None

    def map(self, fn: Callable, jobs: list[tuple], phase: str) -> list[Any]:
        results: list[Any] = []
        if self.workers <= 1 or len(jobs) <= 1:
            for i, job in enumerate(jobs):
                results.append(fn(*job))
                if self.progress:
                    self.progress(phase, i + 1, len(jobs))
            return results
        if self.pool is None:
            # spawn, not fork: the parent may hold threads (Dask, Prefect) that fork would copy
            self.pool = ProcessPoolExecutor(max_workers=self.workers,
                                            mp_context=multiprocessing.get_context("spawn"))
        futures = [self.pool.submit(fn, *job) for job in jobs]
        for i, f in enumerate(futures):
            results.append(f.result())
            if self.progress:
                self.progress(phase, i + 1, len(jobs))
        return results

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()
            self.pool = None


def _load_nodes(dedup_dirs: list[Path], names_per_dir: list[list[str]], ranks: list[int]
                ) -> tuple[Nodes, np.ndarray, list[Path], list[Path], list[int]]:
    metas, npys, metapaths, counts, snap = [], [], [], [], []
    for d, names, rank in zip(dedup_dirs, names_per_dir, ranks, strict=True):
        for name in names:
            t = read_meta(d, name)
            metas.append(t)
            npy, mp = shard_files(d, name)
            npys.append(npy)
            metapaths.append(mp)
            counts.append(t.num_rows)
            snap.append(np.full(t.num_rows, rank, dtype=np.int32))
    table = pa.concat_tables(metas)
    nodes = Nodes(
        doc_id=table.column("doc_id"),
        karma=table.column("karma").to_numpy(),
        n_chars=table.column("n_chars").to_numpy(),
        snapshot=np.concatenate(snap),
        hashes=table.column("text_hash").to_numpy().astype(np.uint64),
        n_current=0,
    )
    has_sig = table.column("has_sig").to_numpy(zero_copy_only=False)
    return nodes, has_sig, npys, metapaths, counts


def threshold_report(join: Callable[[float, int, int], tuple[np.ndarray, int]],
                     has_sig: np.ndarray, cfg: DedupConfig) -> list[dict]:
    """Duplicate rate of this build at each report threshold; `join(threshold, bands, rows)`
    clusters the stored signatures (labels, candidate pairs)."""
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
    return out


def dedup_build(layout: BuildLayout, config: Any, eval_texts: list[str] | None = None,
                previous: list[str | Path] | None = None,
                progress: Progress | None = None) -> dict[str, Any]:
    """Run the dedup stage on one build; returns the stats also written to dedup_stats.json.

    `config` is a DedupConfig or a WebtextConfig (its `dedup` table is used). `previous`
    adds earlier builds to those in the config (and the discovered siblings).
    """
    cfg: DedupConfig = config.dedup if hasattr(config, "dedup") else config
    runner = _Runner(cfg.workers, progress)
    try:
        return _dedup_build(layout, cfg, eval_texts, previous, runner)
    finally:
        runner.close()


def _dedup_build(layout: BuildLayout, cfg: DedupConfig, eval_texts: list[str] | None,
                 previous: list[str | Path] | None, runner: _Runner) -> dict[str, Any]:
    from webtext.config import write_resolved  # pydantic + every stage config: only here

    layout = BuildLayout(layout.root if isinstance(layout, BuildLayout) else layout)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    shards = layout.require_docs_shards()
    params = params_of(cfg)
    pjson = params.to_json()
    versions = package_versions(OUTPUT_PACKAGES)
    clean_stale_tmp(layout.dedup_dir)
    stored = set(shard_names(layout.dedup_dir))
    discarded = prepare(layout.dedup_dir, pjson, versions)
    clean_stale_tmp(layout.dedup_dir / "signatures")
    clean_stale_tmp(layout.dedup_dir / MINHASH_DIR)

    # (1) signatures, one docs shard per job; finished shards are kept
    todo = [p for p in shards if not shard_done(layout.dedup_dir, p.stem, source_stamp(p))]
    redone: Counter[str] = Counter()
    for p in todo:
        if p.stem in stored:  # it had signatures: say why they are computed again
            redone[discarded or "its docs shard was written again since"] += 1
    resume = {"skipped": len(shards) - len(todo), "redone": dict(redone.most_common())}
    t0 = time.perf_counter()
    sketcher = Sketcher(params)
    runner.map(sketch_shard, [(str(p), str(layout.dedup_dir), sketcher) for p in todo],
               "signatures")
    timings["signatures_s"] = time.perf_counter() - t0

    # (2) clusters over this build and the earlier snapshots
    try:
        snapshots, skipped = find_previous(
            layout, list(cfg.previous) + [str(p) for p in previous or []],
            cfg.discover_previous, pjson)
    except ValueError as e:
        raise UsageError(str(e)) from None
    dirs = [layout.dedup_dir] + [s.dedup_dir for s in snapshots]
    names = [[p.stem for p in shards]] + [
        read_json(done_file(s.dedup_dir)).get("shards") or shard_names(s.dedup_dir)
        for s in snapshots]
    ranks = [len(snapshots)] + list(range(len(snapshots)))
    nodes, has_sig, npys, metapaths, counts = _load_nodes(dirs, names, ranks)
    n_current = sum(counts[: len(shards)])
    nodes.n_current = n_current
    bands, rows = lsh_params(cfg.threshold, cfg.num_perm, cfg.lsh_weights[0])
    t0 = time.perf_counter()
    with ExitStack() as stack:
        if cfg.backend in ("memory", "numpy"):
            sigs = np.concatenate([np.load(p) for p in npys])
            if cfg.backend == "memory":
                labels, n_candidates = cluster_memory(sigs, nodes.hashes, has_sig, bands,
                                                      rows, cfg.threshold, cfg.verify, cfg.seed)
            else:
                labels, n_candidates = cluster_local(sigs, nodes.hashes, has_sig, bands, rows,
                                                     cfg.threshold, cfg.verify)

            def lookup(ids: np.ndarray) -> np.ndarray:
                return sigs[ids]

            def report_labels(t: float, b: int, r: int) -> tuple[np.ndarray, int]:
                return cluster_local(sigs[:n_current], nodes.hashes[:n_current],
                                     has_sig[:n_current], b, r, t, cfg.verify)
        else:
            from webtext.dedup.scale import cluster_dask, dask_client

            client = stack.enter_context(dask_client(cfg.dask_scheduler, cfg.dask_workers))
            work = layout.dedup_dir / JOIN_DIR
            labels, n_candidates = cluster_dask(
                client, npys, metapaths, counts, bands, rows, cfg.threshold, cfg.verify,
                cfg.partitions, work)
            lookup = ShardedSignatures(npys, counts, mmap=True)
            n_cur_shards = len(shards)

            def report_labels(t: float, b: int, r: int) -> tuple[np.ndarray, int]:
                return cluster_dask(client, npys[:n_cur_shards], metapaths[:n_cur_shards],
                                    counts[:n_cur_shards], b, r, t, cfg.verify,
                                    cfg.partitions, work)
        timings["cluster_s"] = time.perf_counter() - t0

        # (3) duplicate rate by threshold, from the stored signatures of this build: the
        # same join, without recomputing a signature (while the Dask cluster is up)
        t0 = time.perf_counter()
        report = threshold_report(report_labels, has_sig[:n_current], cfg)
        write_json(layout.dedup_dir / THRESHOLDS_FILE, report)
        timings["threshold_report_s"] = time.perf_counter() - t0

    # (4) keep rule
    snapshot_names = [s.name for s in snapshots] + [layout.root.name]
    columns = assign(nodes, labels, cfg.keep_rule, lookup, snapshot_names)

    # (5) decontamination
    contaminated = [False] * n_current
    overlap = None
    if eval_texts:
        t0 = time.perf_counter()
        index = EvalIndex(list(eval_texts), n=cfg.decontam_ngram, overlap_n=cfg.overlap_ngram)
        scanned = runner.map(scan_shard, [(str(p), index) for p in shards], "decontamination")
        flagged, hits_all, hits_train = set(), [], []
        position = {d: i for i, d in enumerate(columns["doc_id"])}
        for rows_ in scanned:
            for doc_id, is_contam, hits in rows_:
                if is_contam:
                    flagged.add(doc_id)
                hits_all.append(hits)
                if columns["keep"][position[doc_id]] and not is_contam:
                    hits_train.append(hits)
        contaminated = [d in flagged for d in columns["doc_id"]]
        overlap = {
            "all_docs_with_text": index.report(hits_all, len(hits_all)),
            "kept_not_contaminated": index.report(hits_train, len(hits_train)),
        }
        timings["decontam_s"] = time.perf_counter() - t0
    columns["contaminated"] = contaminated
    write_parquet(layout.dedup, pa.table(columns, schema=DEDUP_SCHEMA))

    kinds = columns["dup_kind"]
    stats: dict[str, Any] = {
        "docs": n_current,
        "docs_shards": len(shards),
        # clean/ writes docs/.done/<shard>.json after each shard; a shard without one was
        # read anyway (its Parquet file is written atomically) and is counted here
        "docs_shards_without_done_marker": sum(
            1 for p in shards if not shard_marker(p).exists()),
        "docs_without_text": int(n_current - np.count_nonzero(has_sig[:n_current])),
        "kept": int(sum(columns["keep"])),
        **{f"dup_{k.value}": sum(1 for x in kinds if x == k.value) for k in DupKind},
        "clusters_with_duplicates": len({c for c, k in zip(columns["cluster_id"],
                                                           columns["keep"], strict=True)
                                         if not k}),
        "contaminated": int(sum(contaminated)),
        # pairs whose Jaccard estimate was checked; the Dask join checks a pair once in
        # every partition where it shares a bucket, so its count can be higher
        "candidate_pairs_verified": n_candidates,
        "lsh": {"backend": cfg.backend, "threshold": cfg.threshold, "bands": bands,
                "rows": rows, "weights": list(cfg.lsh_weights), "verify": cfg.verify,
                **pjson, "datasketch": datasketch_version()},
        "previous_builds": [str(s.dedup_dir.parent) for s in snapshots],
        "previous_docs": int(len(labels) - n_current),
        "previous_skipped": skipped,
        "versions": versions,
        "resume": resume,
        "overlap": overlap,
        "threshold_report": report,
        "timings": {k: round(v, 3) for k, v in timings.items()}
        | {"total_s": round(time.perf_counter() - started, 3)},
    }
    write_json(layout.stats("dedup"), stats)
    write_resolved(cfg, layout.config("dedup"))
    write_json(done_file(layout.dedup_dir),
               {"params": pjson, "versions": versions, "docs": n_current,
                "shards": [p.stem for p in shards], "lsh": stats["lsh"]})
    return stats
