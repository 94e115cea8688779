"""`webtext eval` end to end on a tiny trained run, the registry and `webtext runs`."""

from __future__ import annotations

import json
import math

import pyarrow.parquet as pq
import pytest

from webtext.cli import main
from webtext.evals.evaluate import read_items
from webtext.evals.registry import query, record_run
from webtext.train.config import TrainConfig
from webtext.train.fixture import write_text_tokens
from webtext.train.loop import train
from webtext.world.evalsets import write_evalsets
from webtext.world.text import prose_paragraphs

# the test_train_loop.py micro model: 8 steps of 4 x 2 windows of 32 tokens, fp32
MICRO = dict(n_layer=1, n_head=2, n_embd=32, block_size=32, batch_size=4, grad_accum=2,
             max_tokens=8 * 4 * 2 * 32, eval_every=4, log_every=4, eval_windows=4,
             sample_tokens=4, peak_flops=1e11, warmup_steps=2, lr=3e-3, autocast="off")
SUITES = ["reference_txt", "reference_jsonl", "reference_parquet", "lambada", "cbt", "cbt_txt",
          "hellaswag"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("evalrun")
    sets = root / "evalsets"
    write_evalsets(sets, n_items=8)
    planted = json.loads((sets / "lambada.jsonl").read_text().splitlines()[1])["text"]
    # one LAMBADA passage sits in the training text: the overlap check must report it
    texts = list(prose_paragraphs()[:150])
    texts.insert(1, planted)  # a train document (every 50th, from the first, is val)
    tokens = write_text_tokens(root / "tok", texts, vocab_size=400, val_every=50)
    train(tokens, root / "run", TrainConfig(**MICRO))
    return {"root": root, "sets": sets, "run": root / "run"}


def cli(world, *args: str) -> int:
    return main([args[0], "--config", str(world["sets"] / "suites.toml"),
                 "--set", f'build.data_root="{world["root"] / "data"}"', *args[1:]])


def test_eval_writes_eval_json_and_items(world, capsys):
    run = world["run"]
    argv = ["eval", str(run)] + [a for s in SUITES for a in ("--suite", s)] + ["--record"]
    assert cli(world, *argv) == 0
    report = json.loads((run / "eval.json").read_text())
    assert set(report["suites"]) == set(SUITES)
    for name in ("reference_jsonl", "reference_parquet", "reference_txt"):
        m = report["suites"][name]
        items = pq.read_table(run / m["items_file"]).to_pydict()
        assert len(items["item_id"]) == m["n_items"] > 1
        assert m["tokens"] == sum(items["tokens"]) and m["bytes"] == sum(items["bytes"])
        assert m["bpb"] == pytest.approx(sum(items["nats"]) / math.log(2) / m["bytes"])
        assert m["nats_per_token"] == pytest.approx(sum(items["nats"]) / m["tokens"])
        assert 0 < m["bpb_se"] < m["bpb"] and len(m["digest"]) == 64
    lam = report["suites"]["lambada"]
    assert lam["contaminated_items"] == 1 and 0 <= lam["acc"] <= 1 and lam["ppl"] > 1
    assert read_items(run, "lambada")["contaminated"] == [False, True] + [False] * 6
    assert report["suites"]["reference_jsonl"]["contaminated_items"] == 0
    assert report["suites"]["cbt"]["acc"] == report["suites"]["cbt_txt"]["acc"]
    assert 0 <= report["suites"]["hellaswag"]["acc_norm"] <= 1
    assert report["decontamination"]["training_docs"] > 100
    out = capsys.readouterr().out
    assert "lambada (lambada, 8 items" in out and "recorded" in out

    # scoring one suite again keeps the others, and gives the same numbers
    before = report["suites"]["hellaswag"]
    assert cli(world, "eval", str(run), "--suite", "hellaswag", "--no-decontam") == 0
    again = json.loads((run / "eval.json").read_text())
    assert set(again["suites"]) == set(SUITES)
    assert again["suites"]["hellaswag"]["acc_norm"] == before["acc_norm"]
    assert again["suites"]["hellaswag"]["nats"] == pytest.approx(before["nats"], rel=1e-6)


def test_eval_bad_suite_and_run_are_usage_errors(world, tmp_path, capsys):
    assert cli(world, "eval", str(world["run"]), "--suite", "nope") == 2
    assert "no suite named nope in [eval.suites]" in capsys.readouterr().err
    assert cli(world, "eval", str(tmp_path), "--suite", "lambada") == 2
    assert "no ckpt.pt" in capsys.readouterr().err
    assert cli(world, "eval", str(world["run"]), "--suite", "heldout") == 2
    assert "no suite named heldout" in capsys.readouterr().err


def test_registry_append_and_runs(world, tmp_path, capsys):
    report = {"suites": {"wiki": {"kind": "text", "digest": "d" * 64, "n_items": 3,
                                  "bpb": 1.5, "nats_per_token": 3.0},
                         "cbt": {"kind": "cloze", "digest": "e" * 64, "n_items": 3,
                                 "acc": 0.5}}}
    data = tmp_path / "data"
    for seed, (variant, bpb) in enumerate([("raw", 1.5), ("raw", 1.7), ("clean", 1.2)]):
        report["suites"]["wiki"]["bpb"] = bpb
        record_run(data, f"abl-{variant}-{seed}", world["run"], report, ablation="abl",
                   variant=variant, seed=seed)
    cols, rows = query(data, "SELECT variant, avg(bpb), count(*) FROM registry "
                             "WHERE suite = 'wiki' GROUP BY variant ORDER BY variant")
    assert rows == [("clean", 1.2, 1), ("raw", pytest.approx(1.6), 2)]
    cols, rows = query(data, "SELECT DISTINCT config_digest, tokens_digest, tokenizer_digest, "
                             "tokens_seen FROM registry")
    assert len(rows) == 1 and all(v is not None for v in rows[0])
    assert rows[0][3] == 8 * 4 * 2 * 32
    # recording a run again replaces its rows, never duplicates them
    record_run(data, "abl-clean-2", world["run"], report, ablation="abl", variant="clean",
               seed=2)
    assert query(data, "SELECT count(*) FROM registry")[1] == [(6,)]
    assert main(["runs", "--data-root", str(data), "--suite", "wiki", "--compare"]) == 0
    out = capsys.readouterr().out
    assert "clean" in out and "raw" in out and "1.6000" in out
    assert main(["runs", "--data-root", str(data), "--sql", "SELECT nope FROM registry"]) == 2
    assert "query failed" in capsys.readouterr().err
    assert main(["runs", "--data-root", str(tmp_path / "empty")]) == 2
    assert "no runs recorded yet" in capsys.readouterr().err
