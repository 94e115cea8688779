"""Paired statistics of an ablation: is a variant better than the baseline on a suite, and
how small an effect could this setup have seen?

In:  per-item scores of the baseline's and a variant's runs on one suite (the tables
     `webtext eval` writes beside each run: item_id, nats, tokens, bytes, correct,
     correct_norm), one table per seed.
Out: a `Comparison` per (suite, variant): the pooled metric of both, their difference on the
     same items with a paired bootstrap 95% interval over items (seeded, numpy), the spread over
     seeds (mean ± sd of per-seed suite values), a verdict in words and the smallest effect the
     setup could have detected; `summary_sentences` says in words where suites disagree.

Definitions (written here once):
- metric `bpb`: total nats / ln 2 / total UTF-8 bytes over the items (lower is better). Per
  item it is nats_i / ln 2 / bytes_i with weight bytes_i, so the pooled value and every
  bootstrap replicate are ratios of sums, not means of per-item ratios.
- metrics `acc`, `acc_norm`: the share of items answered right (higher is better).
- Paired differences: per item, the variant's value averaged over its seeds minus the
  baseline's averaged over its seeds; the interval resamples items (Efron & Tibshirani 1993,
  percentile method), which is what varies when the suite is a sample of the text it stands
  for. Seed-to-seed variation is reported beside it, not folded in.
- Verdict: "better" or "worse" when the 95% interval excludes 0 and, with 2 or more seeds, the
  difference has the same sign at every seed; otherwise "no detectable difference at this
  budget".
- Smallest detectable effect (`mde`): 2.8 x the bootstrap standard error, the difference a
  two-sided 5% test detects with 80% power (z = 1.96 + 0.84); the interval's half-width
  (1.96 x SE) is reported too.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

BETTER, WORSE, NO_DIFFERENCE = "better", "worse", "no detectable difference at this budget"
HIGHER_IS_BETTER = {"bpb": False, "acc": True, "acc_norm": True}
# The metric a suite kind is judged on unless the caller asks for another.
PRIMARY_METRIC = {"heldout": "bpb", "text": "bpb", "lambada": "acc", "cloze": "acc",
                  "hellaswag": "acc_norm"}
MDE_Z = 2.8  # 1.96 (two-sided 5%) + 0.84 (80% power)

Items = Mapping[str, Sequence[Any]]  # column name -> values, e.g. a pyarrow table's to_pydict()


@dataclass(frozen=True)
class Bootstrap:
    estimate: float
    low: float
    high: float
    se: float


def item_values(items: Items, metric: str) -> tuple[dict[str, float], dict[str, float]]:
    """(value, weight) per item id for `metric` (see the module docstring)."""
    ids = list(items["item_id"])
    if metric == "bpb":
        nats, nbytes = items["nats"], items["bytes"]
        values = {i: n / math.log(2) / b for i, n, b in zip(ids, nats, nbytes, strict=True)}
        weights = {i: float(b) for i, b in zip(ids, nbytes, strict=True)}
    elif metric in ("acc", "acc_norm"):
        column = items["correct" if metric == "acc" else "correct_norm"]
        if any(c is None for c in column):
            raise ValueError(f"metric {metric} needs a multiple-choice or LAMBADA suite")
        values = {i: float(c) for i, c in zip(ids, column, strict=True)}
        weights = dict.fromkeys(ids, 1.0)
    else:
        raise ValueError(f"unknown metric {metric!r} (one of {', '.join(HIGHER_IS_BETTER)})")
    return values, weights


def pooled(items: Items, metric: str) -> float:
    """The suite's value of one run: the weighted mean of its items' values."""
    values, weights = item_values(items, metric)
    total = sum(weights.values())
    return sum(values[i] * weights[i] for i in values) / total if total else float("nan")


def paired_bootstrap(
    diffs: Sequence[float], weights: Sequence[float] | None = None, n_boot: int = 2000,
    seed: int = 0, level: float = 0.95,
) -> Bootstrap:
    """The weighted mean of per-item differences and its percentile bootstrap interval.

    Each replicate draws len(diffs) items with replacement (numpy's default_rng(seed)) and
    computes sum(w * d) / sum(w) over the draw.
    """
    d = np.asarray(diffs, dtype=np.float64)
    w = np.ones_like(d) if weights is None else np.asarray(weights, dtype=np.float64)
    n = len(d)
    if n == 0:
        raise ValueError("no items to compare")
    estimate = float((w * d).sum() / w.sum())
    rng = np.random.default_rng(seed)
    reps = np.empty(n_boot)
    chunk = max(1, (1 << 22) // n)  # bounded memory: at most ~4M indices at a time
    for start in range(0, n_boot, chunk):
        k = min(chunk, n_boot - start)
        idx = rng.integers(0, n, size=(k, n))
        reps[start : start + k] = (w[idx] * d[idx]).sum(axis=1) / w[idx].sum(axis=1)
    alpha = (1 - level) / 2
    low, high = np.quantile(reps, [alpha, 1 - alpha])
    return Bootstrap(estimate, float(low), float(high), float(reps.std(ddof=1)))


def _mean_sd(values: Sequence[float]) -> tuple[float, float | None]:
    return (statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None)


@dataclass(frozen=True)
class Comparison:
    """A variant against the baseline on one suite (see the module docstring)."""

    suite: str
    metric: str
    higher_is_better: bool
    baseline: str
    variant: str
    n_items: int
    baseline_value: float  # pooled over items, averaged over seeds
    variant_value: float
    diff: float  # variant - baseline
    ci_low: float
    ci_high: float
    se: float
    mde: float  # 2.8 x se: detectable with 80% power at two-sided 5%
    ci_half_width: float
    baseline_seeds: list[float]  # per-seed suite values
    variant_seeds: list[float]
    baseline_sd: float | None  # sd over seeds (None with one seed)
    variant_sd: float | None
    seed_diffs: list[float]  # per-seed difference (paired by position when seeds match)
    verdict: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide(diff: float, low: float, high: float, seed_diffs: Sequence[float],
           higher_is_better: bool) -> tuple[str, str]:
    """(verdict, why) from the interval over items and the per-seed differences."""
    if low <= 0.0 <= high:
        return NO_DIFFERENCE, "the 95% interval over items includes 0"
    if len(seed_diffs) >= 2 and not all((x > 0) == (diff > 0) and x != 0 for x in seed_diffs):
        return NO_DIFFERENCE, "the difference changes sign across seeds"
    improved = (diff > 0) == higher_is_better
    return (BETTER if improved else WORSE), "the 95% interval over items excludes 0"


def compare(
    suite: str, baseline: str, variant: str, baseline_runs: Sequence[Items],
    variant_runs: Sequence[Items], metric: str, n_boot: int = 2000, seed: int = 0,
) -> Comparison:
    """Compare a variant's runs (one per seed) with the baseline's on the same items."""
    if not baseline_runs or not variant_runs:
        raise ValueError(f"suite {suite}: no runs to compare")
    runs = [item_values(r, metric) for r in [*baseline_runs, *variant_runs]]
    ids = sorted(runs[0][0])
    for values, _ in runs:
        if sorted(values) != ids:
            raise ValueError(f"suite {suite}: runs were not scored on the same items "
                             f"({len(values)} vs {len(ids)}); compare runs of one suite digest")
    weights = np.array([runs[0][1][i] for i in ids])
    matrix = np.array([[values[i] for i in ids] for values, _ in runs])  # (runs, items)
    nb = len(baseline_runs)
    base_items, var_items = matrix[:nb].mean(axis=0), matrix[nb:].mean(axis=0)
    boot = paired_bootstrap(var_items - base_items, weights, n_boot, seed)
    per_run = (matrix * weights).sum(axis=1) / weights.sum()  # each run's pooled value
    base_seeds, var_seeds = per_run[:nb].tolist(), per_run[nb:].tolist()
    if len(base_seeds) == len(var_seeds):
        seed_diffs = [v - b for v, b in zip(var_seeds, base_seeds, strict=True)]
    else:
        seed_diffs = [v - statistics.fmean(base_seeds) for v in var_seeds]
    higher = HIGHER_IS_BETTER[metric]
    verdict, reason = decide(boot.estimate, boot.low, boot.high, seed_diffs, higher)
    b_mean, b_sd = _mean_sd(base_seeds)
    v_mean, v_sd = _mean_sd(var_seeds)
    return Comparison(
        suite=suite, metric=metric, higher_is_better=higher, baseline=baseline,
        variant=variant, n_items=len(ids), baseline_value=b_mean, variant_value=v_mean,
        diff=boot.estimate, ci_low=boot.low, ci_high=boot.high, se=boot.se,
        mde=MDE_Z * boot.se, ci_half_width=(boot.high - boot.low) / 2,
        baseline_seeds=base_seeds, variant_seeds=var_seeds, baseline_sd=b_sd, variant_sd=v_sd,
        seed_diffs=seed_diffs, verdict=verdict, reason=reason,
    )


def summary_sentences(comparisons: Sequence[Comparison]) -> list[str]:
    """One sentence per variant: its verdicts over the suites, saying so when they disagree."""
    by_variant: dict[str, list[Comparison]] = {}
    for c in comparisons:
        by_variant.setdefault(c.variant, []).append(c)
    out = []
    for variant, cs in by_variant.items():
        groups = {v: [c.suite for c in cs if c.verdict == v]
                  for v in (BETTER, WORSE, NO_DIFFERENCE)}
        base = cs[0].baseline
        parts = [f"{v} on {', '.join(s)}" for v, s in groups.items() if s]
        if groups[BETTER] and groups[WORSE]:
            out.append(f"Suites disagree on {variant} against {base}: " + "; ".join(parts)
                       + ". No single verdict: report each suite.")
        elif len([g for g in groups.values() if g]) == 1:
            verdict = next(v for v, s in groups.items() if s)
            out.append(f"{variant} against {base}: {verdict} on every suite "
                       f"({', '.join(s.suite for s in cs)}).")
        else:
            out.append(f"{variant} against {base}: " + "; ".join(parts) + ".")
    return out
