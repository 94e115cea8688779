"""The typed contracts of webtext.records and the one shape of a stage (`run(layout, config,
progress) -> stats`, docs/design.md, "Data contracts" and "Stages").

Each stage's `run` is checked here where no other test calls it: source's `run` owns its skip
logic (same config and same dump files: skipped; a dump replaced in place: read again); the
tokens manifest the tokenize stage writes is the typed `TokensManifest`, byte for byte; the
docs schema carries exactly the signal columns clean/quality.py measures.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from test_tokenize_stage import small_config
from tokenize_fixtures import corpus_build

from webtext.clean import quality
from webtext.clean.config import CleanConfig
from webtext.crawl import source
from webtext.crawl.config import SourceConfig
from webtext.errors import UsageError
from webtext.io import read_json
from webtext.layout import BuildLayout
from webtext.records import (
    DEDUP_SCHEMA,
    DOCS_SCHEMA,
    META_SCHEMA,
    SIGNAL_COLUMNS,
    TOKENS_FORMAT,
    DedupColumn,
    DocsColumn,
    SignatureColumn,
    TokensColumn,
    TokensManifest,
)
from webtext.stage import Progress
from webtext.tokenize import stage as tokenize_stage

SUBMISSION = {"id": "a1", "subreddit": "science", "url": "https://example.org/story",
              "score": 12, "created_utc": 1_500_000_000, "title": "t", "author": "u"}


def _dump(path: Path, n: int) -> Path:
    rows = [{**SUBMISSION, "id": f"a{i}", "url": f"https://example.org/story/{i}"}
            for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_source_run_skips_the_same_inputs_and_reads_a_changed_dump(tmp_path):
    dump = _dump(tmp_path / "RS_2019-01.jsonl", 3)
    layout = BuildLayout(tmp_path / "build")
    config = SourceConfig(dumps=[str(dump)])
    events: list[Progress] = []
    first = source.run(layout, config, events.append)
    assert first["urls_kept"] == 3 and "skipped" not in first
    assert pq.read_table(layout.urls).num_rows == 3

    again = source.run(layout, config)
    assert again["skipped"] is True and again["urls_kept"] == 3
    assert "skipped" not in source.run(layout, config, force=True)  # `webtext source` does

    assert source.run(layout, config)["skipped"] is True

    _dump(dump, 5)  # replaced in place: same path, other content
    os.utime(dump, ns=(1, 1))
    fresh = source.run(layout, config)
    assert "skipped" not in fresh and fresh["urls_kept"] == 5
    assert pq.read_table(layout.urls).num_rows == 5

    other = source.run(layout, config.model_copy(update={"min_karma": 5}), None)
    assert "skipped" not in other and other["min_karma"] == 5


def test_source_run_without_dumps_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no dump files"):
        source.run(BuildLayout(tmp_path), SourceConfig())


def test_tokenize_run_writes_the_typed_manifest_and_returns_its_dir(tmp_path):
    layout, _ = corpus_build(tmp_path, n_docs=30, n_shards=1)
    config = small_config()
    events: list[Progress] = []
    stats = tokenize_stage.run(layout, config.tokenize, events.append, recipe="raw",
                               recipes=config.recipes)
    out = Path(stats["dir"])
    assert out.parent == layout.tokens_root and out.name == stats["name"]
    written = read_json(out / "manifest.json")
    manifest = TokensManifest.model_validate(written)
    assert manifest.format == TOKENS_FORMAT and manifest.to_json() == written
    assert sum(s.docs for s in manifest.shards) == sum(s.docs for s in manifest.splits.values())
    assert events[-1].phase == "done" and events[-1].extra["resume"] == stats["resume"]
    assert pq.read_schema(out / manifest.shards[0].file).names == list(TokensColumn)
    # a finished output is reused: same stats, marked skipped
    again = tokenize_stage.run(layout, config.tokenize, recipe="raw", recipes=config.recipes)
    assert again["skipped"] is True and again["dir"] == stats["dir"]
    assert again["splits"] == stats["splits"]


def test_the_contract_columns_are_the_schemas():
    assert DOCS_SCHEMA.names == [*list(DocsColumn)[:-1], *SIGNAL_COLUMNS, DocsColumn.REASONS]
    assert DEDUP_SCHEMA.names == list(DedupColumn)
    assert META_SCHEMA.names == list(SignatureColumn)
    # clean/quality.py measures exactly the contract's signal columns (written in its order)
    assert quality.SIGNALS is SIGNAL_COLUMNS
    signals = quality.measure("One line of text here.\nAnd another one.", CleanConfig())[1]
    assert set(signals) == set(SIGNAL_COLUMNS)


def _clean_shard_in_daemon(root: str, queue: multiprocessing.Queue) -> None:
    from webtext.clean.stage import clean_shard

    try:
        clean_shard(BuildLayout(root), CleanConfig(), "00000")
    except UsageError as e:
        queue.put(str(e))
    else:
        queue.put("no error")


def test_clean_shard_refuses_a_daemonic_process_in_one_line(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_clean_shard_in_daemon, args=(str(tmp_path), queue), daemon=True)
    proc.start()
    message = queue.get(timeout=120)
    proc.join(timeout=60)
    assert "daemonic process cannot start" in message and "\n" not in message
