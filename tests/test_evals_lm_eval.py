"""The webtext model inside lm-evaluation-harness, offline, against the suite code.

A tiny trained run scores local harness tasks (YAML over generated JSONL, no download): every
log-likelihood the harness receives must be the one `webtext.evals.score` gives the same
item, and the harness's metrics must follow from those numbers.
"""

from __future__ import annotations

import functools
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from webtext.errors import UsageError
from webtext.evals import score
from webtext.train.config import TrainConfig
from webtext.train.fixture import write_text_tokens
from webtext.train.generate import load_run
from webtext.train.loop import train
from webtext.world.text import prose_paragraphs

# Hugging Face's libraries read these when first imported: set before the harness loads, so
# a task that tried to download would fail instead. The CLI test sets them in its own process.
OFFLINE = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
for _k, _v in OFFLINE.items():
    os.environ.setdefault(_k, _v)

# Not importorskip: the dev install includes the `lm_eval` extra, so this never skips.
import lm_eval  # noqa: E402
from lm_eval.api.instance import Instance  # noqa: E402
from lm_eval.tasks import TaskManager  # noqa: E402

from webtext.evals import lm_eval_adapter  # noqa: E402  (registers the `webtext` model)
from webtext.evals.lm_eval_adapter import WebtextLM  # noqa: E402

# 3 optimizer steps on 64-token windows: a real run dir, trained just enough to be no longer
# uniform (the tests compare numbers, not quality).
MICRO = dict(n_layer=1, n_head=2, n_embd=32, block_size=64, batch_size=4, grad_accum=1,
             max_tokens=3 * 4 * 64, eval_every=100, log_every=1, eval_windows=2,
             sample_tokens=4, peak_flops=1e11, warmup_steps=1, lr=3e-3, autocast="off")
HELD = prose_paragraphs()[400:]  # the run trains on the first 200: items are unseen text


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lm_eval_run")
    tokens = write_text_tokens(root / "tok", list(prose_paragraphs()[:200]), vocab_size=400)
    train(tokens, root / "run", TrainConfig(**MICRO))
    return root / "run"


@pytest.fixture(scope="module")
def loaded(run):
    model, tokenizer, _ = load_run(run)
    return model, tokenizer


def _greedy(model, tokenizer, context: str, n: int) -> str:
    """The plainest greedy decoding: n argmax tokens (of the real vocabulary) after the
    prompt, in one window, ending early at the end-of-document id."""
    ids = [tokenizer.eod_id, *tokenizer.encode(context)]
    new: list[int] = []
    with torch.no_grad():
        for _ in range(n):
            logits = model(torch.tensor([ids + new]))[0][0, -1, : tokenizer.vocab_size]
            if int(logits.argmax()) == tokenizer.eod_id:
                break
            new.append(int(logits.argmax()))
    return tokenizer.decode(new)


def _yaml(tasks: Path, name: str, data: list[dict], body: str) -> None:
    (tasks / f"{name}.jsonl").write_text("".join(json.dumps(d) + "\n" for d in data))
    (tasks / f"{name}.yaml").write_text(
        f"task: {name}\ndataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {tasks / (name + '.jsonl')}\n"
        f"  cache_dir: {tasks / 'hf-cache'}\n"
        f"test_split: test\n{body}"
    )


