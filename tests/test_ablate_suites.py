"""The ablation on independent suites: suites fixed before any variant, decontamination of every
variant, budgets, the printed verdicts, and a spam variant found worse on clean prose."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from webtext.config import WebtextConfig, apply_override
from webtext.errors import UsageError
from webtext.evals.stats import compare
from webtext.flows import ablate
from webtext.layout import BuildLayout


def _config(built, overrides: list[str], suites: dict) -> WebtextConfig:
    data = built["config"].model_dump(mode="json", exclude_none=True)
    for o in overrides:
        apply_override(data, o)
    data["eval"]["suites"] = suites
    return WebtextConfig.model_validate(data)


class _Stop(Exception):
    """Raised by the stand-in for the first variant's tokenization to end the flow there."""


@pytest.mark.usefixtures("prefect_server")
def test_suites_are_fixed_before_any_variant(built, tmp_path, monkeypatch):
    from webtext.evals.evaluate import load_suites

    ref = tmp_path / "ref.jsonl"
    ref.write_text(json.dumps({"text": "A reference paragraph of clean prose to score."}) + "\n")
    suites = {"heldout": {"kind": "heldout", "size": 6},
              "ref": {"kind": "text", "paths": [str(ref)]}}
    config = _config(built, ['ablate.name="order"', 'ablate.suites=["heldout", "ref"]',
                             'ablate.variants=["raw", "webtext"]'], suites)
    out = BuildLayout(built["build"]).ablation("order")
    seen: list[dict] = []

    def first_variant(build_dir, config_toml, recipe, exclude, tokenizer):
        seen.append({"suites": json.loads((out / "suites.json").read_text()),
                     "held": json.loads((out / "held_out.json").read_text()),
                     "exclude": exclude, "recipe": recipe})
        raise _Stop

    monkeypatch.setattr(ablate, "tokenize_variant", first_variant)
    with pytest.raises(_Stop):
        ablate.run_ablation(config, built["build"])
    (state,) = seen  # the shared tokenizer is the first thing built from any recipe
    expected = load_suites(["heldout", "ref"], ablate.eval_config(config, str(built["build"])))
    assert {k: v["digest"] for k, v in state["suites"].items()} == {
        s.name: s.digest for s in expected}
    heldout_ids = {it.item_id for it in expected[0].items}
    assert heldout_ids <= set(state["exclude"]) and state["exclude"] == state["held"]["held_out"]
    # The suites depend on the build and their own config only, never on the variants.
    other = config.model_copy(update={"ablate": config.ablate.model_copy(
        update={"variants": ["dedup_only"], "baseline": "dedup_only"})})
    again = ablate.fix_suites.fn(str(built["build"]), ablate.to_toml(other), str(tmp_path))
    assert {k: v["digest"] for k, v in again.items()} == {
        k: v["digest"] for k, v in state["suites"].items()}


def test_decontamination_removes_a_planted_overlap_from_every_variant(built, tmp_path):
    from webtext.dedup.decontam import doc_texts
    from webtext.tokenize.recipes import select
    from webtext.tokenize.stage import get_recipe

    layout = BuildLayout(built["build"])
    config = built["config"]
    variants = ["raw", "webtext"]
    chosen = [set(select(layout, get_recipe(config.recipes, v))) for v in variants]
    target = sorted(set.intersection(*chosen))[0]  # a document every variant trains on
    text = dict(doc_texts(layout, {target}))[target]
    planted = "An evaluation item that quotes the web: " + " ".join(text.split()[5:25]) + "."
    plant = tmp_path / "planted.jsonl"
    plant.write_text(json.dumps({"text": "Nothing in this line is on the web at all."}) + "\n"
                     + json.dumps({"text": planted}) + "\n")
    cfg = _config(built, ['ablate.suites=["planted"]', f"ablate.variants={json.dumps(variants)}"],
                  {"planted": {"kind": "text", "paths": [str(plant)]}})
    toml, build = ablate.to_toml(cfg), str(built["build"])
    fixed = ablate.fix_suites.fn(build, toml, str(tmp_path))
    held = ablate.decontaminate.fn(build, toml, str(tmp_path), fixed)
    assert held["overlapping_items"] == {"planted": ["planted.jsonl:2"]}
    assert target in held["overlapping_docs"] and target in held["held_out"]
    tokenizer = next(p for p in sorted((layout.root / "tokens").glob("webtext-*/tokenizer.model"))
                     if json.loads((p.parent / "manifest.json").read_text())
                     ["recipe"]["exclude"]["count"] == 0)
    for variant in variants:
        tdir = Path(ablate.tokenize_variant.fn(build, toml, variant, held["held_out"],
                                               str(tokenizer)))
        ids = {d for f in tdir.glob("*.parquet")
               for d in pq.read_table(f, columns=["doc_id"]).column("doc_id").to_pylist()}
        assert ids and target not in ids, variant


