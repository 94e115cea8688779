"""Token shards -> flat cached array -> windows: contents, checksums, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from webtext.train import data
from webtext.train.fixture import write_tokens

CPU = torch.device("cpu")


def make_docs(n_docs: int, eod: int, seed: int, vocab: int = 50) -> list[tuple[list[int], int]]:
    rng = np.random.default_rng(seed)
    docs = []
    for _ in range(n_docs):
        body = rng.integers(3, vocab, size=int(rng.integers(5, 40))).tolist()
        docs.append((body + [eod], 3 * len(body)))
    return docs


@pytest.fixture
def tokens_dir(tmp_path):
    splits = {"train": make_docs(40, eod=2, seed=0), "val": make_docs(12, eod=2, seed=1)}
    return write_tokens(tmp_path / "tok", splits, vocab_size=50, eod_id=2, docs_per_shard=16,
                        rows_per_group=5), splits


def test_flat_array_is_the_document_stream_in_manifest_order(tokens_dir, tmp_path):
    tok, splits = tokens_dir
    path = data.derive_flat(tok, "train", tmp_path / "cache")
    flat = data.open_flat(path)
    expected = [t for doc, _ in splits["train"] for t in doc]
    assert flat.dtype == np.uint16 and flat.tolist() == expected
    assert isinstance(flat, np.memmap)  # read from disk, not loaded
    info = data.split_info(tok, "val")
    assert info.tokens == sum(len(d) for d, _ in splits["val"])
    assert info.bytes == sum(b for _, b in splits["val"])


def test_cache_is_reused_and_rebuilt_when_its_checksum_fails(tokens_dir, tmp_path):
    tok, _ = tokens_dir
    path = data.derive_flat(tok, "train", tmp_path / "cache")
    good = path.read_bytes()
    mtime = path.stat().st_mtime_ns
    assert data.derive_flat(tok, "train", tmp_path / "cache") == path
    assert path.stat().st_mtime_ns == mtime  # reused, not rewritten
    corrupt = bytearray(good)
    corrupt[-1] ^= 0xFF
    path.write_bytes(bytes(corrupt))
    data.derive_flat(tok, "train", tmp_path / "cache")
    assert path.read_bytes() == good


def test_shard_with_wrong_checksum_is_refused(tokens_dir, tmp_path):
    tok, _ = tokens_dir
    shard = tok / "train-00001.parquet"
    shard.write_bytes(shard.read_bytes() + b"x")
    with pytest.raises(data.TokensError, match="sha256"):
        data.derive_flat(tok, "train", tmp_path / "cache")


def test_missing_manifest_is_an_error(tmp_path):
    with pytest.raises(data.TokensError, match="manifest"):
        data.derive_flat(tmp_path, "train", tmp_path / "cache")


def test_large_vocab_uses_uint32(tmp_path):
    docs = [([70000, 5, 2], 4), ([100000, 2], 3)]
    tok = write_tokens(tmp_path / "tok", {"train": docs, "val": docs}, vocab_size=100_001,
                       eod_id=2)
    flat = data.open_flat(data.derive_flat(tok, "train", tmp_path / "cache"))
    assert flat.dtype == np.uint32 and flat.tolist() == [70000, 5, 2, 100000, 2]


def test_train_windows_are_contiguous_and_deterministic(tokens_dir, tmp_path):
    tok, _ = tokens_dir
    flat = data.open_flat(data.derive_flat(tok, "train", tmp_path / "cache"))
    windows = data.TrainWindows(flat, block_size=8, batch_size=6, seed=7)
    x, y = windows.batch(step=3, micro=1, device=CPU)
    assert x.shape == y.shape == (6, 8) and x.dtype == torch.long
    for row_x, row_y, s in zip(x, y, windows.starts(3, 1), strict=True):
        assert row_x.tolist() == flat[s : s + 8].tolist()
        assert row_y.tolist() == flat[s + 1 : s + 9].tolist()
    x2, _ = data.TrainWindows(flat, 8, 6, seed=7).batch(step=3, micro=1, device=CPU)
    assert torch.equal(x, x2)  # a pure function of (seed, step, micro)
    assert not torch.equal(x, windows.batch(step=4, micro=1, device=CPU)[0])
    assert not torch.equal(x, windows.batch(step=3, micro=0, device=CPU)[0])
    every = np.concatenate([windows.starts(s, 0) for s in range(200)])
    assert every.min() >= 0 and every.max() <= len(flat) - 9  # windows never run off the end


def test_val_windows_are_fixed_and_span_the_stream():
    starts = data.val_starts(n_tokens=1000, block_size=9, n_windows=5)
    assert starts.tolist() == [0, 248, 495, 742, 990]
    assert data.val_starts(20, 9, 64).tolist() == list(range(11))  # every start fits
    with pytest.raises(data.TokensError):
        data.val_starts(9, 9, 4)
