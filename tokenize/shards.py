"""Token shards in Parquet: the train/val split, the shard writer, checksums and verification.

In:  encoded documents (doc id, token ids ending with the end-of-document id, UTF-8 bytes).
Out: `train-00000.parquet`, ... and `val-00000.parquet`, ... (docs/design.md, "Data contracts",
     `tokens/<recipe>-<digest8>/`): zstd, columns `webtext.records.TokensColumn` (doc_id, tokens
     as list<uint16|uint32>, n_tokens, n_bytes), one `TokensShard` each, row groups of about
     `row_group_tokens` tokens, a shard closed once it holds `shard_tokens` tokens. Where a
     row group or shard ends depends only on the documents, never on how they were batched, so
     the same documents give the same bytes. Each shard is written under a temporary name and
     renamed when complete; its sha256 goes into the manifest.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from webtext.io import atomic_path, file_sha256, read_json, writing
from webtext.records import TOKENS_MANIFEST_FILE, TOKENS_SPLITS, TokensManifest, TokensShard
from webtext.records import TokensColumn as C

SPLITS = TOKENS_SPLITS
UINT16_MAX_VOCAB = 65536  # ids 0..65535 fit in uint16


def split_of(doc_id: str, val_permille: int) -> str:
    """"val" when blake2b(doc_id) mod 1000 < val_permille: stable across builds and recipes,
    so a document is in the same split in every variant of an ablation."""
    h = int.from_bytes(hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest(), "big")
    return "val" if h % 1000 < val_permille else "train"


def token_dtype(vocab_size: int) -> str:
    return "uint16" if vocab_size <= UINT16_MAX_VOCAB else "uint32"


def shard_schema(dtype: str, metadata: dict[str, str]) -> pa.Schema:
    value_type = pa.uint16() if dtype == "uint16" else pa.uint32()
    return pa.schema(
        [
            (C.DOC_ID, pa.string()),
            (C.TOKENS, pa.list_(value_type)),
            (C.N_TOKENS, pa.int64()),
            (C.N_BYTES, pa.int64()),
        ],
        metadata={k.encode(): v.encode() for k, v in metadata.items()},
    )


def shard_name(split: str, index: int) -> str:
    return f"{split}-{index:05d}.parquet"


class SplitWriter:
    """Writes the documents of one split into consecutive shards.

    `on_shard` is called after each shard is renamed into place, with its entry and the
    histogram of its token ids (for the tokenizer statistics).
    """

    def __init__(
        self,
        out_dir: Path,
        split: str,
        first_index: int,
        schema: pa.Schema,
        vocab_size: int,
        shard_tokens: int,
        row_group_tokens: int,
        zstd_level: int,
        on_shard: Callable[[TokensShard, np.ndarray], None],
    ) -> None:
        self.out_dir, self.split, self.index = Path(out_dir), split, first_index
        self.schema, self.vocab_size = schema, vocab_size
        self.np_dtype = np.uint16 if schema.field(C.TOKENS).type.value_type == pa.uint16() \
            else np.uint32
        self.shard_tokens, self.row_group_tokens = shard_tokens, row_group_tokens
        self.zstd_level, self.on_shard = zstd_level, on_shard
        self._ctx: AbstractContextManager[Path] | None = None
        self._writer: pq.ParquetWriter | None = None
        self._reset_shard()
        self._reset_group()

    def _reset_shard(self) -> None:
        self.shard_docs = self.shard_tokens_n = self.shard_bytes = 0
        self.histogram = np.zeros(self.vocab_size, dtype=np.int64)

    def _reset_group(self) -> None:
        self.g_ids: list[str] = []
        self.g_tokens: list[Sequence[int]] = []
        self.g_bytes: list[int] = []
        self.g_n = 0

    def add(self, doc_id: str, tokens: Sequence[int], n_bytes: int) -> None:
        """Append one document (its tokens already end with the end-of-document id)."""
        self.g_ids.append(doc_id)
        self.g_tokens.append(tokens)
        self.g_bytes.append(n_bytes)
        self.g_n += len(tokens)
        self.shard_docs += 1
        self.shard_tokens_n += len(tokens)
        self.shard_bytes += n_bytes
        if self.shard_tokens_n >= self.shard_tokens:
            self._finish_shard()
        elif self.g_n >= self.row_group_tokens:
            self._flush_group()

    def close(self) -> None:
        """Finish the last, partly filled shard (if it holds any document)."""
        if self.shard_docs:
            self._finish_shard()

    def _flush_group(self) -> None:
        if not self.g_ids:
            return
        lengths = np.fromiter(map(len, self.g_tokens), dtype=np.int64, count=len(self.g_tokens))
        values = np.fromiter(itertools.chain.from_iterable(self.g_tokens), dtype=self.np_dtype,
                             count=int(lengths.sum()))
        offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
        np.cumsum(lengths, out=offsets[1:])
        self.histogram += np.bincount(values, minlength=self.vocab_size)
        tokens = pa.ListArray.from_arrays(pa.array(offsets), pa.array(values))
        table = pa.Table.from_arrays(
            [pa.array(self.g_ids, pa.string()), tokens.cast(self.schema.field(C.TOKENS).type),
             pa.array(lengths, pa.int64()), pa.array(self.g_bytes, pa.int64())],
            schema=self.schema,
        )
        path = self.out_dir / shard_name(self.split, self.index)
        if self._writer is None:
            self._ctx = atomic_path(path)
            tmp = self._ctx.__enter__()
            self._writer = pq.ParquetWriter(
                tmp, self.schema, compression="zstd", compression_level=self.zstd_level,
                # Parquet's dictionary encoding packs an 8k vocabulary's ids in 13 bits before
                # zstd: measured ~10% smaller shards and less zstd time than plain uint16.
                use_dictionary=True,
                # min/max of token ids help no reader; the scalar columns keep theirs.
                write_statistics=[C.DOC_ID, C.N_TOKENS, C.N_BYTES],
            )
        with writing(path):  # a full disk: the error names the shard (pyarrow's does not)
            self._writer.write_table(table, row_group_size=len(table))
        self._reset_group()

    def _finish_shard(self) -> None:
        self._flush_group()
        assert self._writer is not None and self._ctx is not None
        with writing(self.out_dir / shard_name(self.split, self.index)):
            self._writer.close()
        self._ctx.__exit__(None, None, None)  # fsync and rename into place
        self._writer = self._ctx = None
        name = shard_name(self.split, self.index)
        entry = TokensShard(file=name, split=self.split, docs=self.shard_docs,
                            tokens=self.shard_tokens_n, bytes=self.shard_bytes,
                            sha256=file_sha256(self.out_dir / name))
        self.on_shard(entry, self.histogram)
        self.index += 1
        self._reset_shard()

    def abort(self) -> None:
        """Drop the open shard's temporary file (an exception is propagating)."""
        if self._writer is not None and self._ctx is not None:
            self._writer.close()
            self._ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)
            self._writer = self._ctx = None


