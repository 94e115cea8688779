"""The ablation, statistics and scheduling flows on the fixture world's build."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import make_config

from webtext.config import apply_override
from webtext.flows.ablate import run_ablation
from webtext.layout import BuildLayout

pytestmark = pytest.mark.usefixtures("prefect_server")

TINY_TRAIN = [
    "train.max_tokens=6144", "train.batch_size=8", "train.eval_every=4", "train.eval_windows=8",
    "train.n_embd=32", "train.block_size=64", "train.autocast=\"off\"", "train.sample_every=0",
]
VERDICTS = {"better", "worse", "no detectable difference at this budget"}


def ablation_config(built, evalsets: Path, extra: list[str] = ()):
    """The flow tests' ablation: raw against webtext, two seeds, a heldout suite of 8
    documents and the fixture world's reference corpus."""
    data = built["config"].model_dump(mode="json", exclude_none=True)
    for o in [*TINY_TRAIN, 'ablate.variants=["raw", "webtext"]', "ablate.seeds=[0, 1]",
              'ablate.suites=["heldout", "reference"]', 'ablate.name="test"',
              "eval.bootstrap=200", *extra]:
        apply_override(data, o)
    data["eval"]["suites"] = {
        "heldout": {"kind": "heldout", "size": 8},
        "reference": {"kind": "text", "paths": [str(evalsets / "reference.jsonl")]},
    }
    return type(built["config"]).model_validate(data)


@pytest.fixture(scope="module")
def evalsets(tmp_path_factory) -> Path:
    from webtext.world.evalsets import write_evalsets

    out = tmp_path_factory.mktemp("evalsets")
    write_evalsets(out)
    return out


@pytest.fixture(scope="module")
def ablation(built, evalsets):
    config = ablation_config(built, evalsets)
    result = run_ablation(config, built["build"])
    return {"config": config, "result": result,
            "dir": BuildLayout(built["build"]).ablation("test")}


def test_results_for_every_variant_suite_and_seed(ablation):
    results = json.loads((ablation["dir"] / "results.json").read_text())
    assert set(results["variants"]) == {"raw", "webtext"}
    assert set(results["suites"]) == {"heldout", "reference"}
    for suite, block in results["suites"].items():
        assert block["metric"] == "bpb" and block["kind"] in ("heldout", "text")
        for name, row in block["variants"].items():
            assert row["seeds"] == [0, 1] and len(row["bpb_seeds"]) == 2, (suite, name)
            assert row["mean"] == row["bpb_mean"] and row["sd"] is not None
            assert row["nats_per_token_mean"] > 0
            assert row["contaminated_items"] == 0  # decontaminated before training
            for seed in (0, 1):
                run = ablation["dir"] / "runs" / f"{name}-seed{seed}"
                scored = json.loads((run / "eval.json").read_text())["suites"][suite]
                assert scored["bpb"] in row["bpb_seeds"]
                assert scored["digest"] == block["digest"]  # the suite as fixed
                summary = json.loads((run / "summary.json").read_text())
                assert summary["tokens_seen"] >= 6144  # the same budget for every run
    assert (ablation["dir"] / "loss_curves.png").read_bytes()[:4] == b"\x89PNG"
    table = (ablation["dir"] / "results.md").read_text()
    assert "| raw |" in table and "| webtext |" in table and "±" in table
    assert "## Suite `heldout`" in table and "## Suite `reference`" in table


def test_comparisons_budgets_and_sentences(ablation):
    results = json.loads((ablation["dir"] / "results.json").read_text())
    for block in results["suites"].values():
        (c,) = block["comparisons"]
        assert (c["baseline"], c["variant"], c["n_items"]) == ("raw", "webtext",
                                                               block["n_items"])
        assert c["verdict"] in VERDICTS
        assert c["ci_low"] <= c["diff"] <= c["ci_high"] and c["mde"] > 0
        assert block["sentences"] and "webtext" in block["sentences"][0]
    assert results["sentences"] and results["verdict"]
    for name, b in results["variants"].items():
        manifest = json.loads((Path(b["tokens_dir"]) / "manifest.json").read_text())
        assert b["unique_tokens"] == manifest["splits"]["train"]["tokens"] > 0, name
        assert b["epochs"] == pytest.approx(6144 / b["unique_tokens"])
        assert b["repeats_data"] is (b["epochs"] > 1)


def test_heldout_and_overlapping_documents_are_out_of_every_variant(ablation, built):
    from webtext.evals.suites import draw_heldout

    held = json.loads((ablation["dir"] / "held_out.json").read_text())
    # drawn from the deduplicated unfiltered pool, not from a recipe
    drawn = [d for d, _ in draw_heldout(BuildLayout(built["build"]), 8, 0)]
    assert held["heldout_docs"] == sorted(drawn)
    assert set(drawn) <= set(held["held_out"])
    assert set(held["overlapping_docs"]) <= set(held["held_out"])
    results = json.loads((ablation["dir"] / "results.json").read_text())
    for name, variant in results["variants"].items():  # the tokens each variant trained on
        tokens = Path(variant["tokens_dir"])
        m = json.loads((tokens / "manifest.json").read_text())
        assert m["recipe"]["name"] == name and m["recipe"]["exclude"]["count"] > 0
        for shard in m["shards"]:
            ids = set(pq.read_table(tokens / shard["file"],
                                    columns=["doc_id"]).column("doc_id").to_pylist())
            assert ids and not ids & set(held["held_out"]), (name, shard["file"])


