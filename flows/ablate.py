"""The ablation flow: same model, same budget, same tokenizer, same evaluation — different data.

In:  a finished build (docs/, dedup.parquet) and the `[ablate]` config: variants (recipes),
     seeds, the baseline variant, the recipe evaluation documents are drawn from.
Out: `BUILD/ablations/<name>/`: `results.json`, `results.md` (mean ± standard deviation of the
     final validation loss in nats/token and bits per byte per variant, and the difference from
     the baseline), `loss_curves.png`, one training run per variant x seed, and Prefect
     artifacts (table and plot).

Order (docs/design.md, "Ablations"): (1) fix the evaluation documents, drawn from the documents
that pass the strictest recipe; (2) hold them out of every variant and decontaminate every
variant's training set against them (13-gram overlap, GPT-3's rule, plus every member of an
evaluation document's duplicate cluster); (3) train one shared tokenizer; (4) train each
variant x seed with the same model config and token budget; (5) evaluate all on the same
evaluation windows.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from prefect import flow, task

from webtext.config import WebtextConfig, config_from_toml, to_toml
from webtext.errors import UsageError
from webtext.io import write_bytes, write_json
from webtext.layout import BuildLayout
from webtext.records import TOKENS_MANIFEST_FILE, TokensManifest
from webtext.records import DocsColumn as D


def _rank(seed: int, doc_id: str) -> str:
    return hashlib.blake2b(f"{seed}:{doc_id}".encode(), digest_size=8).hexdigest()


def read_doc_ids(layout: BuildLayout) -> list[str]:
    """Every doc_id of the build, reading that column only."""
    return [d for f in layout.docs_shards()
            for d in pq.read_table(f, columns=[D.DOC_ID]).column(D.DOC_ID).to_pylist()]


@task(name="fix-evaluation-docs")
def fix_eval_docs(build_dir: str, config_toml: str) -> list[str]:
    """Draw the evaluation documents from those passing the strictest recipe (seeded)."""
    from webtext.tokenize.recipes import select
    from webtext.tokenize.stage import get_recipe

    config = config_from_toml(config_toml)
    a = config.ablate
    layout = BuildLayout(build_dir)
    passing = select(layout, get_recipe(config.recipes, a.eval_recipe))
    if len(passing) < a.eval_docs + 2:
        raise UsageError(f"recipe {a.eval_recipe!r} selects {len(passing)} documents; the "
                         f"ablation needs more than eval_docs = {a.eval_docs}")
    return sorted(sorted(passing, key=lambda d: _rank(a.seed, d))[: a.eval_docs])


@task(name="decontaminate")
def held_out_ids(build_dir: str, config_toml: str, eval_ids: list[str]) -> dict[str, Any]:
    """Every id to hold out of training: the evaluation documents, documents sharing a long
    n-gram with them, and the other members of their duplicate clusters."""
    from webtext.dedup.decontam import contaminated_ids, doc_texts

    config = config_from_toml(config_toml)
    layout = BuildLayout(build_dir)
    eval_set = set(eval_ids)
    found = dict(doc_texts(layout, eval_set))
    eval_texts = [found[d] for d in eval_ids]
    # the dedup stage's n-gram size (dedup.decontam_ngram): one rule for both
    contaminated = contaminated_ids(layout, eval_texts, config.dedup, exclude=eval_set)
    cluster_mates: set[str] = set()
    if layout.dedup.exists():
        dd = pq.read_table(layout.dedup, columns=["doc_id", "cluster_id"])
        ids = dd.column("doc_id").to_pylist()
        clusters = [str(c) for c in dd.column("cluster_id").to_pylist()]
        pairs = list(zip(ids, clusters, strict=True))
        eval_clusters = {c for d, c in pairs if d in eval_set}
        cluster_mates = {d for d, c in pairs if c in eval_clusters} - eval_set
    held = sorted(eval_set | contaminated | cluster_mates)
    return {"held_out": held, "contaminated": sorted(contaminated),
            "cluster_mates": sorted(cluster_mates)}


@task(name="tokenize-variant")
def tokenize_variant(build_dir: str, config_toml: str, recipe: str, exclude: list[str],
                     tokenizer: str | None) -> str:
    from webtext.tokenize import stage

    config = config_from_toml(config_toml)
    return stage.run(BuildLayout(build_dir), config.tokenize, recipe=recipe,
                     recipes=config.recipes, exclude_ids=exclude, tokenizer_path=tokenizer)["dir"]


@task(name="tokenize-evaluation")
def tokenize_eval(build_dir: str, config_toml: str, eval_ids: list[str], tokenizer: str) -> str:
    """The evaluation documents alone, all in the val split, with the shared tokenizer."""
    from webtext.tokenize import stage

    config = config_from_toml(config_toml)
    layout = BuildLayout(build_dir)
    others = sorted(set(read_doc_ids(layout)) - set(eval_ids))
    every_doc_in_val = config.tokenize.model_copy(update={"val_permille": 1000})
    return stage.run(layout, every_doc_in_val, recipe=config.ablate.eval_recipe,
                     recipes=config.recipes, exclude_ids=others, tokenizer_path=tokenizer)["dir"]


@task(name="train-variant")
def train_variant(tokens_dir: str, out_dir: str, config_toml: str, seed: int,
                  eval_tokens: str) -> dict[str, Any]:
    from webtext.train.loop import train

    config = config_from_toml(config_toml)
    cfg = config.train.model_copy(update={"seed": seed})
    return train(tokens_dir, out_dir, cfg, eval_tokens_dir=eval_tokens, resume=True)


def _mean_sd(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, sd


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


def summarize(config: WebtextConfig, runs: dict[str, dict[int, dict[str, Any]]],
              tokens: dict[str, dict[str, Any]], held: dict[str, Any]) -> dict[str, Any]:
    a = config.ablate
    rows = {}
    for variant, by_seed in runs.items():
        losses = [s["final_val_loss"] for s in by_seed.values()]
        bpbs = [s["final_val_bpb"] for s in by_seed.values()]
        lm, ls = _mean_sd(losses)
        bm, bs = _mean_sd(bpbs)
        rows[variant] = {"val_loss_mean": lm, "val_loss_sd": ls, "val_bpb_mean": bm,
                         "val_bpb_sd": bs, "seeds": sorted(by_seed), "losses": losses,
                         "bpbs": bpbs, **tokens.get(variant, {})}
    base = rows.get(a.baseline)
    for row in rows.values():
        row["d_loss_vs_baseline"] = row["val_loss_mean"] - base["val_loss_mean"] if base else None
        row["d_bpb_vs_baseline"] = row["val_bpb_mean"] - base["val_bpb_mean"] if base else None
    return {"baseline": a.baseline, "seeds": a.seeds, "variants": rows,
            "eval_docs": len(held["eval_ids"]), "held_out": len(held["held_out"]),
            "contaminated": len(held["contaminated"]),
            "cluster_mates": len(held["cluster_mates"]),
            "max_tokens": config.train.max_tokens, "model": config.train.model}


def verdict(results: dict[str, Any]) -> str:
    """One sentence, with the numbers: did the planted low-quality and duplicate pages hurt?"""
    rows = results["variants"]
    base = results["baseline"]
    if base not in rows or len(rows) < 2:
        return "Not enough variants to compare."
    best = min(rows, key=lambda v: rows[v]["val_loss_mean"])
    b = rows[base]
    best_row = rows[best]
    spread = max([r["val_loss_sd"] for r in rows.values()] + [0.0])
    diff = b["val_loss_mean"] - best_row["val_loss_mean"]
    if best == base:
        return (f"No: the unfiltered baseline `{base}` has the lowest validation loss "
                f"({b['val_loss_mean']:.4f} nats/token); filtering did not help at this scale.")
    noise = (f" (largest seed standard deviation {spread:.4f})" if len(results["seeds"]) > 1
             else " (one seed: no estimate of seed noise)")
    return (f"Yes: `{best}` reaches {best_row['val_loss_mean']:.4f} nats/token "
            f"({best_row['val_bpb_mean']:.4f} bits/byte) against {b['val_loss_mean']:.4f} "
            f"({b['val_bpb_mean']:.4f}) for the unfiltered `{base}`, {diff:.4f} nats/token "
            f"lower{noise}. " + per_variant(results))


def per_variant(results: dict[str, Any]) -> str:
    """Each variant against the baseline, judged against the seeds' spread (2 sd)."""
    rows, base = results["variants"], results["baseline"]
    b = rows[base]
    parts = []
    for name, r in rows.items():
        if name == base:
            continue
        d = r["val_loss_mean"] - b["val_loss_mean"]
        if len(results["seeds"]) < 2:
            judged = "one seed, no noise estimate"
        else:
            noise = max(r["val_loss_sd"], b["val_loss_sd"], 1e-12)
            judged = ("lower" if d < -2 * noise else "higher" if d > 2 * noise
                      else "within seed noise") + f", {abs(d) / noise:.1f} sd"
        parts.append(f"`{name}` {d:+.4f} ({judged})")
    return f"Against `{base}`: " + "; ".join(parts) + "."


