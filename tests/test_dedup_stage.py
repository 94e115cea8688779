"""The dedup stage on the fixture world: syndication groups, incremental builds, resume,
decontamination, the threshold report and the CLI."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from webtext.cli import main
from webtext.dedup.config import DedupConfig
from webtext.dedup.decontam import (
    contaminated_ids,
    doc_texts,
    find_contaminated,
    overlap_report,
)
from webtext.dedup.stage import run as run_dedup
from webtext.io import write_parquet
from webtext.layout import BuildLayout
from webtext.records import doc_id
from webtext.world.spec import World

WORLD = World(0)
FAST = {"workers": 1, "report_thresholds": [0.6, 0.9]}


def _write_docs(root: Path, pages, shards: int = 2, karma=None) -> BuildLayout:
    """docs/*.parquet from world pages (their true bodies stand in for extracted text)."""
    rows = [{"doc_id": doc_id(p.url), "url": p.url, "karma": (karma or {}).get(p.url, 10),
             "title": p.title, "text": p.body, "n_chars": len(p.body)} for p in pages]
    return write_docs_rows(root, rows, shards)


def write_docs_rows(root: Path, rows: list[dict], shards: int) -> BuildLayout:
    """docs/*.parquet holding `rows`, split into `shards` files in order."""
    layout = BuildLayout(root)
    per = -(-len(rows) // shards)
    for i in range(shards):
        write_parquet(layout.docs_dir / f"{i:05d}.parquet",
                      pa.Table.from_pylist(rows[i * per:(i + 1) * per]))
    return layout


def _result(layout: BuildLayout) -> dict[str, dict]:
    return {r["doc_id"]: r for r in pq.read_table(layout.dedup).to_pylist()}


@pytest.fixture(scope="module")
def world_build(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "2019-01"
    layout = _write_docs(root, WORLD.pages)
    stats = run_dedup(layout, DedupConfig(**FAST))
    return layout, stats


def test_syndicated_copies_form_exactly_their_groups(world_build):
    layout, stats = world_build
    res = _result(layout)
    groups = WORLD.expected()["syndication_groups"]
    assert len(groups) == 4
    cluster_of_group = {}
    for g, urls in groups.items():
        clusters = {res[doc_id(u)]["cluster_id"] for u in urls}
        assert len(clusters) == 1, g  # the whole group is one cluster
        cluster_of_group[g] = clusters.pop()
        assert sum(res[doc_id(u)]["keep"] for u in urls) == 1
    # ... and nothing else joins a syndication cluster
    members = Counter(r["cluster_id"] for r in res.values())
    for g, c in cluster_of_group.items():
        assert members[c] == len(groups[g]) == 4
    # the copy with identical text is an exact duplicate, the edited ones near duplicates
    for urls in groups.values():
        kinds = Counter(res[doc_id(u)]["dup_kind"] for u in urls)
        assert kinds[None] == 1 and kinds["near"] + kinds["exact"] == 3 and kinds["near"] >= 2


def test_other_pages_stay_apart_and_counts_add_up(world_build):
    layout, stats = world_build
    res = _result(layout)
    by_kind: dict[str, list[dict]] = {}
    for p in WORLD.pages:
        by_kind.setdefault(p.kind, []).append(res[doc_id(p.url)])
    for kind in ("article", "foreign", "spam", "low_karma", "robots"):
        assert all(r["keep"] for r in by_kind[kind]), kind
    # keyword-stuffed spam pages each draw their own phrases: they do not cluster
    assert len({r["cluster_id"] for r in by_kind["spam"]}) == len(by_kind["spam"])
    # the six identical "This page has moved." pages are one exact cluster
    assert Counter(r["dup_kind"] for r in by_kind["short"]) == {"exact": 5, None: 1}
    # fault pages without a body are kept singletons
    empty = [r for p, r in ((p, res[doc_id(p.url)]) for p in WORLD.pages) if not p.body]
    assert empty and all(r["keep"] and r["cluster_id"] == r["doc_id"] for r in empty)
    assert stats["docs"] == len(WORLD.pages) == len(res)
    assert stats["docs"] == (stats["kept"] + stats["dup_exact"] + stats["dup_near"]
                             + stats["dup_earlier_snapshot"])
    assert stats["dup_near"] == 12 - sum(
        1 for g in WORLD.expected()["syndication_groups"].values()
        for u in g if res[doc_id(u)]["dup_kind"] == "exact")
    # the kept doc's id is the cluster id; the others point at it with a Jaccard estimate
    for r in res.values():
        if r["keep"]:
            assert r["cluster_id"] == r["doc_id"] and r["dup_of"] is None
            assert r["jaccard_est"] is None
        else:
            assert r["dup_of"] == r["cluster_id"] and res[r["dup_of"]]["keep"]
            assert 0.0 < r["jaccard_est"] <= 1.0


def test_signatures_and_params_are_stored(world_build):
    layout, _ = world_build
    d = layout.dedup_dir
    params = json.loads((d / ".params.json").read_text())["params"]
    assert params["scheme"] == "affine32" and params["num_perm"] == 128
    sigs = np.load(d / ".minhash" / "00000.npy")
    meta = pq.read_table(d / "signatures" / "00000.parquet")
    assert sigs.shape == (meta.num_rows, 128) and sigs.dtype == np.uint32
    assert (d / ".done.json").exists()
    report = json.loads((d / ".thresholds.json").read_text())
    assert [r["threshold"] for r in report] == [0.6, 0.9]


def test_threshold_report_from_stored_signatures(world_build):
    layout, stats = world_build
    report = {r["threshold"]: r for r in stats["threshold_report"]}
    # at the build's own threshold the report agrees with dedup.parquet
    assert report[0.6]["duplicates"] == stats["dup_exact"] + stats["dup_near"]
    assert report[0.9]["duplicates"] <= report[0.6]["duplicates"]
    # exact duplicates count at every threshold
    assert report[0.9]["duplicates"] >= stats["dup_exact"]


def test_rerun_is_resumable_and_gives_the_same_bytes(tmp_path):
    pages = [p for p in WORLD.pages if p.kind in ("syndicated", "article")][:40]
    layout = _write_docs(tmp_path / "b", pages)
    run_dedup(layout, DedupConfig(**FAST))
    first = layout.dedup.read_bytes()
    sig_file = layout.dedup_dir / ".minhash" / "00000.npy"
    mtime = sig_file.stat().st_mtime_ns
    run_dedup(layout, DedupConfig(**FAST))
    assert layout.dedup.read_bytes() == first
    assert sig_file.stat().st_mtime_ns == mtime  # finished shards are not recomputed
    # other signature parameters: stored signatures are replaced, not mixed
    run_dedup(layout, DedupConfig(**FAST, seed=2))
    assert sig_file.stat().st_mtime_ns != mtime
    # a docs shard re-written by the clean stage gets new signatures
    mtime = sig_file.stat().st_mtime_ns
    table = pq.read_table(layout.docs_dir / "00000.parquet")
    doubled = pa.concat_tables([table, table.set_column(
        0, "doc_id", pa.array([d + "-copy" for d in table.column("doc_id").to_pylist()]))])
    write_parquet(layout.docs_dir / "00000.parquet", doubled)
    stats = run_dedup(layout, DedupConfig(**FAST, seed=2))
    assert sig_file.stat().st_mtime_ns != mtime
    assert stats["docs"] == len(pages) + table.num_rows
    assert stats["dup_exact"] >= table.num_rows


def test_shard_read_in_batches_gives_the_signatures_of_the_whole_table(tmp_path,
                                                                        monkeypatch):
    from webtext.dedup import stage
    from webtext.dedup.minhash import Sketcher

    pages = WORLD.pages[:23]
    rows = [{"doc_id": doc_id(p.url), "text": p.body if i % 5 else None, "karma": i,
             "n_chars": len(p.body)} for i, p in enumerate(pages)]
    path = tmp_path / "docs.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=7)
    sketcher = Sketcher(stage.params_of(DedupConfig()))
    whole_meta, whole_sigs = stage.sketch_table(pq.read_table(path), sketcher)
    monkeypatch.setattr(stage, "READ_BATCH_ROWS", 4)  # batches across row-group bounds
    (tmp_path / "dedup" / "signatures").mkdir(parents=True)
    (tmp_path / "dedup" / ".minhash").mkdir()
    counts = stage.sketch_shard(str(path), str(tmp_path / "dedup"), sketcher)
    assert counts == {"docs": 23, "with_text": 23 - 5}
    assert np.array_equal(np.load(tmp_path / "dedup" / ".minhash" / "docs.npy"), whole_sigs)
    meta = pq.read_table(tmp_path / "dedup" / "signatures" / "docs.parquet")
    assert meta.replace_schema_metadata(None).equals(whole_meta)


def test_worker_processes_give_the_same_output(tmp_path):
    pages = [p for p in WORLD.pages if p.kind in ("syndicated", "article", "spam")]
    one = _write_docs(tmp_path / "one", pages, shards=3)
    two = _write_docs(tmp_path / "two", pages, shards=3)
    run_dedup(one, DedupConfig(workers=1, report_thresholds=[0.6], discover_previous=False))
    run_dedup(two, DedupConfig(workers=2, report_thresholds=[0.6], discover_previous=False))
    assert one.dedup.read_bytes() == two.dedup.read_bytes()


def test_keep_rule_prefers_karma(tmp_path):
    group = [p for p in WORLD.pages if p.group == "story-1"]
    karma = {group[3].url: 500}
    layout = _write_docs(tmp_path / "k", group, shards=1, karma=karma)
    run_dedup(layout, DedupConfig(**FAST))
    res = _result(layout)
    assert [res[doc_id(p.url)]["keep"] for p in group] == [False, False, False, True]
    layout2 = _write_docs(tmp_path / "k2", group, shards=1, karma=karma)
    run_dedup(layout2, DedupConfig(**FAST, keep_rule=["earliest"], discover_previous=False))
    res2 = _result(layout2)
    assert [res2[doc_id(p.url)]["keep"] for p in group] == [True, False, False, False]


def test_later_snapshot_marks_duplicates_of_earlier_ones(tmp_path):
    articles = [p for p in WORLD.pages if p.kind == "article"]
    story = [p for p in WORLD.pages if p.group == "story-2"]
    snapshots = tmp_path / "snapshots"  # a scheduled corpus (flows/serve.py)
    old = _write_docs(snapshots / "2019-01", articles[:20] + story[:1], shards=1)
    run_dedup(old, DedupConfig(**FAST))
    (old.root / "snapshot.json").write_text("{}")  # the snapshot finished
    # the new snapshot re-crawls 5 old articles and carries edited copies of an old story
    new_pages = articles[15:40] + story[2:]
    new = _write_docs(snapshots / "2019-02", new_pages, shards=2)
    stats = run_dedup(new, DedupConfig(**FAST))  # discovers 2019-01 beside it
    res = _result(new)
    assert stats["previous_builds"] == [str((snapshots / "2019-01").resolve())]
    earlier = {d for d, r in res.items() if r["dup_kind"] == "earlier_snapshot"}
    expected = {doc_id(p.url) for p in articles[15:20] + story[2:]}
    assert earlier == expected
    assert all(res[d]["dup_build"] == "2019-01" and not res[d]["keep"] for d in earlier)
    assert res[doc_id(story[2].url)]["dup_of"] == doc_id(story[0].url)
    assert all(r["keep"] for d, r in res.items() if d not in earlier)
    # without discovery the same build has no earlier snapshot
    stats = run_dedup(new, DedupConfig(**FAST, discover_previous=False))
    assert stats["dup_earlier_snapshot"] == 0 and stats["previous_builds"] == []
    # ... unless it is named explicitly
    stats = run_dedup(new, DedupConfig(**FAST, discover_previous=False),
                        previous=[snapshots / "2019-01"])
    assert stats["dup_earlier_snapshot"] == len(expected)


def test_incompatible_previous_build_is_refused_or_skipped(tmp_path):
    pages = [p for p in WORLD.pages if p.kind == "article"][:5]
    old = _write_docs(tmp_path / "snapshots" / "a", pages, shards=1)
    run_dedup(old, DedupConfig(**FAST, ngram=3))
    (old.root / "snapshot.json").write_text("{}")
    new = _write_docs(tmp_path / "snapshots" / "b", pages, shards=1)
    stats = run_dedup(new, DedupConfig(**FAST))
    assert stats["previous_builds"] == [] and len(stats["previous_skipped"]) == 1
    from webtext.errors import UsageError

    with pytest.raises(UsageError, match="parameters differ"):
        run_dedup(new, DedupConfig(**FAST, previous=[str(old.root)]))


# ---------------------------------------------------------------- decontamination

def test_find_contaminated_uses_13_grams():
    articles = [p for p in WORLD.pages if p.kind == "article"]
    eval_text = articles[0].body
    words = eval_text.split()
    docs = [
        ("copy", eval_text),
        ("quote13", "Intro words here. " + " ".join(words[20:33]) + " and more text after."),
        ("quote12", "Intro words here. " + " ".join(words[20:32]) + " zzz qqq."),
        ("other", articles[1].body),
        ("empty", ""),
    ]
    assert find_contaminated(docs, [eval_text]) == {"copy", "quote13"}
    assert find_contaminated(docs, [eval_text], n=8) == {"copy", "quote13", "quote12"}
    assert find_contaminated(docs, []) == set()


def test_overlap_report_is_share_of_eval_8grams_in_training():
    train = [("t", "a b c d e f g h i j")]  # 3 distinct 8-grams
    report = overlap_report(train, ["a b c d e f g h x y", "x y z w v u t s"])
    # eval 8-grams: "a..h", "b..x", "c..y", "x..s": 4 distinct, 1 found in training
    assert report["eval_ngrams_unique"] == 4
    assert report["eval_ngrams_unique_in_train"] == 1
    assert report["overlap_rate"] == pytest.approx(0.25)
    report = overlap_report(train, ["a b c d e f g h", "a b c d e f g h", "q r s t u v w x"])
    assert report["overlap_rate"] == pytest.approx(0.5)  # distinct 8-grams
    assert report["overlap_rate_occurrences"] == pytest.approx(2 / 3)  # weighted by repeats


def test_stage_marks_contaminated_documents(tmp_path):
    pages = [p for p in WORLD.pages if p.kind in ("article", "syndicated")]
    layout = _write_docs(tmp_path / "c", pages)
    story = [p for p in pages if p.group == "story-0"]
    stats = run_dedup(layout, DedupConfig(**FAST), eval_texts=[story[0].body])
    res = _result(layout)
    flagged = {d for d, r in res.items() if r["contaminated"]}
    assert flagged == {doc_id(p.url) for p in story}  # the copies carry its 13-grams too
    assert stats["contaminated"] == 4
    overlap = stats["overlap"]
    assert overlap["all_docs_with_text"]["overlap_rate"] == 1.0
    # once the contaminated docs are out, little of the eval text remains in training
    assert overlap["kept_not_contaminated"]["overlap_rate"] < 0.05


# ---------------------------------------------------------------- CLI

def test_cli_runs_and_reports_bad_input(tmp_path, capsys):
    pages = [p for p in WORLD.pages if p.kind in ("article", "syndicated")][:30]
    layout = _write_docs(tmp_path / "cli", pages)
    evalf = tmp_path / "eval.parquet"
    pq.write_table(pa.table({"doc_id": ["e1"], "text": [pages[0].body]}), evalf)
    rc = main(["dedup", str(layout.root), "--eval-docs", str(evalf), "--thresholds", "0.7,0.5",
               "--workers", "1"])
    assert rc == 0
    stats = json.loads(layout.stats("dedup").read_text())
    assert [r["threshold"] for r in stats["threshold_report"]] == [0.5, 0.7]
    assert stats["contaminated"] >= 1
    assert layout.config("dedup").exists()
    assert main(["dedup", str(tmp_path / "missing")]) == 2
    assert main(["dedup", str(layout.root), "--eval-docs", str(tmp_path / "no.parquet")]) == 2
    assert main(["dedup", str(layout.root), "--thresholds", "0.5,abc"]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["dedup", str(empty)]) == 2
    bad = BuildLayout(tmp_path / "bad")
    write_parquet(bad.docs_dir / "00000.parquet", pa.table({"text": ["no ids"]}))
    assert main(["dedup", str(bad.root)]) == 2
    err = capsys.readouterr().err
    assert "no docs/ folder" in err and "--thresholds" in err and "no doc_id column" in err


def test_config_validation():
    with pytest.raises(ValueError):
        DedupConfig(lsh_weights=[0.5, 0.6])
    with pytest.raises(ValueError):
        DedupConfig(threshold=1.5)
    with pytest.raises(ValueError):
        DedupConfig(keep_rule=["newest"])


def test_old_backend_name_numpy_is_the_local_join(world_build, tmp_path):
    layout, stats = world_build  # the default backend
    assert DedupConfig().backend == "local"
    other = _write_docs(tmp_path / "numpy", WORLD.pages)
    s = run_dedup(other, DedupConfig(**FAST, backend="numpy"))
    assert other.dedup.read_bytes() == layout.dedup.read_bytes()
    assert s["lsh"]["backend"] == "local" and s["dup_near"] == stats["dup_near"]


def test_removed_settings_name_their_replacement():
    with pytest.raises(ValueError, match="'memory'.* was removed: use 'local'"):
        DedupConfig(backend="memory")
    from webtext.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="ablate.decontam_ngram was removed: use "
                                          "dedup.decontam_ngram"):
        load_config(overrides=["ablate.decontam_ngram=8"])
    assert load_config(overrides=["dedup.decontam_ngram=8"]).dedup.decontam_ngram == 8


# ---------------------------------------------------------------- the stage's shape


def test_run_skips_when_nothing_changed_and_redoes_when_an_input_did(tmp_path):
    pages = [p for p in WORLD.pages if p.kind in ("syndicated", "article")][:30]
    layout = _write_docs(tmp_path / "s", pages)
    first = run_dedup(layout, DedupConfig(**FAST))
    assert "skipped" not in first
    made = layout.dedup.stat().st_mtime_ns
    again = run_dedup(layout, DedupConfig(**FAST))
    assert again["skipped"] is True and again["resume"] == {"skipped": 2, "redone": {}}
    assert layout.dedup.stat().st_mtime_ns == made  # nothing written
    assert {k: again[k] for k in ("docs", "kept", "dup_near")} == \
        {k: first[k] for k in ("docs", "kept", "dup_near")}
    # other evaluation texts: the clusters are reused from the stored signatures, the
    # contamination is computed
    evald = run_dedup(layout, DedupConfig(**FAST), eval_texts=[pages[0].body])
    assert "skipped" not in evald and evald["contaminated"] >= 1
    assert evald["resume"] == {"skipped": 2, "redone": {}}
    assert run_dedup(layout, DedupConfig(**FAST), eval_texts=[pages[0].body])["skipped"]
    # another config
    assert "skipped" not in run_dedup(layout, DedupConfig(**FAST, keep_rule=["earliest"]))
    # a docs shard written again
    cfg = DedupConfig(**FAST, keep_rule=["earliest"])
    assert run_dedup(layout, cfg)["skipped"]
    shard = layout.docs_dir / "00001.parquet"
    write_parquet(shard, pq.read_table(shard))
    assert "skipped" not in run_dedup(layout, cfg)
    # a docs shard gone
    assert run_dedup(layout, cfg)["skipped"]
    shard.unlink()
    stats = run_dedup(layout, cfg)
    assert "skipped" not in stats and stats["docs_shards"] == 1


def test_run_reports_progress_and_takes_the_dedup_table_only(tmp_path):
    pages = [p for p in WORLD.pages if p.kind in ("syndicated", "article")][:30]
    layout = _write_docs(tmp_path / "p", pages, shards=3)
    events = []
    stats = run_dedup(layout, DedupConfig(**FAST), events.append,
                      eval_texts=[pages[0].body])
    last = {e.phase: e for e in events}
    assert list(last) == ["signatures", "clusters", "threshold report", "decontamination"]
    for phase in ("signatures", "clusters", "decontamination"):  # counted in documents
        assert last[phase].done == last[phase].total == stats["docs"] == len(pages)
    assert last["signatures"].extra["shards"] == 3
    assert last["threshold report"].done == last["threshold report"].total == 2
    from webtext.config import WebtextConfig

    with pytest.raises(TypeError, match="DedupConfig"):
        run_dedup(layout, WebtextConfig())


def test_contaminated_ids_of_a_build_use_the_dedup_ngram(tmp_path):
    """The ablation's overlap check: the build's documents, `dedup.decontam_ngram`."""
    articles = [p for p in WORLD.pages if p.kind == "article"]
    eval_text = articles[0].body
    words = eval_text.split()
    rows = [{"doc_id": d, "text": t} for d, t in [
        ("eval", eval_text),
        ("copy", eval_text),
        ("quote13", "Intro words here. " + " ".join(words[20:33]) + " and more text after."),
        ("quote12", "Intro words here. " + " ".join(words[20:32]) + " zzz qqq."),
        ("other", articles[1].body),
        ("empty", None),
    ]]
    layout = write_docs_rows(tmp_path / "c", rows, 2)
    assert contaminated_ids(layout, [eval_text], DedupConfig(), exclude={"eval"}) == \
        {"copy", "quote13"}
    assert contaminated_ids(layout, [eval_text], DedupConfig(decontam_ngram=8),
                            exclude={"eval"}) == {"copy", "quote13", "quote12"}
    assert contaminated_ids(layout, [eval_text], DedupConfig()) == {"eval", "copy", "quote13"}
    assert dict(doc_texts(layout, {"empty", "other"})) == {"empty": "",
                                                            "other": articles[1].body}


def test_signatures_are_freed_before_the_output_columns(tmp_path, monkeypatch):
    """The signature matrix (num_perm x 4 bytes per document) is released once the Jaccard
    estimates are computed: the output columns are built without it."""
    import weakref

    from webtext.dedup import stage

    held: list[weakref.ref] = []
    alive_at: dict[str, bool] = {}
    load, decontam = stage.load_signatures, stage.decontaminate
    columns = getattr(stage, "output_columns", None)

    def load_signatures(*args, **kwargs):
        sigs = load(*args, **kwargs)
        held.append(weakref.ref(sigs))
        return sigs

    def output_columns(*args, **kwargs):
        alive_at["output_columns"] = held[0]() is not None
        return columns(*args, **kwargs)

    def decontaminate(*args, **kwargs):
        alive_at["decontaminate"] = held[0]() is not None
        return decontam(*args, **kwargs)

    monkeypatch.setattr(stage, "load_signatures", load_signatures)
    monkeypatch.setattr(stage, "output_columns", output_columns, raising=False)
    monkeypatch.setattr(stage, "decontaminate", decontaminate)
    pages = [p for p in WORLD.pages if p.group in ("story-1", "story-2")]
    layout = _write_docs(tmp_path / "b", pages, shards=2)
    stats = run_dedup(layout, DedupConfig(**FAST, discover_previous=False))
    assert stats["dup_near"] + stats["dup_exact"] > 0  # the Jaccard lookup was used
    assert len(held) == 1
    assert alive_at == {"output_columns": False, "decontaminate": False}


def test_graph_columns_are_those_of_the_shards_in_node_order(tmp_path):
    """load_graph fills its arrays shard by shard: this build's shards, then the earlier
    snapshot's, each node with its own columns and snapshot rank."""
    from webtext.dedup import stage
    from webtext.dedup.store import read_meta, shard_names

    articles = [p for p in WORLD.pages if p.kind == "article"]
    old = _write_docs(tmp_path / "old", articles[:12], shards=2)
    run_dedup(old, DedupConfig(**FAST, discover_previous=False))
    new = _write_docs(tmp_path / "new", articles[8:30], shards=3)
    run_dedup(new, DedupConfig(**FAST, discover_previous=False), previous=[old.root])
    cfg = DedupConfig(**FAST, discover_previous=False, previous=[str(old.root)])
    snapshots, _ = stage.find_previous(new, list(cfg.previous), False,
                                       stage.params_of(cfg).to_json())
    r = stage._Run(new, cfg, new.require_docs_shards(), snapshots, [], {}, None)
    graph = stage.load_graph(r)
    tables = ([read_meta(new.dedup_dir, n) for n in shard_names(new.dedup_dir)]
              + [read_meta(old.dedup_dir, n) for n in shard_names(old.dedup_dir)])
    whole = pa.concat_tables(tables)
    nodes = graph.nodes
    assert graph.counts == [t.num_rows for t in tables] and nodes.n_current == 22
    assert nodes.doc_id.to_pylist() == whole.column("doc_id").to_pylist()
    assert nodes.karma.tolist() == whole.column("karma").to_pylist()
    assert nodes.n_chars.tolist() == whole.column("n_chars").to_pylist()
    assert nodes.hashes.tolist() == whole.column("text_hash").to_pylist()
    assert graph.has_sig.tolist() == whole.column("has_sig").to_pylist()
    assert nodes.snapshot.tolist() == [1] * 22 + [0] * 12
