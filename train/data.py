"""Training and validation windows from a tokens dir (contract: tokens/<name>/ in docs/design.md).

In:  a tokens dir: manifest.json, train-*.parquet and val-*.parquet with a `tokens` list column;
     every document ends with the end-of-document id, so concatenating the rows gives GPT-2's
     document stream with `<|endoftext|>` between documents.
Out: batches (x, y) of shape (B, T): windows of T + 1 consecutive tokens, y shifted by one;
     `Batches` is all the trainer asks of this module once the flat arrays exist.

Decoding a Parquet row group per batch gave ~100 windows/s where slicing a flat memory-mapped
array gave ~170,000 (the issue's measurement; benchmarks/train_throughput.py measures both on
the machine at hand). So each split is decoded once, shard by shard, into a
flat `.npy` array (nanoGPT's `train.bin`, with a header) under `<tokens dir>/cache/`, beside the
manifest it is derived from, so every run and seed over the same tokens shares it. A sidecar
JSON records the source shards' sha256 (verified against the manifest before decoding) and the
array's own sha256; a mismatch on either side rebuilds the array. If the tokens dir is not
writable the cache goes inside the run dir.

Training windows are uniform random starts, drawn from a generator seeded by (seed, step,
micro-batch), so a batch depends on nothing but its position: resuming needs no data state and
a DDP run with k processes sees the same windows as one process with the same grad_accum.
Validation windows are fixed: evenly spaced starts over the whole val stream.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
from pydantic import ValidationError

from webtext.io import atomic_path, file_sha256, read_json, write_json
from webtext.records import TOKENS_FORMAT as MANIFEST_FORMAT
from webtext.records import TokensManifest

FLAT_FORMAT = "webtext-flat/1"


class TokensError(ValueError):
    """A tokens dir that does not follow the contract, or a shard whose checksum is wrong."""


def read_manifest(tokens_dir: Path) -> dict:
    """The tokens dir's manifest; its presence means the tokenize stage finished."""
    path = Path(tokens_dir) / "manifest.json"
    if not path.is_file():
        raise TokensError(f"{tokens_dir}: no manifest.json (not a finished tokens dir)")
    manifest = read_json(path)
    if manifest.get("format") != MANIFEST_FORMAT:
        raise TokensError(f"{path}: format {manifest.get('format')!r}, not {MANIFEST_FORMAT!r}")
    try:  # the typed contract (webtext.records); callers keep reading it as a dict
        TokensManifest.model_validate(manifest)
    except ValidationError as e:  # the first wrong field, on one line
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "manifest"
        raise TokensError(f"{path}: {where}: {first['msg']}") from None
    return manifest


def split_shards(manifest: dict, split: str) -> list[dict]:
    return [s for s in manifest["shards"] if s["split"] == split]


def _sidecar_ok(sidecar: Path, array: Path, sources: list[dict]) -> bool:
    if not (sidecar.is_file() and array.is_file()):
        return False
    meta = read_json(sidecar)
    if meta.get("format") != FLAT_FORMAT or meta.get("sources") != sources:
        return False  # the tokens dir was rewritten since the array was derived
    return meta.get("sha256") == file_sha256(array)  # the array itself is intact


def derive_flat(tokens_dir: Path, split: str, cache_dir: Path) -> Path:
    """Decode one split into a flat `.npy` token array (once); return its path.

    Reuses a cached array whose sidecar matches the manifest's shard checksums and whose own
    checksum matches; otherwise verifies every shard's sha256 and decodes row group by row group,
    so the corpus is never held in memory.
    """
    tokens_dir, cache_dir = Path(tokens_dir), Path(cache_dir)
    manifest = read_manifest(tokens_dir)
    shards = split_shards(manifest, split)
    if not shards:
        raise TokensError(f"{tokens_dir}: the manifest lists no {split!r} shards")
    sources = [{"file": s["file"], "sha256": s["sha256"]} for s in shards]
    array_path, sidecar = cache_dir / f"{split}.npy", cache_dir / f"{split}.json"
    if _sidecar_ok(sidecar, array_path, sources):
        return array_path

    dtype = np.dtype(manifest["dtype"])
    n_tokens = sum(int(s["tokens"]) for s in shards)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(array_path) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=(n_tokens,))
        pos = 0
        for shard in shards:
            path = tokens_dir / shard["file"]
            if file_sha256(path) != shard["sha256"]:
                raise TokensError(f"{path}: sha256 differs from the manifest (corrupt shard?)")
            parquet = pq.ParquetFile(path)
            for g in range(parquet.num_row_groups):
                column = parquet.read_row_group(g, columns=["tokens"]).column("tokens")
                flat = pc.list_flatten(column).to_numpy(zero_copy_only=False)
                if pos + len(flat) > n_tokens:
                    raise TokensError(f"{path}: more tokens than the manifest says")
                out[pos : pos + len(flat)] = flat
                pos += len(flat)
        if pos != n_tokens:
            raise TokensError(f"{tokens_dir}: {split} has {pos} tokens, manifest says {n_tokens}")
        out.flush()
        del out
    write_json(sidecar, {
        "format": FLAT_FORMAT, "split": split, "dtype": dtype.name, "n_tokens": n_tokens,
        "sources": sources, "sha256": file_sha256(array_path),
    })
    return array_path