@pytest.fixture(scope="module")
def tasks(tmp_path_factory, loaded) -> Path:
    """Local tasks for every request type the harness sends (multiple choice is
    loglikelihood over each choice)."""
    tasks = tmp_path_factory.mktemp("lm_eval_tasks")
    words, seen = [], set()  # 12 paragraphs whose words 12..16 differ: distinct choices
    for p in HELD:
        w = p.split()
        if len(w) >= 20 and " ".join(w[12:16]) not in seen and len(words) < 12:
            seen.add(" ".join(w[12:16]))
            words.append(w)
    mc = [{"context": " ".join(w[:12]),
           "choices": [" ".join(x[12:16]) for x in (w, *words[i + 1 : i + 4])], "label": 0}
          for i, w in enumerate(words[:6])]
    assert all(len(set(d["choices"])) == 4 for d in mc)
    _yaml(tasks, "wt_mc", mc, 'output_type: multiple_choice\ndoc_to_text: "{{context}}"\n'
          'doc_to_choice: "{{choices}}"\ndoc_to_target: "{{label}}"\n'
          "metric_list:\n  - metric: acc\n  - metric: acc_norm\n")
    # LAMBADA-style: the last word given everything before it
    lam = [{"text": " ".join(w[:18])} for w in words[6:12]]
    _yaml(tasks, "wt_lambada", lam, "output_type: loglikelihood\n"
          "doc_to_text: \"{{text.split(' ')[:-1]|join(' ')}}\"\n"
          "doc_to_target: \"{{' ' + text.split(' ')[-1]}}\"\n"
          "metric_list:\n  - metric: perplexity\n  - metric: acc\n")
    # continuations the model itself would write, so that is_greedy is True somewhere
    prompts = [" ".join(w[:4]) for w in words[6:12]]
    greedy = [{"context": c, "continuation": _greedy(*loaded, c, 2)} for c in prompts]
    _yaml(tasks, "wt_greedy", greedy, 'output_type: loglikelihood\ndoc_to_text: "{{context}}"\n'
          'doc_to_target: "{{continuation}}"\ntarget_delimiter: ""\n'
          "metric_list:\n  - metric: acc\n")
    ppl = [{"text": p} for p in HELD[:5]]
    _yaml(tasks, "wt_ppl", ppl, 'output_type: loglikelihood_rolling\ndoc_to_text: ""\n'
          'doc_to_target: "{{text}}"\nmetric_list:\n  - metric: bits_per_byte\n')
    # short prompts: prompt + 6 new tokens fit one window, so _greedy (no sliding) is the
    # reference (beyond one window, generation slides its window by one token per step)
    gen = [{"context": " ".join(w[:5]), "answer": " " + " ".join(w[5:7])} for w in words[:3]]
    _yaml(tasks, "wt_gen", gen, 'output_type: generate_until\ndoc_to_text: "{{context}}"\n'
          'doc_to_target: "{{answer}}"\n'
          'generation_kwargs:\n  until: ["\\n"]\n  max_gen_toks: 6\n'
          "metric_list:\n  - metric: exact_match\n")
    return tasks


@pytest.fixture(scope="module")
def evaluated(run, tasks) -> dict:
    return lm_eval.simple_evaluate(
        model="webtext", model_args=f"run={run}", device="cpu",
        tasks=["wt_mc", "wt_lambada", "wt_greedy", "wt_ppl", "wt_gen"],
        task_manager=TaskManager(include_path=str(tasks), include_defaults=False),
        log_samples=True,
    )


def test_multiple_choice_loglikelihoods_are_the_suite_codes(evaluated, loaded):
    model, tokenizer = loaded
    samples = evaluated["samples"]["wt_mc"]
    assert len(samples) == 6
    hits, norm_hits = [], []
    for s in samples:
        got = [r[0] for r in s["resps"]]  # one (logprob, is_greedy) per choice
        want = [score.loglikelihood(model, tokenizer, ctx, cont) for ctx, cont in s["arguments"]]
        assert [c for _, c in s["arguments"]] == [" " + c for c in s["doc"]["choices"]]
        assert [g[0] for g in got] == pytest.approx([w[0] for w in want], rel=1e-6, abs=1e-6)
        assert [g[1] for g in got] == [w[1] for w in want]
        lls = [w[0] for w in want]
        hits.append(max(range(4), key=lls.__getitem__) == s["doc"]["label"])
        chars = [len(c) for c in s["doc"]["choices"]]  # acc_norm: per character of the choice
        norm_hits.append(max(range(4), key=lambda i: lls[i] / chars[i]) == s["doc"]["label"])
    res = evaluated["results"]["wt_mc"]
    assert res["acc,none"] == pytest.approx(sum(hits) / len(hits))
    assert res["acc_norm,none"] == pytest.approx(sum(norm_hits) / len(norm_hits))


