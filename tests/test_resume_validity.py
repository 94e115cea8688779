"""What a re-run reuses, and says it reuses (issue 14, items 7 and 8).

- A re-run of clean, dedup or tokenize reports how many shards were done earlier and skipped,
  and what would make them run again; the stage returns those counts in its stats.
- The versions of the packages that compute a stage's output are part of what decides whether
  a finished shard is still valid: a marker written under another version is redone, with
  the reason.
- `webtext dedup` takes only snapshots of a scheduled corpus (DATA_ROOT/snapshots/<time>/ with
  snapshot.json) or builds named explicitly as earlier builds, and its summary names them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_dedup_stage import write_docs_rows
from test_tokenize_stage import SETTINGS, small_config
from tokenize_fixtures import corpus_build, tokenize_to_dir

from webtext.clean.config import CleanConfig
from webtext.clean.fixture import world_responses, write_build
from webtext.clean.stage import run as clean_run
from webtext.cli import main
from webtext.dedup.config import DedupConfig
from webtext.dedup.stage import run as run_dedup
from webtext.io import read_json, write_json
from webtext.layout import BuildLayout, shard_marker
from webtext.records import doc_id
from webtext.world.spec import World

WORLD = World(0)
DEDUP = {"workers": 1, "report_thresholds": [0.6]}


def _rows(pages) -> list[dict]:
    return [{"doc_id": doc_id(p.url), "url": p.url, "karma": 10, "title": p.title,
             "text": p.body, "n_chars": len(p.body)} for p in pages]


def _old_version(path: Path, package: str) -> None:
    """Rewrite a marker as if another version of `package` had written it."""
    data = read_json(path)
    data["versions"][package] = "0.0.1"
    write_json(path, data)


# ---------------------------------------------------------------- clean


@pytest.fixture(scope="module")
def cleaned(tmp_path_factory):
    layout = write_build(tmp_path_factory.mktemp("c") / "b",
                         world_responses(WORLD)[:40], n_shards=2)
    clean_run(layout, CleanConfig(), workers=1)
    return layout


def test_clean_rerun_says_what_it_skipped(cleaned, capsys):
    stats = clean_run(cleaned, CleanConfig(), workers=1)
    assert stats["resume"] == {"skipped": 2, "redone": {}}
    assert main(["clean", str(cleaned.root), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert (f"clean: 2 shards done earlier, skipped (delete {cleaned.docs_dir} or change the "
            "config/version to redo them)") in out


def test_clean_shard_of_another_trafilatura_is_redone(cleaned, capsys):
    shard = cleaned.docs_dir / "00001.parquet"
    before = shard.read_bytes()
    _old_version(shard_marker(shard), "trafilatura")
    assert main(["clean", str(cleaned.root), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "clean: 1 shard done earlier, skipped" in out
    assert "clean: 1 shard done earlier, redone: written with other versions: trafilatura " \
           "0.0.1 -> " in out
    marker = read_json(shard_marker(shard))
    assert marker["versions"]["trafilatura"] != "0.0.1"  # the current version, now
    assert shard.read_bytes() == before  # same library in truth: the same bytes
    assert clean_run(cleaned, CleanConfig(), workers=1)["resume"] == {
        "skipped": 2, "redone": {}}


def test_clean_marker_without_versions_is_not_done(cleaned):
    marker = shard_marker(cleaned.docs_dir / "00000.parquet")
    data = read_json(marker)
    del data["versions"]
    write_json(marker, data)
    stats = clean_run(cleaned, CleanConfig(), workers=1)
    assert stats["resume"] == {"skipped": 1, "redone": {
        "written by an older webtext that recorded no versions": 1}}
    assert "versions" in read_json(marker)


# ---------------------------------------------------------------- dedup


def test_dedup_rerun_skips_signatures_and_redoes_another_datasketch(tmp_path, capsys):
    layout = write_docs_rows(tmp_path / "b", _rows(WORLD.pages[:40]), 2)
    first = run_dedup(layout, DedupConfig(**DEDUP))
    assert first["resume"] == {"skipped": 0, "redone": {}}
    assert set(first["versions"]) == {"webtext", "datasketch"}
    assert main(["dedup", str(layout.root), "--workers", "1"]) == 0
    assert (f"dedup: 2 signature shards done earlier, skipped (delete {layout.dedup_dir} or "
            "change the config/version to redo them)") in capsys.readouterr().out

    result = layout.dedup.read_bytes()
    _old_version(layout.dedup_dir / ".params.json", "datasketch")
    npy = layout.dedup_dir / ".minhash" / "00000.npy"
    mtime = npy.stat().st_mtime_ns
    stats = run_dedup(layout, DedupConfig(**DEDUP))
    [(reason, n)] = stats["resume"]["redone"].items()
    assert n == 2 and reason.startswith("written with other versions: datasketch 0.0.1 -> ")
    assert stats["resume"]["skipped"] == 0 and npy.stat().st_mtime_ns != mtime
    assert layout.dedup.read_bytes() == result  # recomputed signatures, the same clusters
    assert read_json(layout.dedup_dir / ".params.json")["versions"] == first["versions"]


# ---------------------------------------------------------------- tokenize


def test_tokenize_rerun_skips_and_redoes_another_sentencepiece(tmp_path, capsys):
    layout, _ = corpus_build(tmp_path / "b")
    out = tokenize_to_dir(layout, small_config(), "raw")
    manifest = read_json(out / "manifest.json")
    assert set(manifest["versions"]) == {"webtext", "sentencepiece"}
    n_shards = len(manifest["shards"])

    sets = [a for s in SETTINGS for a in ("--set", s)]
    assert main(["tokenize", str(layout.root), "--recipe", "raw", *sets]) == 0
    err = capsys.readouterr().err
    assert f"tokenize: {n_shards} token shards done earlier, skipped (delete" in err

    _old_version(out / "manifest.json", "sentencepiece")
    events = []
    tokenize_to_dir(layout, small_config(), "raw", progress=events.append)
    [(reason, n)] = events[-1].extra["resume"]["redone"].items()
    assert n == n_shards and reason.startswith(
        "written with other versions: sentencepiece 0.0.1 -> ")
    assert read_json(out / "manifest.json") == manifest  # made again, the same output


# ---------------------------------------------------------------- earlier builds (dedup)


def test_a_finished_sibling_build_is_not_an_earlier_snapshot(tmp_path, capsys):
    """Two builds side by side with the same documents: the second keeps its documents."""
    rows = _rows([p for p in WORLD.pages if p.kind == "article"][:30])
    first = write_docs_rows(tmp_path / "a", rows, 1)
    run_dedup(first, DedupConfig(**DEDUP))
    second = write_docs_rows(tmp_path / "b", rows, 1)
    assert main(["dedup", str(second.root), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    stats = read_json(second.stats("dedup"))
    assert stats["dup_earlier_snapshot"] == 0 and stats["previous_builds"] == []
    assert stats["kept"] == len(rows)
    assert "0 earlier-snapshot duplicates (no earlier build)" in out
    # named explicitly, the same sibling counts, and the summary names it
    assert main(["dedup", str(second.root), "--workers", "1", "--against",
                 str(first.root)]) == 0
    out = capsys.readouterr().out
    name = first.root.resolve().relative_to(tmp_path.resolve().parent).as_posix()
    assert f"{len(rows)} earlier-snapshot duplicates (of {name})" in out


def test_snapshots_of_a_scheduled_corpus_are_earlier_builds_and_named(tmp_path, capsys):
    rows = _rows([p for p in WORLD.pages if p.kind == "article"][:30])
    snapshots = tmp_path / "snapshots"
    old = write_docs_rows(snapshots / "2026-01-01T000000Z", rows[:20], 1)
    run_dedup(old, DedupConfig(**DEDUP))
    (old.root / "snapshot.json").write_text("{}")  # flows/serve.py writes it when finished
    unfinished = write_docs_rows(snapshots / "2026-01-02T000000Z", rows[20:], 1)
    run_dedup(unfinished, DedupConfig(**DEDUP))  # no snapshot.json: never completed
    new = write_docs_rows(snapshots / "2026-01-03T000000Z", rows, 1)
    assert main(["dedup", str(new.root), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "20 earlier-snapshot duplicates (of snapshots/2026-01-01T000000Z)," in out
    stats = read_json(new.stats("dedup"))
    assert stats["previous_builds"] == [str(old.root.resolve())]


def test_an_old_sibling_named_explicitly_is_a_clear_error(tmp_path, capsys):
    """An earlier build deduplicated by a webtext of the old layout (dedup/done.json) is
    refused with a one-line reason when named, never taken silently or crashed on."""
    rows = _rows([p for p in WORLD.pages if p.kind == "article"][:10])
    old = write_docs_rows(tmp_path / "old", rows, 1)
    run_dedup(old, DedupConfig(**DEDUP))
    (old.dedup_dir / ".done.json").rename(old.dedup_dir / "done.json")
    new = write_docs_rows(tmp_path / "new", rows, 1)
    shutil.rmtree(new.dedup_dir, ignore_errors=True)
    assert main(["dedup", str(new.root), "--workers", "1", "--against", str(old.root)]) == 2
    err = capsys.readouterr().err
    assert "older webtext" in err and str(old.root) in err
    assert json.loads(old.dedup_dir.joinpath("done.json").read_text())  # left as it was
    assert BuildLayout(old.root).dedup.is_file()
