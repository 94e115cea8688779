"""Every output folder of a small build opens as a dataset with readers other than ours
(docs/design.md, "Principles" 4): pyarrow.dataset and pandas (`pd.read_parquet(folder)`, which goes
through pyarrow.parquet.read_table(folder)), because completion markers and other side files
have names those readers skip. A build written with the old marker names is redone, not a
crash, and opens as a dataset afterwards."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from test_tokenize_stage import small_config
from tokenize_fixtures import tokenize_to_dir

from webtext.clean.config import CleanConfig
from webtext.clean.fixture import world_responses, write_build
from webtext.clean.stage import run as clean_run
from webtext.dedup.config import DedupConfig
from webtext.dedup.stage import run as run_dedup
from webtext.io import read_json
from webtext.layout import BuildLayout, legacy_shard_marker, shard_marker
from webtext.world.spec import World

DEDUP = {"workers": 1, "report_thresholds": [0.6], "discover_previous": False}


def small_build(root: Path) -> BuildLayout:
    """fetch.parquet + 2 WARC shards of the fixture world, cleaned and deduplicated."""
    layout = write_build(root, world_responses(World(0))[:80], n_shards=2)
    clean_run(layout, CleanConfig(), workers=1)
    run_dedup(layout, DedupConfig(**DEDUP))
    return layout


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    layout = small_build(tmp_path_factory.mktemp("data") / "b")
    out = tokenize_to_dir(layout, small_config(), "raw")
    return layout, out


def _opens(folder: Path, rows: int) -> None:
    """pyarrow.dataset, and pyarrow.parquet.read_table (what pd.read_parquet(folder) calls),
    open `folder` as one table of `rows` rows."""
    assert ds.dataset(folder, format="parquet").count_rows() == rows
    assert pq.read_table(folder).num_rows == rows


def test_pandas_opens_docs_and_dedup(build):
    pd = pytest.importorskip("pandas")  # not a dependency of webtext: checked where installed
    layout, _ = build
    assert len(pd.read_parquet(layout.docs_dir)) == read_json(layout.stats("clean"))["docs"]
    assert len(pd.read_parquet(layout.dedup_dir)) == read_json(layout.stats("dedup"))["docs"]


def test_docs_folder_opens_as_a_dataset(build):
    layout, _ = build
    docs = read_json(layout.stats("clean"))["docs"]
    assert docs == 80 and len(layout.docs_shards()) == 2
    assert all(shard_marker(p).is_file() for p in layout.docs_shards())  # markers exist ...
    _opens(layout.docs_dir, docs)  # ... where the readers do not look


def test_dedup_folder_opens_as_a_dataset(build):
    layout, _ = build
    docs = read_json(layout.stats("dedup"))["docs"]
    table = ds.dataset(layout.dedup_dir, format="parquet").to_table()
    assert sorted(table.column("doc_id").to_pylist()) == sorted(
        pq.read_table(layout.dedup, columns=["doc_id"]).column("doc_id").to_pylist())
    _opens(layout.dedup_dir, docs)


def test_tokens_folder_holds_only_contract_files_and_shards(build):
    """manifest.json and tokenizer.model keep their contract names, so the shards of a split
    are opened by glob; nothing else a reader would trip over lies in the folder."""
    _, out = build
    manifest = read_json(out / "manifest.json")
    visible = {p.name for p in out.iterdir() if not p.name.startswith(".")}
    assert visible == {"manifest.json", "tokenizer.model"} | {
        s["file"] for s in manifest["shards"]}
    for split in ("train", "val"):
        files = sorted(str(p) for p in out.glob(f"{split}-*.parquet"))
        assert ds.dataset(files, format="parquet").count_rows() == manifest["splits"][split][
            "docs"]


class _Stop(Exception):
    pass


def test_interrupted_tokens_folder_keeps_its_progress_out_of_the_way(build, tmp_path):
    """Stopped after its first shard, the output holds that shard, the tokenizer and a
    progress file with a "." name: the finished shards still open as a dataset."""
    layout, _ = build
    copy = BuildLayout(tmp_path / "b")
    shutil.copytree(layout.docs_dir, copy.docs_dir)

    def stop_after_first_shard(p) -> None:
        if p.phase == "shard":
            raise _Stop

    with pytest.raises(_Stop):
        tokenize_to_dir(copy, small_config(), "raw", progress=stop_after_first_shard)
    [out] = copy.tokens_root.iterdir()
    visible = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert visible == ["tokenizer.model", "train-00000.parquet"]
    assert ds.dataset(out / "train-00000.parquet", format="parquet").count_rows() > 0
    done = tokenize_to_dir(copy, small_config(), "raw")  # resumes from that shard
    assert done == out and (out / "manifest.json").is_file()


def test_old_marker_names_are_redone_not_a_crash(tmp_path):
    """A build of the old layout (docs/<shard>.done.json, dedup/params.json, done.json,
    signatures/*.npy) is cleaned and deduplicated again, and then opens as a dataset."""
    layout = small_build(tmp_path / "old")
    before = {p.name: p.read_bytes() for p in layout.docs_shards()}
    for shard in layout.docs_shards():  # the markers where the old layout had them
        shard_marker(shard).rename(legacy_shard_marker(shard))
    d = layout.dedup_dir
    (d / ".params.json").rename(d / "params.json")
    (d / ".done.json").rename(d / "done.json")
    (d / ".thresholds.json").rename(d / "thresholds.json")
    for npy in (d / ".minhash").glob("*.npy"):
        npy.rename(d / "signatures" / npy.name)
    shutil.rmtree(d / ".minhash")
    with pytest.raises(Exception):  # noqa: B017 - what the old layout did to readers
        ds.dataset(layout.docs_dir, format="parquet").to_table()

    stats = clean_run(layout, CleanConfig(), workers=1)
    assert stats["resume"]["skipped"] == 0
    assert list(stats["resume"]["redone"].values()) == [2]
    assert "older webtext" in next(iter(stats["resume"]["redone"]))
    assert not list(layout.docs_dir.glob("*.done.json"))
    assert {p.name: p.read_bytes() for p in layout.docs_shards()} == before  # same bytes
    _opens(layout.docs_dir, stats["docs"])

    stats = run_dedup(layout, DedupConfig(**DEDUP))
    assert stats["resume"] == {"skipped": 0, "redone": {
        "signatures from an older webtext (dedup/params.json)": 2}}
    assert not any((d / name).exists() for name in ("params.json", "done.json",
                                                    "thresholds.json"))
    _opens(d, stats["docs"])