def test_last_word_task_matches_the_suite_code(evaluated, loaded):
    model, tokenizer = loaded
    samples = evaluated["samples"]["wt_lambada"]
    pairs = [tuple(s["arguments"][0]) for s in samples]
    assert all(cont.startswith(" ") and " " not in cont[1:] for _, cont in pairs)
    want = score.loglikelihoods(model, tokenizer, pairs, batch_size=1)
    got = [s["resps"][0][0] for s in samples]
    assert [g[0] for g in got] == pytest.approx([w[0] for w in want], rel=1e-6, abs=1e-6)
    res = evaluated["results"]["wt_lambada"]
    assert res["acc,none"] == pytest.approx(sum(w[1] for w in want) / len(want))
    assert res["perplexity,none"] == pytest.approx(
        math.exp(-sum(w[0] for w in want) / len(want)), rel=1e-6)


def test_is_greedy_is_the_suite_codes(evaluated, loaded):
    model, tokenizer = loaded
    samples = evaluated["samples"]["wt_greedy"]
    want = [score.loglikelihood(model, tokenizer, *s["arguments"][0]) for s in samples]
    assert any(w[1] for w in want)  # the model's own continuations: is_greedy is exercised
    got = [s["resps"][0][0] for s in samples]
    assert [g[0] for g in got] == pytest.approx([w[0] for w in want], rel=1e-6, abs=1e-6)
    assert [g[1] for g in got] == [w[1] for w in want]
    assert evaluated["results"]["wt_greedy"]["acc,none"] == pytest.approx(
        sum(w[1] for w in want) / len(want))


def test_rolling_loglikelihood_is_the_suite_codes_sliding_window(evaluated, loaded, run):
    model, tokenizer = loaded
    samples = evaluated["samples"]["wt_ppl"]
    texts = [s["arguments"][0][0] for s in samples]
    assert texts == list(HELD[:5])
    # longer than one window, so the sliding window is what is compared
    assert max(len(tokenizer.encode(t)) for t in texts) > 2 * model.config.block_size
    want = score.score_texts(model, tokenizer, texts)
    assert [s["resps"][0][0] for s in samples] == pytest.approx([-w.nats for w in want], rel=1e-6)
    bpb = score.bits_per_byte(sum(w.nats for w in want), sum(w.bytes for w in want))
    assert evaluated["results"]["wt_ppl"]["bits_per_byte,none"] == pytest.approx(bpb, rel=1e-6)
    # stride= reaches the scorer: the harness's own convention is stride = block_size
    block = model.config.block_size
    lm = WebtextLM(run=str(run), stride=block)
    requests = [Instance("loglikelihood_rolling", {}, (t,), i) for i, t in enumerate(texts)]
    got = lm.loglikelihood_rolling(requests)
    strided = score.score_texts(model, tokenizer, texts, stride=block)
    assert got == pytest.approx([-w.nats for w in strided], rel=1e-6)
    assert got != pytest.approx([s["resps"][0][0] for s in samples], rel=1e-6)


