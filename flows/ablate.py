"""The ablation flow: same model, same budget, same tokenizer, same evaluation suites; different
data.

In:  a finished build (docs/, dedup.parquet) and the config: `[ablate]` (variants = recipes,
     seeds, the baseline, `suites` = names of `[eval.suites.NAME]` tables), `[eval]`, `[train]`.
Out: `BUILD/ablations/<name>/`: `suites.json` (the suites as fixed before any variant was built:
     kind, digest, items, files) with `suites/<name>.jsonl` (their items), `held_out.json` (what
     decontamination removed from every variant), one run per variant x seed under `runs/`
     (each with its `eval.json` and `eval_items/`), `results.json`, `results.md`,
     `loss_curves.png`, Prefect artifacts; and one registry file per run under the data root
     (the build's parent folder): `registry/<run id>.parquet` (evals/registry.py).

Order (docs/design.md, "Ablations"):
1. Fix the suites, before any variant is built: `heldout` documents are drawn, seeded, from the
   build's deduplicated *unfiltered* pool (never from the strictest recipe, which would make
   filtered variants win by construction); reference corpora and zero-shot tasks are read from
   their files. Their digests go to suites.json, and every run's scores are checked against
   them.
2. Decontaminate: the build's documents are a superset of every variant's training set, so
   every document sharing a word n-gram (`dedup.decontam_ngram`, 13 as in GPT-3) with any suite
   item is held out of every variant, with the heldout documents themselves and the other
   members of their duplicate clusters.
3. Train one shared tokenizer (`ablate.tokenizer_recipe`, without the held-out documents).
4. Train each variant x seed with the same model config and token budget.
5. Score every run on every suite with `evals.evaluate.evaluate_run` (bits per byte and
   nats/token; accuracies for tasks) and append it to the registry.
6. Per suite: mean +- sd over seeds, and each variant against the baseline on the same items
   (`evals.stats.compare`: paired bootstrap 95% interval over items, verdict, smallest
   detectable effect); `summary_sentences` say so where suites disagree.

Budgets (issue 15, item 5): each variant's unique training tokens (its tokens manifest) and the
epochs it runs at the budget (train.max_tokens / unique tokens). A variant that repeats its
data is flagged: repetition changes loss by itself (Muennighoff et al. 2023, "Scaling
Data-Constrained Language Models").
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from prefect import flow, task

from webtext.config import WebtextConfig, config_from_toml, to_toml
from webtext.errors import UsageError
from webtext.io import read_json, write_bytes, write_json
from webtext.layout import BuildLayout
from webtext.records import TOKENS_MANIFEST_FILE, DedupColumn, TokensManifest

SUITES_JSON = "suites.json"
SUITES_DIR = "suites"
HELD_OUT_JSON = "held_out.json"
# The recipe that tokenizes the heldout documents for the training curves: every document
# with text (the exclusion list removes all but the heldout ones). Named apart from the
# config's recipes so that a user's `[recipes.raw]` cannot change it.
HELDOUT_RECIPE = "ablation-heldout"
# Metrics of eval.json averaged over seeds in results.json (those a suite kind reports).
METRICS = ("bpb", "nats_per_token", "acc", "acc_norm", "ppl")


# --- 1. suites ---------------------------------------------------------------------------------


def eval_config(config: WebtextConfig, build_dir: str) -> Any:
    """The `[eval]` config with every heldout suite without a `build` drawn from this build."""
    suites = {name: (cfg.model_copy(update={"build": str(build_dir)})
                     if cfg.kind == "heldout" and cfg.build is None else cfg)
              for name, cfg in config.eval.suites.items()}
    return config.eval.model_copy(update={"suites": suites})


def _suite_file(out: Path, name: str) -> Path:
    return out / SUITES_DIR / f"{name}.jsonl"


@task(name="fix-suites")
def fix_suites(build_dir: str, config_toml: str, out_dir: str) -> dict[str, Any]:
    """Read or draw every suite of `ablate.suites` and write them (items and digests) before
    any variant exists. Depends on the build and the suite configs only, never on the
    variants."""
    from webtext.evals.evaluate import load_suites

    config = config_from_toml(config_toml)
    out = Path(out_dir)
    suites = load_suites(config.ablate.suites, eval_config(config, build_dir))
    fixed = {}
    for s in suites:
        rows = "".join(json.dumps(asdict(it), ensure_ascii=False) + "\n" for it in s.items)
        write_bytes(_suite_file(out, s.name), rows.encode("utf-8"))
        fixed[s.name] = {"kind": s.kind, "digest": s.digest, "n_items": len(s.items),
                         "files": s.files, "items_file": f"{SUITES_DIR}/{s.name}.jsonl"}
    write_json(out / SUITES_JSON, fixed)
    return fixed


def read_fixed_suites(out_dir: Path, fixed: dict[str, Any]) -> list[Any]:
    """The suites as `fix_suites` wrote them."""
    from webtext.evals.suites import Item, Suite

    suites = []
    for name, meta in fixed.items():
        items = []
        for line in _suite_file(out_dir, name).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            row["choices"], row["norm_texts"] = tuple(row["choices"]), tuple(row["norm_texts"])
            items.append(Item(**row))
        suite = Suite(name, meta["kind"], items, meta["files"])
        if suite.digest != meta["digest"]:
            raise UsageError(f"{_suite_file(out_dir, name)} was changed after the suites were "
                             "fixed")
        suites.append(suite)
    return suites


# --- 2. decontamination ------------------------------------------------------------------------


@task(name="decontaminate")
def decontaminate(build_dir: str, config_toml: str, out_dir: str,
                  fixed: dict[str, Any]) -> dict[str, Any]:
    """Every doc id to hold out of every variant: the heldout suites' documents, the other
    members of their duplicate clusters, and every document sharing an n-gram with an item of
    any suite. Written to held_out.json."""
    from webtext.dedup.decontam import doc_texts
    from webtext.evals.decontam import find_overlap

    config = config_from_toml(config_toml)
    layout = BuildLayout(build_dir)
    suites = read_fixed_suites(Path(out_dir), fixed)
    heldout = {it.item_id for s in suites if s.kind == "heldout" for it in s.items}
    cluster_mates: set[str] = set()
    if heldout and layout.dedup.exists():
        dd = pq.read_table(layout.dedup, columns=[DedupColumn.DOC_ID, DedupColumn.CLUSTER_ID])
        pairs = list(zip(dd.column(DedupColumn.DOC_ID).to_pylist(),
                         map(str, dd.column(DedupColumn.CLUSTER_ID).to_pylist()), strict=True))
        clusters = {c for d, c in pairs if d in heldout}
        cluster_mates = {d for d, c in pairs if c in clusters} - heldout
    n = config.dedup.decontam_ngram  # one n-gram size for the dedup stage and the ablation
    training = ((d, t) for d, t in doc_texts(layout) if d not in heldout)
    overlap = find_overlap(suites, training, n)
    held = sorted(heldout | cluster_mates | overlap.docs)
    report = {
        "ngram": n, "held_out": held, "heldout_docs": sorted(heldout),
        "cluster_mates": sorted(cluster_mates), "overlapping_docs": sorted(overlap.docs),
        # items that shared an n-gram with some build document before those were removed
        "overlapping_items": overlap.items, "documents_checked": overlap.training_docs,
    }
    write_json(Path(out_dir) / HELD_OUT_JSON, report)
    return report


# --- 3-4. tokens and training ------------------------------------------------------------------


@task(name="tokenize-variant")
def tokenize_variant(build_dir: str, config_toml: str, recipe: str, exclude: list[str],
                     tokenizer: str | None) -> str:
    from webtext.tokenize import stage

    config = config_from_toml(config_toml)
    return stage.run(BuildLayout(build_dir), config.tokenize, recipe=recipe,
                     recipes=config.recipes, exclude_ids=exclude, tokenizer_path=tokenizer)["dir"]


@task(name="tokenize-heldout")
def tokenize_heldout(build_dir: str, config_toml: str, heldout_ids: list[str],
                     tokenizer: str) -> str:
    """The heldout documents alone, all in the val split, with the shared tokenizer: the
    validation set of every run's loss curve (the same for every variant)."""
    from webtext.dedup.decontam import doc_texts
    from webtext.tokenize import stage
    from webtext.tokenize.config import RecipeConfig

    config = config_from_toml(config_toml)
    layout = BuildLayout(build_dir)
    keep = set(heldout_ids)
    others = sorted({d for d, _ in doc_texts(layout)} - keep)
    every_doc_in_val = config.tokenize.model_copy(update={"val_permille": 1000})
    return stage.run(layout, every_doc_in_val, recipe=HELDOUT_RECIPE,
                     recipes={HELDOUT_RECIPE: RecipeConfig()}, exclude_ids=others,
                     tokenizer_path=tokenizer)["dir"]