def markdown_table(results: dict[str, Any]) -> str:
    lines = [
        f"Same model (`{results['model']}`), same budget ({results['max_tokens']:,} tokens), one "
        f"shared tokenizer, {results['eval_docs']} held-out evaluation documents "
        f"({results['held_out']} ids held out of training, {results['contaminated']} by 13-gram "
        f"overlap, {results['cluster_mates']} as duplicate-cluster mates).",
        "",
        "| variant | docs | train tokens | val loss (nats/token) | val bits/byte | "
        f"Δ loss vs {results['baseline']} | Δ bpb |",
        "|---|---:|---:|---|---|---:|---:|",
    ]
    for name, r in results["variants"].items():
        d_loss = r["d_loss_vs_baseline"]
        d_bpb = r["d_bpb_vs_baseline"]
        lines.append(
            f"| {name} | {r.get('docs', '')} | {r.get('train_tokens', '')} | "
            f"{r['val_loss_mean']:.4f} ± {r['val_loss_sd']:.4f} | "
            f"{r['val_bpb_mean']:.4f} ± {r['val_bpb_sd']:.4f} | "
            f"{'' if d_loss is None else f'{d_loss:+.4f}'} | "
            f"{'' if d_bpb is None else f'{d_bpb:+.4f}'} |"
        )
    lines += ["", verdict(results), ""]
    return "\n".join(lines)