def test_generate_until_is_greedy_and_stops(evaluated, loaded, run):
    model, tokenizer = loaded
    samples = evaluated["samples"]["wt_gen"]
    for s in samples:
        context, kwargs = s["arguments"][0]
        assert kwargs == {"until": ["\n"], "max_gen_toks": 6}
        assert len(tokenizer.encode(context)) + 6 < model.config.block_size
        assert s["resps"][0][0] == _greedy(model, tokenizer, context, 6).split("\n")[0]
    lm = WebtextLM(run=str(run))
    context, text = samples[0]["arguments"][0][0], samples[0]["resps"][0][0]
    stop = text[len(text) // 2 :]  # a stop string inside the greedy text cuts it there
    cut = lm.generate_until([Instance("generate_until", {}, (context, {
        "until": ["never there", stop], "max_gen_toks": 6}), 0)])[0]
    assert stop and cut == text[: text.index(stop)]
    sampled = [lm.generate_until([Instance("generate_until", {}, (context, {
        "do_sample": True, "temperature": 1.0, "top_k": 50, "max_gen_toks": 6}), 0)])[0]
        for _ in range(2)]
    assert sampled[0] == sampled[1]  # seeded per request: the same text twice


def test_bad_model_args_and_requests_are_one_line_errors(run, tmp_path):
    with pytest.raises(UsageError, match="needs run=RUN_DIR"):
        WebtextLM()
    with pytest.raises(UsageError, match="unknown model_args pretrained"):
        WebtextLM(run=str(run), pretrained="gpt2")
    with pytest.raises(UsageError, match="stride=0 is not an integer >= 1"):
        WebtextLM(run=str(run), stride=0)
    with pytest.raises(UsageError, match="stride=65 exceeds the model.s block_size 64"):
        WebtextLM(run=str(run), stride=65)
    with pytest.raises(UsageError, match="no ckpt.pt"):
        WebtextLM(run=str(tmp_path))
    lm = WebtextLM(run=str(run))
    empty = Instance("loglikelihood", {}, ("A context", ""), 0, ("wt_x", 7, 1))
    with pytest.raises(UsageError, match="task wt_x doc 7: .*encodes to no tokens"):
        lm.loglikelihood([Instance("loglikelihood", {}, ("A", " b"), 0), empty])
    with pytest.raises(UsageError, match="unsupported generation_kwargs num_beams"):
        lm.generate_until([Instance("generate_until", {}, ("A", {"num_beams": 4}), 0)])


def test_cli_wrapper_prints_a_usage_error(tasks, monkeypatch, capsys, tmp_path):
    # The harness's CLI indexes its ~15k built-in tasks first; only the local ones matter here.
    import lm_eval.tasks
    monkeypatch.setattr(lm_eval.tasks, "TaskManager",
                        functools.partial(TaskManager, include_defaults=False))
    monkeypatch.setattr(sys, "argv", list(sys.argv))  # main() sets the harness's argv
    missing = tmp_path / "no-run"
    rc = lm_eval_adapter.main(["--model", "webtext", "--model_args", f"run={missing}",
                               "--tasks", "wt_mc", "--include_path", str(tasks)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith(f"webtext lm-eval: {missing}: no ckpt.pt")


# `python -m webtext.evals.lm_eval_adapter ARGS`, except that the harness indexes only the
# local tasks (its ~15k built-in ones cost half a minute on a busy CI core): runpy with
# alter_sys is what `-m` runs, so the module still starts as __main__ and is imported again by
# its package name when the harness looks the model up.
_CLI = ("import functools, runpy, lm_eval.tasks as t; "
        "t.TaskManager = functools.partial(t.TaskManager, include_defaults=False); "
        "runpy.run_module('webtext.evals.lm_eval_adapter', run_name='__main__', alter_sys=True)")


@pytest.mark.slow
def test_lm_eval_cli_runs_the_webtext_model(run, tasks, evaluated, tmp_path):
    """The harness's CLI with the model registered; its results are the in-process ones."""
    env = {**os.environ, **OFFLINE, "HF_HOME": str(tmp_path / "hf")}
    proc = subprocess.run(
        [sys.executable, "-c", _CLI, "--model", "webtext", "--model_args", f"run={run}",
         "--tasks", "wt_mc,wt_ppl", "--include_path", str(tasks),
         "--output_path", str(tmp_path / "out")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (results_file,) = (tmp_path / "out").rglob("results_*.json")
    results = json.loads(results_file.read_text())["results"]
    for task, metric in (("wt_mc", "acc,none"), ("wt_ppl", "bits_per_byte,none")):
        assert results[task][metric] == pytest.approx(evaluated["results"][task][metric])
    assert "|wt_ppl" in proc.stdout  # the harness's own results table


def test_webtext_lm_eval_subcommand_passes_every_flag_to_the_harness(tasks, monkeypatch, capsys,
                                                                     tmp_path):
    """`webtext lm-eval ...`: lm-eval's own flags reach the harness through the webtext CLI."""
    import lm_eval.tasks

    from webtext.cli import main as webtext_main

    monkeypatch.setattr(lm_eval.tasks, "TaskManager",
                        functools.partial(TaskManager, include_defaults=False))
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    missing = tmp_path / "no-run"
    rc = webtext_main(["lm-eval", "--model", "webtext", "--model_args", f"run={missing}",
                       "--tasks", "wt_mc", "--include_path", str(tasks)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith(f"webtext lm-eval: {missing}: no ckpt.pt")
