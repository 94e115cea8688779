"""The dedup/ folder of a build: stored signatures per shard, their parameters, done marker.

In:  signatures and per-document columns from the sketch step; a build layout.
Out: files under `layout.dedup_dir`, enough to rebuild the LSH index without the text:
     signatures/<shard>.parquet (doc_id, text_hash, has_sig, karma, n_chars; written after
     the signature rows, so it marks the shard done), .minhash/<shard>.npy (uint32, one row of
     num_perm values per document, memory-mappable), .params.json (what decides a signature,
     and the package versions that computed them), .thresholds.json (duplicate rate by
     threshold, also in dedup_stats.json) and .done.json (written last: a later build may use
     this one as an earlier snapshot only once it exists).
Everything but the Parquet tables has a "." name, which dataset readers skip (pyarrow, pandas,
`datasets`), so dedup/ opens as a dataset of the per-document columns. A dedup/ written before
(params.json, done.json, signatures/*.npy) is not reused: its signatures are computed again.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from webtext.io import atomic_path, read_json, write_json, write_parquet
from webtext.layout import BuildLayout, version_change

FORMAT = "webtext-dedup/2"
PARAMS_FILE = ".params.json"
DONE_FILE = ".done.json"
THRESHOLDS_FILE = ".thresholds.json"
MINHASH_DIR = ".minhash"
JOIN_DIR = ".join"  # the Dask join's intermediate files, removed when it ends
LEGACY_FILES = ("params.json", "done.json", "thresholds.json")  # webtext-dedup/1 names

META_SCHEMA = pa.schema([
    ("doc_id", pa.string()),
    ("text_hash", pa.uint64()),
    ("has_sig", pa.bool_()),
    ("karma", pa.int64()),
    ("n_chars", pa.int64()),
])

DEDUP_SCHEMA = pa.schema([
    ("doc_id", pa.string()),
    ("cluster_id", pa.string()),  # the kept document's doc_id (its own id when kept)
    ("keep", pa.bool_()),
    ("dup_of", pa.string()),
    ("dup_kind", pa.string()),  # a DupKind value, null when kept
    ("jaccard_est", pa.float64()),
    ("contaminated", pa.bool_()),
    ("dup_build", pa.string()),  # earlier build holding the kept copy (earlier_snapshot only)
])


def sig_dir(dedup_dir: Path) -> Path:
    return Path(dedup_dir) / "signatures"


def shard_files(dedup_dir: Path, name: str) -> tuple[Path, Path]:
    """(signature rows .npy, per-document columns .parquet) of one shard."""
    return (Path(dedup_dir) / MINHASH_DIR / f"{name}.npy",
            sig_dir(dedup_dir) / f"{name}.parquet")


def done_file(dedup_dir: Path) -> Path:
    return Path(dedup_dir) / DONE_FILE


def source_stamp(docs_path: Path) -> str:
    """Size and modification time of a docs shard: a re-written shard gets new signatures."""
    st = Path(docs_path).stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def shard_done(dedup_dir: Path, name: str, stamp: str) -> bool:
    """Signatures of this shard exist and were computed from the same docs file."""
    npy, meta = shard_files(dedup_dir, name)
    if not (npy.exists() and meta.exists()):
        return False
    stored = pq.read_schema(meta).metadata or {}
    return stored.get(b"webtext.source") == stamp.encode()


def write_shard(dedup_dir: Path, name: str, meta: pa.Table, sigs: np.ndarray,
                stamp: str) -> None:
    npy, meta_path = shard_files(dedup_dir, name)
    meta_path.unlink(missing_ok=True)  # the .parquet marks the shard done: it goes last
    with atomic_path(npy) as tmp, open(tmp, "wb") as f:
        np.save(f, sigs)
    write_parquet(meta_path, meta.replace_schema_metadata({"webtext.source": stamp}))


def read_meta(dedup_dir: Path, name: str) -> pa.Table:
    return pq.read_table(shard_files(dedup_dir, name)[1])


def meta_rows(meta_path: Path) -> int:
    """Rows of a shard's per-document table, from its Parquet footer (nothing else read)."""
    return pq.read_metadata(meta_path).num_rows


def shard_names(dedup_dir: Path) -> list[str]:
    return sorted(p.stem for p in sig_dir(dedup_dir).glob("*.parquet")
                  if not p.name.startswith("."))