def shard_histogram(path: Path, vocab_size: int) -> np.ndarray:
    """Token-id counts of a finished shard (to rebuild the statistics after a resume)."""
    hist = np.zeros(vocab_size, dtype=np.int64)
    f = pq.ParquetFile(path)
    for i in range(f.num_row_groups):
        values = f.read_row_group(i, columns=[C.TOKENS]).column(C.TOKENS).combine_chunks()
        hist += np.bincount(values.values.to_numpy(), minlength=vocab_size)
    return hist


def verify_tokens_dir(out_dir: Path) -> list[str]:
    """Problems found when checking a finished tokens dir against its manifest ([] if none):
    every listed shard exists with its sha256 and counts, and no unlisted shard lies there."""
    out_dir = Path(out_dir)
    manifest_path = out_dir / TOKENS_MANIFEST_FILE
    if not manifest_path.is_file():
        return [f"{manifest_path} missing: the output is not complete"]
    manifest = TokensManifest.model_validate(read_json(manifest_path))
    problems = []
    listed = {s.file for s in manifest.shards}
    for s in manifest.shards:
        path = out_dir / s.file
        if not path.is_file():
            problems.append(f"{s.file}: missing")
        elif file_sha256(path) != s.sha256:
            problems.append(f"{s.file}: sha256 differs from the manifest")
        elif pq.ParquetFile(path).metadata.num_rows != s.docs:
            problems.append(f"{s.file}: row count differs from the manifest")
    for path in sorted(out_dir.glob("*-*.parquet")):
        if path.name not in listed:
            problems.append(f"{path.name}: not listed in the manifest")
    tok = out_dir / manifest.tokenizer.file
    if not tok.is_file() or file_sha256(tok) != manifest.tokenizer.sha256:
        problems.append(f"{tok.name}: missing or sha256 differs from the manifest")
    return problems