@task(name="train-variant")
def train_variant(tokens_dir: str, out_dir: str, config_toml: str, seed: int,
                  eval_tokens: str | None) -> dict[str, Any]:
    from webtext.train.loop import train

    config = config_from_toml(config_toml)
    cfg = config.train.model_copy(update={"seed": seed})
    return train(tokens_dir, out_dir, cfg, eval_tokens_dir=eval_tokens, resume=True)


def budget(tokens_dir: str, max_tokens: int) -> dict[str, Any]:
    """A variant's unique training data and the epochs it runs at the budget."""
    m = TokensManifest.model_validate_json((Path(tokens_dir) / TOKENS_MANIFEST_FILE).read_text())
    train_split = m.splits["train"]
    unique = train_split.tokens
    epochs = max_tokens / unique if unique else math.inf
    return {"docs": train_split.docs, "unique_tokens": unique, "epochs": epochs,
            "repeats_data": epochs > 1.0, "tokens_dir": str(tokens_dir)}


# --- 5. evaluation and the registry ------------------------------------------------------------


def run_id(build_dir: str, ablation: str, variant: str, seed: int) -> str:
    return f"{Path(build_dir).name}-{ablation}-{variant}-seed{seed}"


def registry_root(build_dir: str) -> Path:
    """Where the ablation records its runs: the folder builds live in (build.data_root for a
    build at its default place, data_root/name)."""
    return Path(build_dir).resolve().parent