def test_every_run_is_in_the_registry(ablation, built):
    from webtext.evals.registry import query

    results = json.loads((ablation["dir"] / "results.json").read_text())
    root = Path(built["build"]).parent
    assert results["registry"]["dir"] == str((root / "registry").resolve())
    cols, rows = query(root, "SELECT variant, seed, suite, suite_digest, config_digest, "
                             "tokens_digest, tokenizer_digest, bpb FROM registry "
                             "WHERE ablation = 'test' ORDER BY variant, seed, suite")
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (v, s, suite) for v in ("raw", "webtext") for s in (0, 1)
        for suite in ("heldout", "reference")]
    for r in rows:
        assert all(r[3:]), dict(zip(cols, r, strict=True))
        assert r[3] == results["suites"][r[2]]["digest"]
    md = (ablation["dir"] / "results.md").read_text()
    assert results["registry"]["dir"] in md and "webtext runs --data-root" in md


def test_a_rerun_with_other_training_settings_is_refused(ablation, built, evalsets):
    """The runs of an ablation are resumed by name: one asked with another learning rate is
    refused with the one-line error, never finished under the old settings and reported as the
    new ones."""
    from webtext.errors import UsageError

    before = (ablation["dir"] / "results.json").read_bytes()
    config = ablation_config(built, evalsets, ["train.lr=0.002"])
    with pytest.raises(UsageError, match=r"cannot resume with other training settings: "
                                         r"lr 0\.002 != 0\.001 in .*ckpt\.pt"):
        run_ablation(config, built["build"])
    assert (ablation["dir"] / "results.json").read_bytes() == before


def test_stats_flow_writes_report_and_artifacts(built):
    from prefect.client.orchestration import get_client

    from webtext.flows.statsflow import stats_flow

    stats = stats_flow(str(built["build"]))
    layout = BuildLayout(built["build"])
    assert json.loads(layout.stats_json.read_text())["adds_up"] is True
    html = layout.report_html.read_text()
    assert "data:image/png;base64," in html and "Funnel" in html
    assert stats["tokens"]
    with get_client(sync_client=True) as client:
        # The latest artifact of each key: the server also keeps unkeyed artifacts of its
        # own (run results), whose key is None, as many as the run's state changes made.
        keys = {a.key for a in client.read_latest_artifacts()}
    assert any(k.startswith("funnel-") for k in keys)
    assert any(k.startswith("report-") for k in keys)


def test_serve_deployment_has_the_cron_schedule(built):
    from webtext.flows.serve import deployment

    dep = deployment(built["config"], "0 3 * * *", "nightly-test")
    (schedule,) = dep.schedules
    assert schedule.schedule.cron == "0 3 * * *"
    assert "config_toml" in dep.parameters


@pytest.mark.slow
def test_snapshots_pick_up_new_dumps_and_reuse_earlier_fetches(tmp_path, world_dir, web):
    from webtext.flows.serve import finished_snapshots, run_snapshot

    dumps = tmp_path / "dumps"
    dumps.mkdir()
    shutil.copy(world_dir / "dumps" / "RS_2018.zst", dumps)
    config = make_config(web, dumps, ["build.data_root=\"%s\"" % (tmp_path / "root"),
                                      "build.recipes=[]"])
    config.source.dumps = [str(dumps / "*")]
    t0 = dt.datetime(2026, 11, 1, 3, 0, tzinfo=dt.UTC)
    web.reset()
    first = run_snapshot(config, t0)
    first_requests = len(web.access_log())
    assert first_requests > 0 and first["previous"] == []
    # A new year of dumps arrives beside the old file, whose URLs the first snapshot fetched.
    shutil.copy(world_dir / "dumps" / "RS_2019.xz", dumps)
    web.reset()
    second = run_snapshot(config, t0 + dt.timedelta(days=1))
    assert second["previous"] == [first["snapshot"]]
    assert {Path(d["file"]).name for d in second["dumps"]} == {"RS_2018.zst", "RS_2019.xz"}
    root = Path(config.build.data_root) / "snapshots"
    fetched_before = {r["url"] for r in pq.read_table(root / first["snapshot"] /
                                                      "fetch.parquet").to_pylist()
                      if r["status"] == "fetched"}
    requested = {f"http://{h}{p}" for h, p in web.access_log()}
    assert fetched_before and not (requested & fetched_before)  # taken from the archive
    second_fetch = {r["url"]: r["status"] for r in pq.read_table(
        root / second["snapshot"] / "fetch.parquet").to_pylist()}
    assert all(second_fetch[u] == "fetched" for u in fetched_before)
    dedup = pq.read_table(root / second["snapshot"] / "dedup.parquet").to_pylist()
    assert any(r["dup_kind"] == "earlier_snapshot" for r in dedup)
    assert [p.name for p in finished_snapshots(Path(config.build.data_root))] == [
        first["snapshot"], second["snapshot"]]
    # each snapshot gets its page; the second one's says what changed since the first
    second_stats = json.loads((root / second["snapshot"] / "stats.json").read_text())
    assert "diff" not in json.loads((root / first["snapshot"] / "stats.json").read_text())
    assert first["snapshot"] in json.dumps(second_stats["diff"])
    assert (root / second["snapshot"] / "report.html").is_file()