def cache_dir_for(tokens_dir: Path, run_dir: Path) -> Path:
    """`<tokens dir>/cache`, shared by every run; the run dir if the tokens dir is read-only."""
    tokens_dir = Path(tokens_dir)
    return tokens_dir / "cache" if os.access(tokens_dir, os.W_OK) else Path(run_dir) / "cache"


def open_flat(path: Path) -> np.ndarray:
    return np.load(path, mmap_mode="r")


@dataclass(frozen=True)
class SplitInfo:
    """What the evaluation needs to turn nats/token into bits/byte."""

    tokens: int
    bytes: int

    @property
    def bytes_per_token(self) -> float:
        return self.bytes / self.tokens


def split_info(tokens_dir: Path, split: str) -> SplitInfo:
    s = read_manifest(tokens_dir)["splits"][split]
    return SplitInfo(tokens=int(s["tokens"]), bytes=int(s["bytes"]))


def _to_batch(windows: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    t = torch.from_numpy(windows.astype(np.int64))
    x, y = t[:, :-1], t[:, 1:]
    if device.type == "cuda":  # async host-to-device copy (nanoGPT get_batch)
        return (x.pin_memory().to(device, non_blocking=True),
                y.pin_memory().to(device, non_blocking=True))
    return x.to(device), y.to(device)


class TrainWindows:
    """Random windows of block_size + 1 tokens, a pure function of (seed, step, micro)."""

    def __init__(self, tokens: np.ndarray, block_size: int, batch_size: int, seed: int) -> None:
        if len(tokens) < block_size + 1:
            raise TokensError(f"train split has {len(tokens)} tokens, < block_size + 1")
        self.tokens, self.block_size, self.batch_size, self.seed = (
            tokens, block_size, batch_size, seed)

    def starts(self, step: int, micro: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, step, micro])
        return rng.integers(0, len(self.tokens) - self.block_size, size=self.batch_size)

    def batch(self, step: int, micro: int, device: torch.device) -> tuple[torch.Tensor, ...]:
        T = self.block_size + 1
        windows = np.stack([self.tokens[s : s + T] for s in self.starts(step, micro)])
        return _to_batch(windows, device)


def val_starts(n_tokens: int, block_size: int, n_windows: int) -> np.ndarray:
    """Fixed, evenly spaced window starts covering the val stream (non-overlapping if it fits)."""
    last = n_tokens - (block_size + 1)
    if last < 0:
        raise TokensError(f"val split has {n_tokens} tokens, < block_size + 1")
    n = min(n_windows, last + 1)
    return np.linspace(0, last, num=n).round().astype(np.int64)


def val_batches(
    tokens: np.ndarray, starts: np.ndarray, block_size: int, batch_size: int,
    device: torch.device,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    T = block_size + 1
    out = []
    for i in range(0, len(starts), batch_size):
        windows = np.stack([tokens[s : s + T] for s in starts[i : i + batch_size]])
        out.append(_to_batch(windows, device))
    return out


class Batches:
    """The data side of one process of a run: its training batches and its validation windows.

    `train_batch(step, micro)` is this process's micro-batch `micro` (0 .. accum - 1) of
    optimizer step `step`. Process `rank` takes the global micro-batches rank * accum ..
    rank * accum + accum - 1, so k processes with grad_accum / k micro-batches each draw the same
    windows as one process with grad_accum. The validation windows are split the same way
    (every world-th start), and the losses are summed over processes.
    """

    def __init__(
        self, train_flat: Path, val_flat: Path, val_split: SplitInfo, *, block_size: int,
        batch_size: int, seed: int, eval_windows: int, accum: int, rank: int, world: int,
        device: torch.device,
    ) -> None:
        # TrainWindows is looked up when a run starts: benchmarks/train_throughput.py swaps it
        # for in-memory random windows to measure what the data path costs.
        self.windows = TrainWindows(open_flat(train_flat), block_size, batch_size, seed)
        val_tokens = open_flat(val_flat)
        starts = val_starts(len(val_tokens), block_size, eval_windows)
        self._val = val_batches(val_tokens, starts[rank::world], block_size, batch_size, device)
        self.val_bytes_per_token = val_split.bytes_per_token  # turns nats/token into bits/byte
        self.accum, self.rank, self.device = accum, rank, device

    def train_batch(self, step: int, micro: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.windows.batch(step, self.rank * self.accum + micro, self.device)

    def val_windows(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The fixed validation batches of this process, on its device (the same every time)."""
        return self._val
