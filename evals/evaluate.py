"""Score a finished run on named suites; write `eval.json` and per-item tables beside it.

In:  a run dir (or a local transformers GPT-2 folder, through `webtext.train.generate.load_run`),
     the `[eval]` config, suite names; optionally the run's training documents to check for
     overlap with the suites.
Out: `RUN/eval.json`: per suite its kind, digest, files, items, tokens, bytes, bits per byte,
     nats/token (language-model suites), accuracies (tasks), items overlapping the training
     set; and `RUN/eval_items/<suite>.parquet`, one row per item (item_id, nats, tokens,
     bytes, correct, correct_norm, contaminated) for the paired statistics of stats.py.
     Suites scored earlier and not named again are kept in eval.json.

Metrics: language-model suites (`heldout`, `text`) report bpb = total nats / ln 2 / total
bytes and nats/token over every token of every item (sliding window, score.py). `lambada`
reports accuracy (every token of the last word is the argmax, lm-eval's `acc`) and the
perplexity of the last word, exp(total nats / items) (lm-eval's `perplexity`). `cloze` reports
accuracy (the highest log-likelihood choice); `hellaswag` reports `acc` and `acc_norm`
(log-likelihood divided by the UTF-8 bytes of the ending, as lm-evaluation-harness's acc_norm
divides by its length).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from webtext.errors import UsageError
from webtext.evals.config import EvalConfig
from webtext.evals.score import bits_per_byte, score_pairs, score_texts
from webtext.evals.stats import paired_bootstrap
from webtext.evals.suites import Suite, heldout_suite, read_suite
from webtext.io import read_json, write_json, write_parquet

EVAL_JSON = "eval.json"
ITEMS_DIR = "eval_items"
LM_KINDS = ("heldout", "text")

ITEMS_SCHEMA = pa.schema([
    ("item_id", pa.string()),
    ("nats", pa.float64()),  # language-model suites: the text; tasks: the right choice
    ("tokens", pa.int64()),
    ("bytes", pa.int64()),
    ("correct", pa.bool_()),  # tasks only (null for language-model suites)
    ("correct_norm", pa.bool_()),  # hellaswag's acc_norm (null elsewhere)
    ("contaminated", pa.bool_()),  # shares a 13-gram with the training set checked
])


def items_path(run_dir: Path, suite: str) -> Path:
    return Path(run_dir) / ITEMS_DIR / f"{suite}.parquet"


def read_items(run_dir: Path, suite: str) -> dict[str, list[Any]]:
    """A run's per-item scores on a suite (as written by `evaluate_run`), column -> values."""
    path = items_path(run_dir, suite)
    if not path.is_file():
        raise UsageError(f"{path} not found: run `webtext eval {run_dir} --suite {suite}`")
    return pq.read_table(path).to_pydict()


@dataclass
class SuiteResult:
    """One suite scored: summary metrics and the per-item table."""

    suite: Suite
    metrics: dict[str, Any]
    items: pa.Table


def _lm_suite(model: Any, tokenizer: Any, suite: Suite, stride: int | None,
              batch_size: int) -> tuple[dict[str, Any], dict[str, list]]:
    scores = score_texts(model, tokenizer, [it.text for it in suite.items], stride, batch_size)
    nats = sum(s.nats for s in scores)
    tokens = sum(s.tokens for s in scores)
    nbytes = sum(s.bytes for s in scores)
    per_item = np.array([s.nats for s in scores]) / math.log(2)
    w = np.array([s.bytes for s in scores], dtype=np.float64)
    # Standard error of the pooled bpb over items: the bootstrap of stats.py on one run.
    se = paired_bootstrap(per_item / w, w, n_boot=1000).se if len(scores) > 1 else None
    metrics = {"bpb": bits_per_byte(nats, nbytes), "bpb_se": se,
               "nats_per_token": nats / tokens if tokens else float("nan"),
               "tokens": tokens, "bytes": nbytes, "nats": nats}
    cols = {"nats": [s.nats for s in scores], "tokens": [s.tokens for s in scores],
            "bytes": [s.bytes for s in scores], "correct": [None] * len(scores),
            "correct_norm": [None] * len(scores)}
    return metrics, cols


def _task_suite(model: Any, tokenizer: Any, suite: Suite, stride: int | None,
                batch_size: int) -> tuple[dict[str, Any], dict[str, list]]:
    requests = [(it.context, c) for it in suite.items for c in it.choices]
    scores = iter(score_pairs(model, tokenizer, requests, batch_size, stride))
    cols: dict[str, list] = {k: [] for k in ("nats", "tokens", "bytes", "correct",
                                             "correct_norm")}
    for it in suite.items:
        s = [next(scores) for _ in it.choices]
        gold = s[it.label]
        cols["nats"].append(gold.nats)
        cols["tokens"].append(gold.tokens)
        cols["bytes"].append(gold.bytes)
        if suite.kind == "lambada":  # one choice: right when every token is the argmax
            cols["correct"].append(gold.greedy)
            cols["correct_norm"].append(None)
            continue
        ll = np.array([-x.nats for x in s])
        norm = ll / np.array([max(1, len(t.encode("utf-8"))) for t in it.norm_texts])
        cols["correct"].append(int(np.argmax(ll)) == it.label)
        cols["correct_norm"].append(
            int(np.argmax(norm)) == it.label if suite.kind == "hellaswag" else None)
    n = len(suite.items)
    acc = sum(cols["correct"]) / n
    metrics: dict[str, Any] = {"acc": acc, "acc_se": math.sqrt(acc * (1 - acc) / n),
                               "tokens": sum(cols["tokens"]), "bytes": sum(cols["bytes"]),
                               "nats": sum(cols["nats"])}
    if suite.kind == "lambada":
        metrics["ppl"] = math.exp(metrics["nats"] / n)
        metrics["bpb"] = bits_per_byte(metrics["nats"], metrics["bytes"])
    if suite.kind == "hellaswag":
        acc_norm = sum(cols["correct_norm"]) / n
        metrics["acc_norm"] = acc_norm
        metrics["acc_norm_se"] = math.sqrt(acc_norm * (1 - acc_norm) / n)
    return metrics, cols