def discard_reason(dedup_dir: Path, params: dict, versions: dict[str, str]) -> str | None:
    """Why the signatures stored in `dedup_dir` cannot be reused (None: they can, or none)."""
    path = dedup_dir / PARAMS_FILE
    if not path.exists():
        if any((dedup_dir / name).exists() for name in LEGACY_FILES):
            return "signatures from an older webtext (dedup/params.json)"
        return None
    try:
        stored = read_json(path)
    except ValueError:
        return f"unreadable {path.name}"
    if stored.get("format") != FORMAT:
        return f"signatures stored as {stored.get('format')}, not {FORMAT}"
    if stored.get("params") != params:
        return "other signature parameters (config changed)"
    return version_change(stored.get("versions"), versions)


def prepare(dedup_dir: Path, params: dict, versions: dict[str, str]) -> str | None:
    """Make `dedup_dir` hold signatures of `params` computed under `versions`; returns why the
    stored ones were removed, or None when they are kept (or there were none)."""
    dedup_dir = Path(dedup_dir)
    why = discard_reason(dedup_dir, params, versions)
    if why is not None:
        shutil.rmtree(sig_dir(dedup_dir), ignore_errors=True)
        shutil.rmtree(dedup_dir / MINHASH_DIR, ignore_errors=True)
        for name in LEGACY_FILES:
            (dedup_dir / name).unlink(missing_ok=True)
    sig_dir(dedup_dir).mkdir(parents=True, exist_ok=True)
    (dedup_dir / MINHASH_DIR).mkdir(parents=True, exist_ok=True)
    done_file(dedup_dir).unlink(missing_ok=True)
    write_json(dedup_dir / PARAMS_FILE,
               {"format": FORMAT, "params": params, "versions": versions})
    return why


@dataclass(frozen=True)
class Snapshot:
    """A finished earlier build used for incremental dedup."""

    name: str  # the build directory's name, e.g. a date
    dedup_dir: Path


def _finished(root: Path) -> bool:
    return done_file(BuildLayout(root).dedup_dir).exists()


def _unfinished_reason(root: Path) -> str:
    dd = BuildLayout(root).dedup_dir
    if (dd / "done.json").exists():
        return ("its dedup/ was written by an older webtext: run `webtext dedup` on it "
                "again")
    return f"no finished dedup/ ({DONE_FILE} missing)"


def find_previous(layout: BuildLayout, explicit: list[str], discover: bool, params: dict
                  ) -> tuple[list[Snapshot], list[dict]]:
    """Earlier builds to dedup against, oldest first, and the ones skipped with a reason.

    Explicit builds must be finished and compatible (ValueError otherwise). Only a snapshot
    of a scheduled corpus (DATA_ROOT/snapshots/<time>/) discovers earlier builds: the
    finished snapshots beside it (with their manifest) whose names sort before its own;
    those that are not compatible are skipped. Any other build beside this one is not an
    earlier snapshot of it (two builds side by side may hold the same documents on purpose)
    unless named in `explicit`.
    """
    me = layout.root.resolve()
    found: dict[Path, bool] = {}
    for p in explicit:
        found[Path(p).resolve()] = True
    if discover and layout.is_snapshot() and me.parent.is_dir():
        for p in sorted(me.parent.iterdir()):
            if p.is_dir() and p.name < me.name and BuildLayout(p).snapshot_finished():
                found.setdefault(p.resolve(), False)
    out, skipped = [], []
    for root, is_explicit in sorted(found.items(), key=lambda kv: kv[0].name):
        if root == me:
            continue
        dd = BuildLayout(root).dedup_dir
        why = None
        if not _finished(root):
            why = _unfinished_reason(root)
        elif read_json(dd / PARAMS_FILE).get("params") != params:
            why = "signature parameters differ from this build's"
        if why and is_explicit:
            raise ValueError(f"previous build {root}: {why}")
        if why:
            skipped.append({"build": str(root), "reason": why})
        else:
            out.append(Snapshot(root.name, dd))
    return out, skipped


class ShardedSignatures:
    """Signature rows of nodes spread over shard .npy files (memory-mapped or loaded)."""

    def __init__(self, npy_paths: list[Path], counts: list[int], mmap: bool = True):
        self.paths = [str(p) for p in npy_paths]
        self.offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.mmap = mmap
        self._arrays: dict[int, np.ndarray] = {}

    def _array(self, i: int) -> np.ndarray:
        if i not in self._arrays:
            self._arrays[i] = np.load(self.paths[i], mmap_mode="r" if self.mmap else None)
        return self._arrays[i]

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        shard = np.searchsorted(self.offsets, ids, side="right") - 1
        out = None
        for s in np.unique(shard):
            mask = shard == s
            rows = np.asarray(self._array(int(s))[ids[mask] - self.offsets[s]])
            if out is None:
                out = np.empty((len(ids), rows.shape[1]), dtype=np.uint32)
            out[mask] = rows
        return out if out is not None else np.empty((0, 0), dtype=np.uint32)