def loss_plot(curves: dict[str, dict[int, list[tuple[int, float]]]]) -> bytes:
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
    ax.set_ylabel("validation loss (nats/token)")
    ax.set_title("same model, same budget, different data")
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


@task(name="publish-ablation")
def publish(table_md: str, png: bytes, key: str) -> None:
    import base64

    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(key=f"ablation-{key}", markdown=table_md,
                             description="webtext ablation results")
    create_markdown_artifact(
        key=f"ablation-{key}-curves",
        markdown=f"![loss curves](data:image/png;base64,{base64.b64encode(png).decode()})",
        description="validation loss curves")


def _manifest_counts(tokens_dir: str) -> dict[str, Any]:
    m = TokensManifest.model_validate_json((Path(tokens_dir) / TOKENS_MANIFEST_FILE).read_text())
    train_split = m.splits["train"]
    return {"docs": train_split.docs, "train_tokens": train_split.tokens}


@flow(name="webtext-ablate", log_prints=True)
def ablate_flow(build_dir: str, config_toml: str) -> dict[str, Any]:
    config = config_from_toml(config_toml)
    a = config.ablate
    layout = BuildLayout(build_dir)
    out = layout.ablation(a.name)
    out.mkdir(parents=True, exist_ok=True)
    eval_ids = fix_eval_docs(build_dir, config_toml)
    held = held_out_ids(build_dir, config_toml, eval_ids)
    held["eval_ids"] = eval_ids
    write_json(out / "held_out.json", held)
    exclude = held["held_out"]
    shared = tokenize_variant(build_dir, config_toml, a.tokenizer_recipe or a.eval_recipe,
                              exclude, None)
    tokenizer = str(Path(shared) / "tokenizer.model")
    eval_tokens = tokenize_eval(build_dir, config_toml, eval_ids, tokenizer)
    tokens = {}
    runs: dict[str, dict[int, dict[str, Any]]] = {}
    curves: dict[str, dict[int, list[tuple[int, float]]]] = {}
    for variant in a.variants:
        tdir = tokenize_variant(build_dir, config_toml, variant, exclude, tokenizer)
        tokens[variant] = _manifest_counts(tdir)
        for seed in a.seeds:
            run_dir = out / "runs" / f"{variant}-seed{seed}"
            summary = train_variant(tdir, str(run_dir), config_toml, seed, eval_tokens)
            runs.setdefault(variant, {})[seed] = summary
            curves.setdefault(variant, {})[seed] = eval_curve(run_dir)
            print(f"{variant} seed {seed}: val loss {summary['final_val_loss']:.4f} nats/token, "
                  f"{summary['final_val_bpb']:.4f} bits/byte")
    results = summarize(config, runs, tokens, held)
    results["verdict"] = verdict(results)
    results["curves"] = {v: {str(s): pts for s, pts in by.items()} for v, by in curves.items()}
    table = markdown_table(results)
    png = loss_plot(curves)
    write_json(out / "results.json", results)
    write_bytes(out / "results.md", table.encode())
    write_bytes(out / "loss_curves.png", png)
    publish(table, png, "".join(c if c.isalnum() else "-" for c in a.name.lower()))
    return {"dir": str(out), "table": table, "verdict": results["verdict"],
            "variants": {v: {k: r[k] for k in ("val_loss_mean", "val_bpb_mean")}
                         for v, r in results["variants"].items()}}


def run_ablation(config: WebtextConfig, build_dir: Path) -> dict[str, Any]:
    if not math.isfinite(config.train.max_tokens):
        raise UsageError("train.max_tokens must be finite for an ablation")
    return ablate_flow(str(build_dir), to_toml(config))