def evaluate_suite(
    model: Any, tokenizer: Any, suite: Suite, stride: int | None = None, batch_size: int = 16,
    contaminated: Iterable[str] = (),
) -> SuiteResult:
    """Score every item of `suite`; `contaminated` item ids are flagged (still scored)."""
    score = _lm_suite if suite.kind in LM_KINDS else _task_suite
    metrics, cols = score(model, tokenizer, suite, stride, batch_size)
    flagged = set(contaminated)
    cols["item_id"] = [it.item_id for it in suite.items]
    cols["contaminated"] = [it.item_id in flagged for it in suite.items]
    metrics.update(kind=suite.kind, digest=suite.digest, files=suite.files,
                   n_items=len(suite.items), contaminated_items=len(flagged),
                   stride=stride or max(1, model.config.block_size // 2))
    return SuiteResult(suite, metrics, pa.table(cols, schema=ITEMS_SCHEMA))


def run_build_dir(ckpt: dict[str, Any]) -> Path | None:
    """The build a run's tokens came from (BUILD/tokens/<name>/), or None."""
    tokens_dir = (ckpt.get("run") or {}).get("tokens_dir")
    if not tokens_dir:
        return None
    tokens_dir = Path(tokens_dir)
    return tokens_dir.parent.parent if tokens_dir.parent.name == "tokens" else None


def load_suites(names: Sequence[str], config: EvalConfig, ckpt: dict[str, Any] | None = None
                ) -> list[Suite]:
    """The named suites of the config; a heldout suite without `build` draws from the run's."""
    from webtext.layout import BuildLayout

    unknown = [n for n in names if n not in config.suites]
    if unknown:
        known = ", ".join(sorted(config.suites)) or "none"
        raise UsageError(f"no suite named {', '.join(unknown)} in [eval.suites] (defined: "
                         f"{known})")
    out = []
    for name in names:
        cfg = config.suites[name]
        if cfg.kind == "heldout":
            build = Path(cfg.build) if cfg.build else run_build_dir(ckpt or {})
            if build is None:
                raise UsageError(f"suite {name}: set eval.suites.{name}.build (the run's "
                                 "tokens dir is not inside a build)")
            out.append(heldout_suite(name, BuildLayout(build), cfg.size, cfg.seed))
        else:
            out.append(read_suite(name, cfg))
    return out


def training_docs(tokens_dir: Path, tokenizer: Any) -> Iterable[tuple[str, str]]:
    """(doc_id, text) of a tokens dir's train split, decoded (the texts a run trained on)."""
    shards = sorted(Path(tokens_dir).glob("train-*.parquet"))
    for shard in shards:
        table = pq.read_table(shard, columns=["doc_id", "tokens"])
        for doc_id, ids in zip(table.column("doc_id").to_pylist(),
                               table.column("tokens").to_pylist(), strict=True):
            yield doc_id, tokenizer.decode([i for i in ids if i != tokenizer.eod_id])


def evaluate_run(
    run_dir: Path, config: EvalConfig, suite_names: Sequence[str], *,
    decontam: bool = True, ngram: int = 13, device: str = "cpu",
) -> dict[str, Any]:
    """Score the run on the named suites; write eval.json and the per-item tables."""
    import torch

    from webtext.evals.decontam import find_overlap
    from webtext.train.generate import load_run

    run_dir = Path(run_dir)
    model, tokenizer, ckpt = load_run(run_dir)
    model.to(torch.device(device))
    suites = load_suites(suite_names, config, ckpt)
    overlap: dict[str, list[str]] = {}
    checked = None
    tokens_dir = (ckpt.get("run") or {}).get("tokens_dir")
    if decontam and tokens_dir and Path(tokens_dir).is_dir():
        found = find_overlap(suites, training_docs(Path(tokens_dir), tokenizer), ngram)
        overlap, checked = found.items, {"tokens_dir": str(tokens_dir), "ngram": ngram,
                                         "training_docs": found.training_docs}
    results = {}
    for suite in suites:
        stride = config.suites[suite.name].stride
        r = evaluate_suite(model, tokenizer, suite, stride, config.batch_size,
                           overlap.get(suite.name, ()))
        write_parquet(items_path(run_dir, suite.name), r.items)
        r.metrics["items_file"] = f"{ITEMS_DIR}/{suite.name}.parquet"
        results[suite.name] = r.metrics
    out_path = run_dir / EVAL_JSON
    previous = read_json(out_path) if out_path.is_file() else {}
    report = {
        "run": str(run_dir),
        "model_args": ckpt.get("model_args"),
        "tokenizer_sha256": (ckpt.get("run") or {}).get("tokenizer_sha256"),
        "decontamination": checked,
        "evaluated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "suites": {**previous.get("suites", {}), **results},
    }
    write_json(out_path, report)
    return report