def test_config_errors_are_one_line(built):
    base = built["config"]
    with pytest.raises(UsageError, match="ablate.suites names nope, not defined"):
        ablate.check_config(_config(built, ['ablate.suites=["nope"]'],
                                    {"heldout": {"kind": "heldout"}}))
    with pytest.raises(UsageError, match="ablate.baseline 'raw' is not one of"):
        ablate.check_config(base.model_copy(update={"ablate": base.ablate.model_copy(
            update={"variants": ["webtext"]})}))
    for key in ("eval_docs=10", 'eval_recipe="webtext"'):
        with pytest.raises(ValueError, match="was removed: the ablation is scored on the suites"):
            WebtextConfig.model_validate({"ablate": dict([key.split("=")])})


# --- printing, from known numbers --------------------------------------------------------------


def _items(values: list[float]) -> dict:
    """Per-item scores of one run on a bpb suite: nats such that bpb_i = values[i]."""
    import math

    return {"item_id": [f"i{k}" for k in range(len(values))],
            "nats": [v * math.log(2) * 100 for v in values], "bytes": [100] * len(values),
            "tokens": [30] * len(values)}


def known_results() -> dict:
    """Two suites that disagree on `webtext`, and a budget where it repeats its data."""
    rng = random.Random(0)
    base = [2.0 + rng.random() for _ in range(30)]
    better = [v - 0.05 for v in base]
    worse = [v + 0.05 for v in base]
    suites = {}
    for name, variant in (("heldout", better), ("wiki", worse)):
        c = compare(name, "raw", "webtext", [_items(base)], [_items(variant)], "bpb", 200)
        suites[name] = {
            "kind": "heldout" if name == "heldout" else "text", "metric": "bpb",
            "higher_is_better": False, "n_items": 30,
            "variants": {"raw": {"bpb_mean": c.baseline_value, "bpb_sd": None},
                         "webtext": {"bpb_mean": c.variant_value, "bpb_sd": None}},
            "comparisons": [c.as_dict()], "sentences": []}
    results = {"name": "known", "baseline": "raw", "seeds": [0], "model": "tiny",
               "max_tokens": 1000,
               "variants": {"raw": {"docs": 10, "unique_tokens": 2000, "epochs": 0.5,
                                    "repeats_data": False},
                            "webtext": {"docs": 4, "unique_tokens": 400, "epochs": 2.5,
                                        "repeats_data": True}},
               "suites": suites,
               "held_out": {"total": 3, "heldout_docs": 2, "cluster_mates": 0,
                            "overlapping_docs": 1, "ngram": 13,
                            "overlapping_items": {"heldout": 0, "wiki": 1}},
               "registry": {"dir": "data/registry", "files": [],
                            "command": "webtext runs --data-root data --ablation known "
                                       "--compare"}}
    results["warnings"] = ablate.budget_warnings(results["variants"], 1000)
    from webtext.evals.stats import summary_sentences

    results["sentences"] = summary_sentences(ablate.all_comparisons(results))
    return results


def test_results_say_where_suites_disagree_and_warn_about_repetition():
    results = known_results()
    (warning,) = results["warnings"]
    assert warning.startswith("`webtext` repeats its data: 2.50 epochs over 400 unique")
    (sentence,) = results["sentences"]
    assert sentence.startswith("Suites disagree on webtext against raw: better on heldout; "
                               "worse on wiki")
    md = ablate.markdown_table(results)
    assert "| webtext | 4 | 400 | 2.50 ⚠ |" in md and "**Warning:** `webtext` repeats" in md
    assert "Suites disagree" in md and "webtext runs --data-root data" in md