@task(name="evaluate-run")
def evaluate_variant(build_dir: str, config_toml: str, run_dir: str, variant: str, seed: int,
                     fixed: dict[str, Any]) -> dict[str, Any]:
    """Score one run on every suite (eval.json beside it) and record it in the registry."""
    from webtext.evals.evaluate import evaluate_run
    from webtext.evals.registry import config_digest, record_run

    config = config_from_toml(config_toml)
    a = config.ablate
    report = evaluate_run(Path(run_dir), eval_config(config, build_dir), a.suites,
                          ngram=config.dedup.decontam_ngram)
    for name, meta in fixed.items():
        got = report["suites"][name]["digest"]
        if got != meta["digest"]:
            raise UsageError(f"suite {name} changed during the ablation (digest {got[:12]}, "
                             f"fixed as {meta['digest'][:12]}): its files or the build moved")
    path = record_run(registry_root(build_dir), run_id(build_dir, a.name, variant, seed),
                      Path(run_dir), {"suites": {k: report["suites"][k] for k in a.suites}},
                      ablation=a.name, variant=variant, seed=seed,
                      digests={"config_digest": config_digest(config.model_dump(mode="json"))})
    return {"registry_file": str(path),
            "contaminated_items": {k: report["suites"][k]["contaminated_items"]
                                   for k in a.suites}}


# --- 6. statistics -----------------------------------------------------------------------------


