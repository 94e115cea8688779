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
from webtext.flows.ablate import markdown_table, run_ablation, verdict
from webtext.layout import BuildLayout

pytestmark = pytest.mark.usefixtures("prefect_server")

TINY_TRAIN = [
    "train.max_tokens=6144", "train.batch_size=8", "train.eval_every=4", "train.eval_windows=8",
    "train.n_embd=32", "train.block_size=64", "train.autocast=\"off\"", "train.sample_every=0",
]


@pytest.fixture(scope="module")
def ablation(built):
    data = built["config"].model_dump(mode="json", exclude_none=True)
    for o in [*TINY_TRAIN, 'ablate.variants=["raw", "webtext"]', "ablate.seeds=[0, 1]",
              "ablate.eval_docs=8", 'ablate.name="test"']:
        apply_override(data, o)
    config = type(built["config"]).model_validate(data)
    result = run_ablation(config, built["build"])
    return {"config": config, "result": result,
            "dir": BuildLayout(built["build"]).ablation("test")}


def test_results_for_every_variant_and_seed(ablation):
    results = json.loads((ablation["dir"] / "results.json").read_text())
    assert set(results["variants"]) == {"raw", "webtext"}
    for name, row in results["variants"].items():
        assert row["seeds"] == [0, 1] and len(row["losses"]) == 2, name
        for seed in (0, 1):
            summary = json.loads((ablation["dir"] / "runs" / f"{name}-seed{seed}" /
                                  "summary.json").read_text())
            assert summary["final_val_loss"] in row["losses"]
            assert summary["tokens_seen"] >= 6144  # the same budget for every run
    assert (ablation["dir"] / "loss_curves.png").read_bytes()[:4] == b"\x89PNG"
    table = (ablation["dir"] / "results.md").read_text()
    assert "| raw |" in table and "| webtext |" in table and "±" in table


def test_evaluation_documents_are_held_out_of_every_variant(ablation, built):
    held = json.loads((ablation["dir"] / "held_out.json").read_text())
    assert len(held["eval_ids"]) == 8
    assert set(held["eval_ids"]) <= set(held["held_out"])
    tokens_root = Path(built["build"]) / "tokens"
    variants = 0
    for manifest in tokens_root.glob("*/manifest.json"):
        m = json.loads(manifest.read_text())
        if m["recipe"]["exclude"]["count"] == 0 or m["splits"]["train"]["docs"] == 0:
            continue  # not an ablation variant (the build's own tokens), or the eval set
        for shard in m["shards"]:
            ids = set(pq.read_table(manifest.parent / shard["file"],
                                    columns=["doc_id"]).column("doc_id").to_pylist())
            if shard["split"] == "train":
                assert not ids & set(held["held_out"]), manifest.parent.name
        variants += 1
    assert variants >= 2  # raw and webtext, trained with the shared tokenizer


def test_verdict_states_the_numbers(ablation):
    results = json.loads((ablation["dir"] / "results.json").read_text())
    text = results["verdict"]
    assert text.startswith(("Yes", "No"))
    best = min(results["variants"].values(), key=lambda r: r["val_loss_mean"])
    assert f"{best['val_loss_mean']:.4f}" in text


def test_verdict_and_table_from_known_numbers():
    results = {"baseline": "raw", "seeds": [0, 1], "eval_docs": 4, "held_out": 5,
               "contaminated": 1, "cluster_mates": 0, "max_tokens": 100, "model": "tiny",
               "variants": {
                   "raw": {"val_loss_mean": 5.0, "val_loss_sd": 0.01, "val_bpb_mean": 2.0,
                           "val_bpb_sd": 0.0, "d_loss_vs_baseline": 0.0,
                           "d_bpb_vs_baseline": 0.0},
                   "webtext": {"val_loss_mean": 4.5, "val_loss_sd": 0.02, "val_bpb_mean": 1.8,
                               "val_bpb_sd": 0.0, "d_loss_vs_baseline": -0.5,
                               "d_bpb_vs_baseline": -0.2}}}
    assert verdict(results).startswith("Yes: `webtext` reaches 4.5000")
    assert "0.5000 nats/token lower" in verdict(results)
    assert "`webtext` -0.5000 (lower, 25.0 sd)" in verdict(results)
    assert "| webtext |" in markdown_table(results) and "-0.5000" in markdown_table(results)
    results["variants"]["webtext"]["val_loss_mean"] = 5.5
    assert verdict(results).startswith("No")


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
        keys = {a.key for a in client.read_artifacts()}
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