def test_terminal_tables_fit_80_columns_without_wrapping():
    from rich.console import Console

    from webtext.flows.cli import print_ablation

    results = known_results()
    for block in results["suites"].values():  # four-digit values with a spread over seeds
        for row in block["variants"].values():
            row["bpb_sd"] = 0.0123
    results["suites"]["heldout"]["variants"]["quality_dedup"] = dict(
        results["suites"]["heldout"]["variants"]["webtext"])
    results["suites"]["heldout"]["comparisons"].append(
        {**results["suites"]["heldout"]["comparisons"][0], "variant": "quality_dedup",
         "verdict": "no detectable difference at this budget"})
    console = Console(width=80, record=True, color_system=None)
    print_ablation(console, results)
    lines = console.export_text().splitlines()
    assert max(map(len, lines)) <= 80
    rows = [ln for ln in lines if ln.strip().startswith(("raw", "webtext", "quality_dedup"))]
    # budgets (raw, webtext) + heldout (3 variants) + wiki (2): one line each, nothing cut
    assert len(rows) == 7
    assert "…" not in "".join(lines)  # no cell cut short
    assert any("quality_dedup" in r and r.rstrip().endswith("no diff") for r in rows)
    assert any("2.5630 ± 0.0123" in r and "[-0.050, -0.050]" in r for r in rows)
    assert any("webtext" in r and r.rstrip().endswith("better") for r in rows)
    assert any("webtext" in r and "2.50 repeats!" in r for r in rows)
    text = "\n".join(lines)
    assert "Suites disagree on webtext" in text and "warning:" in text


# --- a spam variant is worse on clean prose ----------------------------------------------------


def test_a_variant_with_planted_spam_is_worse_on_an_independent_reference_suite(tmp_path):
    """Two variants over one pool of clean documents; in one, half of them are replaced by
    keyword-stuffed spam pages. Same tokenizer, model, seed and budget; the reference suite is
    prose the pool never holds (world/evalsets.py). Checked for seeds 0-4 while developing:
    "worse" every time, the 95% interval well clear of 0."""
    from webtext.evals.config import EvalConfig, SuiteConfig
    from webtext.evals.evaluate import evaluate_run
    from webtext.train.config import TrainConfig
    from webtext.train.fixture import write_text_tokens
    from webtext.train.loop import train
    from webtext.train.tokenizer import train_tokenizer
    from webtext.world.evalsets import eval_paragraphs
    from webtext.world.text import prose_paragraphs, spam_paragraphs

    seed = 0
    paras = prose_paragraphs()
    clean = [" ".join(paras[i : i + 3]) for i in range(0, 240, 3)]  # 80 documents
    rng = random.Random(seed)
    spam = [" ".join(spam_paragraphs(rng, 3)) for _ in range(len(clean) // 2)]
    spammed = spam + clean[len(spam):]
    tokenizer = train_tokenizer(clean + spam, tmp_path / "tokenizer.model", 512)
    reference = tmp_path / "reference.jsonl"
    reference.write_text("".join(json.dumps({"text": p}) + "\n"
                                 for p in eval_paragraphs()[:40]))
    eval_cfg = EvalConfig(suites={"reference": SuiteConfig(kind="text",
                                                           paths=[str(reference)])},
                          bootstrap=500)
    cfg = TrainConfig(max_tokens=8192, batch_size=8, block_size=64, n_embd=32, eval_every=100,
                      eval_windows=4, warmup_steps=2, autocast="off", sample_every=0, seed=seed)
    runs = {}
    for name, texts in (("clean", clean), ("spam", spammed)):
        tokens = write_text_tokens(tmp_path / f"tokens-{name}", texts, tokenizer_model=tokenizer)
        run = tmp_path / f"run-{name}"
        train(tokens, run, cfg)
        evaluate_run(run, eval_cfg, ["reference"])
        runs[name] = {seed: run}
    block = ablate.suite_results("reference", "text", runs, "clean", n_boot=500)
    (c,) = block["comparisons"]
    assert c["variant"] == "spam" and c["verdict"] == "worse", c
    assert c["ci_low"] > 0  # bits per byte higher on every resample of the items
    assert block["sentences"] == ["spam against clean: worse on every suite (reference)."]