def _mean_sd(values: list[float]) -> tuple[float | None, float | None]:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return None, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def suite_results(name: str, kind: str, runs: dict[str, dict[int, Path]], baseline: str,
                  n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
    """One suite's block of results.json from the runs' eval.json and per-item tables:
    per variant the mean and sd over seeds of every metric, and each variant against the
    baseline on the same items."""
    from webtext.evals.evaluate import read_items
    from webtext.evals.stats import HIGHER_IS_BETTER, PRIMARY_METRIC, compare, summary_sentences

    metric = PRIMARY_METRIC[kind]
    variants: dict[str, Any] = {}
    n_items = 0
    for variant, by_seed in runs.items():
        reports = {s: read_json(Path(d) / "eval.json")["suites"][name]
                   for s, d in sorted(by_seed.items())}
        n_items = max([n_items] + [r["n_items"] for r in reports.values()])
        row: dict[str, Any] = {"seeds": sorted(reports)}
        for m in METRICS:
            values = [r[m] for r in reports.values() if r.get(m) is not None]
            if values:
                row[f"{m}_mean"], row[f"{m}_sd"] = _mean_sd(values)
                row[f"{m}_seeds"] = values
        row["mean"], row["sd"] = row.get(f"{metric}_mean"), row.get(f"{metric}_sd")
        row["contaminated_items"] = max(r.get("contaminated_items", 0) for r in reports.values())
        variants[variant] = row
    comparisons = []
    if baseline in runs:
        base_items = [read_items(d, name) for _, d in sorted(runs[baseline].items())]
        for variant, by_seed in runs.items():
            if variant == baseline:
                continue
            items = [read_items(d, name) for _, d in sorted(by_seed.items())]
            comparisons.append(compare(name, baseline, variant, base_items, items, metric,
                                       n_boot, seed))
    return {"kind": kind, "metric": metric, "higher_is_better": HIGHER_IS_BETTER[metric],
            "n_items": n_items, "variants": variants,
            "comparisons": [c.as_dict() for c in comparisons],
            "sentences": summary_sentences(comparisons)}


def all_comparisons(results: dict[str, Any]) -> list[Any]:
    from webtext.evals.stats import Comparison

    return [Comparison(**c) for s in results["suites"].values() for c in s["comparisons"]]


def budget_warnings(budgets: dict[str, dict[str, Any]], max_tokens: int) -> list[str]:
    out = []
    for name, b in budgets.items():
        if b["repeats_data"]:
            out.append(f"`{name}` repeats its data: {b['epochs']:.2f} epochs over "
                       f"{b['unique_tokens']:,} unique training tokens at the budget of "
                       f"{max_tokens:,} tokens. Repetition changes loss by itself (Muennighoff "
                       "et al. 2023), so its scores mix data quality with repetition.")
    return out


def summarize(config: WebtextConfig, build_dir: str, fixed: dict[str, Any],
              held: dict[str, Any], budgets: dict[str, dict[str, Any]],
              runs: dict[str, dict[int, Path]], registry_files: list[str]) -> dict[str, Any]:
    """results.json: self-describing, suite by suite (see the module docstring)."""
    from webtext.evals.stats import summary_sentences

    a = config.ablate
    suites = {}
    for name, meta in fixed.items():
        block = suite_results(name, meta["kind"], runs, a.baseline, config.eval.bootstrap,
                              config.eval.seed)
        block.update(digest=meta["digest"], files=meta["files"],
                     overlapping_items=len(held["overlapping_items"].get(name, [])))
        for variant, row in block["variants"].items():
            row.update({k: budgets[variant][k] for k in ("unique_tokens", "epochs", "docs")})
        suites[name] = block
    results: dict[str, Any] = {
        "name": a.name, "baseline": a.baseline, "seeds": a.seeds, "model": config.train.model,
        # results.json is written with sorted keys: these keep the config's order for display
        "variant_order": list(a.variants), "suite_order": list(a.suites),
        "max_tokens": config.train.max_tokens,
        "variants": {v: {**b, "seeds": a.seeds} for v, b in budgets.items()},
        "suites": suites,
        "held_out": {"total": len(held["held_out"]), "heldout_docs": len(held["heldout_docs"]),
                     "cluster_mates": len(held["cluster_mates"]),
                     "overlapping_docs": len(held["overlapping_docs"]), "ngram": held["ngram"],
                     "overlapping_items": {k: len(v)
                                           for k, v in held["overlapping_items"].items()}},
        "warnings": budget_warnings(budgets, config.train.max_tokens),
        "registry": {"dir": str(registry_root(build_dir) / "registry"),
                     "files": registry_files,
                     "command": (f"webtext runs --data-root {registry_root(build_dir)} "
                                 f"--ablation {a.name} --compare")},
    }
    results["sentences"] = summary_sentences(all_comparisons(results))
    results["verdict"] = " ".join(results["sentences"]) or "Not enough variants to compare."
    return results


# --- output ------------------------------------------------------------------------------------

VERDICT_SHORT = {"better": "better", "worse": "worse",
                 "no detectable difference at this budget": "no diff"}
TABLE_LEGEND = ("no diff: no detectable difference at this budget; mde: smallest detectable "
                "effect")


def fmt(value: float | None, digits: int = 4, signed: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return ""
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def mean_sd(row: dict[str, Any], metric: str) -> str:
    mean, sd = row.get(f"{metric}_mean"), row.get(f"{metric}_sd")
    return fmt(mean) + ("" if sd is None else f" ± {fmt(sd)}")


def ordered(mapping: dict[str, Any], order: list[str] | None) -> list[tuple[str, Any]]:
    """The items of `mapping` in `order` (the config's), any others after them."""
    names = [k for k in order or [] if k in mapping]
    return [(k, mapping[k]) for k in names + [k for k in mapping if k not in names]]


def suite_rows(block: dict[str, Any], baseline: str, order: list[str] | None = None
               ) -> list[dict[str, str]]:
    """One row per variant of a suite: value, difference, interval, mde, verdict."""
    comps = {c["variant"]: c for c in block["comparisons"]}
    rows = []
    for variant, row in ordered(block["variants"], order):
        c = comps.get(variant)
        rows.append({
            "variant": variant + (" (baseline)" if variant == baseline else ""),
            "value": mean_sd(row, block["metric"]),
            "diff": fmt(c["diff"], signed=True) if c else "",
            "ci": f"[{fmt(c['ci_low'], 3, True)}, {fmt(c['ci_high'], 3, True)}]" if c else "",
            "mde": fmt(c["mde"], 3) if c else "",
            "verdict": c["verdict"] if c else "",
        })
    return rows


def markdown_table(results: dict[str, Any]) -> str:
    base = results["baseline"]
    h = results["held_out"]
    lines = [
        f"# Ablation `{results['name']}`", "",
        f"Same model (`{results['model']}`), same budget ({results['max_tokens']:,} tokens seen "
        f"per run), one shared tokenizer, seeds {', '.join(map(str, results['seeds']))}. Every "
        "run is scored on the same suites, fixed before any variant was built; the `heldout` "
        "suite is drawn from the deduplicated *unfiltered* pool, not from any recipe.", "",
        "## Budgets", "",
        "| variant | documents | unique train tokens | epochs at the budget |",
        "|---|---:|---:|---:|",
    ]
    vorder = results.get("variant_order")
    for name, b in ordered(results["variants"], vorder):
        flag = " ⚠" if b["repeats_data"] else ""
        lines.append(f"| {name} | {b['docs']:,} | {b['unique_tokens']:,} | "
                     f"{b['epochs']:.2f}{flag} |")
    lines.append("")
    lines += [f"**Warning:** {w}" for w in results["warnings"]] or [
        "No variant repeats its data (every one runs at most one epoch)."]
    lines += ["", "## Verdicts", ""] + [f"- {s}" for s in results["sentences"]]
    for name, block in ordered(results["suites"], results.get("suite_order")):
        direction = "higher" if block["higher_is_better"] else "lower"
        lines += [
            "", f"## Suite `{name}` ({block['kind']}, {block['n_items']} items, "
            f"{block['metric']}, {direction} is better)", "",
            f"| variant | {block['metric']} (mean ± sd over seeds) | Δ vs {base} | "
            "95% CI over items | smallest detectable | verdict |",
            "|---|---|---:|---|---:|---|",
        ]
        for r in suite_rows(block, base, vorder):
            lines.append(f"| {r['variant']} | {r['value']} | {r['diff']} | {r['ci']} | "
                         f"{r['mde']} | {r['verdict']} |")
        if block["kind"] in ("heldout", "text"):
            lines += ["", "nats/token: " + "; ".join(
                f"{v} {mean_sd(row, 'nats_per_token')}"
                for v, row in ordered(block["variants"], vorder))]
    lines += [
        "", "## Decontamination", "",
        f"{h['total']} documents held out of every variant: {h['heldout_docs']} heldout "
        f"documents, {h['cluster_mates']} of their duplicate-cluster mates, "
        f"{h['overlapping_docs']} sharing a word {h['ngram']}-gram with a suite item (items "
        "that overlapped: " + ", ".join(f"{k} {v}" for k, v in h["overlapping_items"].items())
        + "). Ids in `held_out.json`.",
        "", "## Registry", "",
        f"Every run is recorded in `{results['registry']['dir']}` (one Parquet file per run, "
        "read as one table). List and compare: `" + results["registry"]["command"] + "`.", "",
    ]
    return "\n".join(lines)


def terminal_tables(results: dict[str, Any]) -> list[Any]:
    """Rich tables for a terminal of 80 columns: the budgets, then one verdict table per suite
    (short verdict words, explained by TABLE_LEGEND)."""
    from rich import box
    from rich.table import Table

    base = results["baseline"]

    def new(title: str) -> Table:
        return Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False,
                     show_edge=False, title_justify="left")

    budgets = new(f"budgets: {results['max_tokens']:,} tokens seen per run")
    for header in ("variant", "documents", "unique tokens", "epochs"):
        budgets.add_column(header, justify="left" if header == "variant" else "right",
                           no_wrap=True)
    vorder = results.get("variant_order")
    for name, b in ordered(results["variants"], vorder):
        epochs = f"{b['epochs']:.2f}" + (" repeats!" if b["repeats_data"] else "")
        budgets.add_row(name, f"{b['docs']:,}", f"{b['unique_tokens']:,}", epochs)
    tables = [budgets]
    for name, block in ordered(results["suites"], results.get("suite_order")):
        direction = "higher" if block["higher_is_better"] else "lower"
        t = new(f"{name} ({block['kind']}, {block['n_items']} items; {block['metric']}, "
                f"{direction} is better)")
        for header, justify in (("variant", "left"), (f"{block['metric']} ± sd", "left"),
                                (f"Δ vs {base}", "right"), ("95% CI", "left"),
                                ("mde", "right"), ("verdict", "left")):
            t.add_column(header, justify=justify, no_wrap=True)
        for r in suite_rows(block, base, vorder):
            t.add_row(r["variant"].replace(" (baseline)", ""), r["value"], r["diff"], r["ci"],
                      r["mde"], VERDICT_SHORT.get(r["verdict"], r["verdict"]))
        tables.append(t)
    return tables


def loss_plot(curves: dict[str, dict[int, list[tuple[int, float]]]], ylabel: str) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (variant, by_seed) in enumerate(curves.items()):
        for j, (_, pts) in enumerate(sorted(by_seed.items())):
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax.plot(xs, ys, color=f"C{i}", alpha=0.9 if j == 0 else 0.5,
                        label=variant if j == 0 else None)
    ax.set_xlabel("tokens seen")
    ax.set_ylabel(ylabel)
    ax.set_title("same model, same budget, different data")
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def eval_curve(run_dir: Path) -> list[tuple[int, float]]:
    """(tokens seen, validation loss) at every evaluation of a run, from metrics.jsonl."""
    points = []
    path = run_dir / "metrics.jsonl"
    if path.exists():
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            if "val_loss" in rec:
                points.append((int(rec.get("tokens_seen", 0)), float(rec["val_loss"])))
    return points


@task(name="publish-ablation")
def publish(table_md: str, png: bytes, key: str) -> None:
    import base64

    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(key=f"ablation-{key}", markdown=table_md,
                             description="webtext ablation results")
    create_markdown_artifact(
        key=f"ablation-{key}-curves",
        markdown=f"![loss curves](data:image/png;base64,{base64.b64encode(png).decode()})",
        description="loss curves")


# --- the flow ----------------------------------------------------------------------------------


@flow(name="webtext-ablate", log_prints=True)
def ablate_flow(build_dir: str, config_toml: str) -> dict[str, Any]:
    config = config_from_toml(config_toml)
    a = config.ablate
    out = BuildLayout(build_dir).ablation(a.name)
    out.mkdir(parents=True, exist_ok=True)
    fixed = fix_suites(build_dir, config_toml, str(out))  # before any variant exists
    print("suites fixed: " + ", ".join(f"{k} ({v['kind']}, {v['n_items']} items)"
                                       for k, v in fixed.items()))
    held = decontaminate(build_dir, config_toml, str(out), fixed)
    print(f"held out of every variant: {len(held['held_out'])} documents "
          f"({len(held['heldout_docs'])} heldout, {len(held['cluster_mates'])} cluster mates, "
          f"{len(held['overlapping_docs'])} sharing a {held['ngram']}-gram with a suite item)")
    exclude = held["held_out"]
    shared = tokenize_variant(build_dir, config_toml, a.tokenizer_recipe, exclude, None)
    tokenizer = str(Path(shared) / "tokenizer.model")
    curve_tokens = (tokenize_heldout(build_dir, config_toml, held["heldout_docs"], tokenizer)
                    if held["heldout_docs"] else None)
    budgets: dict[str, dict[str, Any]] = {}
    runs: dict[str, dict[int, Path]] = {}
    curves: dict[str, dict[int, list[tuple[int, float]]]] = {}
    registry_files = []
    for variant in a.variants:
        tdir = tokenize_variant(build_dir, config_toml, variant, exclude, tokenizer)
        budgets[variant] = budget(tdir, config.train.max_tokens)
        for seed in a.seeds:
            run_dir = out / "runs" / f"{variant}-seed{seed}"
            train_variant(tdir, str(run_dir), config_toml, seed, curve_tokens)
            scored = evaluate_variant(build_dir, config_toml, str(run_dir), variant, seed, fixed)
            registry_files.append(scored["registry_file"])
            runs.setdefault(variant, {})[seed] = run_dir
            curves.setdefault(variant, {})[seed] = eval_curve(run_dir)
            scores = read_json(run_dir / "eval.json")["suites"]
            print(f"{variant} seed {seed}: " + ", ".join(
                f"{k} {scores[k]['bpb']:.4f} bpb" for k in a.suites
                if scores[k].get("bpb") is not None))
    results = summarize(config, build_dir, fixed, held, budgets, runs, registry_files)
    results["curves"] = {v: {str(s): pts for s, pts in by.items()} for v, by in curves.items()}
    results["curves_label"] = ("validation loss on the heldout suite's documents (nats/token)"
                               if curve_tokens else
                               "validation loss on each variant's own val split (nats/token)")
    table = markdown_table(results)
    png = loss_plot(curves, results["curves_label"])
    write_json(out / "results.json", results)
    write_bytes(out / "results.md", table.encode())
    write_bytes(out / "loss_curves.png", png)
    publish(table, png, "".join(c if c.isalnum() else "-" for c in a.name.lower()))
    return {"dir": str(out), "table": table, "verdict": results["verdict"],
            "results": {k: v for k, v in results.items() if k != "curves"}}


def check_config(config: WebtextConfig) -> None:
    """Clear one-line errors before anything is built."""
    a = config.ablate
    if not math.isfinite(config.train.max_tokens):
        raise UsageError("train.max_tokens must be finite for an ablation")
    if a.baseline not in a.variants:
        raise UsageError(f"ablate.baseline {a.baseline!r} is not one of ablate.variants "
                         f"({', '.join(a.variants)})")
    unknown = [s for s in a.suites if s not in config.eval.suites]
    if unknown:
        raise UsageError(f"ablate.suites names {', '.join(unknown)}, not defined in "
                         f"[eval.suites] (defined: {', '.join(sorted(config.eval.suites))})")


def run_ablation(config: WebtextConfig, build_dir: Path) -> dict[str, Any]:
    check_config(config)
    return ablate_flow(str(build_dir), to_toml(config))
