"""Paired statistics: the bootstrap against hand-computed cases, verdicts, disagreement."""

from __future__ import annotations

import math

import numpy as np
import pytest

from webtext.evals.stats import (
    BETTER,
    NO_DIFFERENCE,
    WORSE,
    compare,
    decide,
    paired_bootstrap,
    pooled,
    summary_sentences,
)


def test_paired_bootstrap_hand_case():
    # Items with differences (0, 0, 1): a resample's mean is k/3 with k ~ Binomial(3, 1/3),
    # so P(0) = 8/27, P(1/3) = 12/27, P(2/3) = 6/27, P(1) = 1/27. The 2.5% quantile is 0;
    # P(mean <= 2/3) = 26/27 = 0.963 < 0.975, so the 97.5% quantile is 1. The standard
    # error is the population sd over sqrt(n): sqrt((2/9) / 3) = sqrt(2/27) = 0.2722.
    b = paired_bootstrap([0.0, 0.0, 1.0], n_boot=20000, seed=3)
    assert b.estimate == pytest.approx(1 / 3)
    assert (b.low, b.high) == (0.0, 1.0)
    assert b.se == pytest.approx(math.sqrt(2 / 27), rel=0.03)
    assert paired_bootstrap([0.0, 0.0, 1.0], n_boot=500, seed=3) == paired_bootstrap(
        [0.0, 0.0, 1.0], n_boot=500, seed=3)  # seeded


def test_weighted_bootstrap_hand_case():
    # Two items, d = (1, 4), weights (3, 1): pooled 7/4. A resample is (1,1), (4,4) or a mix
    # with probabilities 1/4, 1/4, 1/2, giving 1, 4 and 7/4: 2.5% quantile 1, 97.5% 4.
    b = paired_bootstrap([1.0, 4.0], [3.0, 1.0], n_boot=8000, seed=0)
    assert b.estimate == pytest.approx(7 / 4)
    assert (b.low, b.high) == (1.0, 4.0)
    # sd of {1: 1/4, 7/4: 1/2, 4: 1/4}: mean 17/8, E[x^2] = (1 + 49/8 + 16) / 4
    mean = 17 / 8
    sd = math.sqrt((1 + 49 / 8 + 16) / 4 - mean ** 2)
    assert b.se == pytest.approx(sd, rel=0.03)
    assert paired_bootstrap([2.0] * 5, n_boot=300).se == 0.0  # no spread, no interval
    assert paired_bootstrap([2.0] * 5, n_boot=300).low == 2.0


def items(nats, nbytes, correct=None):
    n = len(nats)
    return {"item_id": [f"i{k}" for k in range(n)], "nats": list(nats), "bytes": list(nbytes),
            "tokens": [1] * n, "correct": correct or [None] * n, "correct_norm": [None] * n}


def test_pooled_bpb_is_a_ratio_of_sums():
    t = items([math.log(2) * 10, math.log(2) * 30], [10, 5])
    assert pooled(t, "bpb") == pytest.approx(40 / 15)


def test_compare_finds_a_planted_difference_and_its_direction():
    rng = np.random.default_rng(0)
    nbytes = rng.integers(50, 500, size=200)
    base = nbytes * math.log(2) * rng.uniform(1.0, 1.4, size=200)  # about 1.2 bpb
    better = [items(base * 0.9 + rng.normal(0, 1, 200), nbytes) for _ in range(2)]
    baseline = [items(base + rng.normal(0, 1, 200), nbytes) for _ in range(2)]
    # per-item differences of +-5 nats that cancel exactly: nothing to detect
    jitter = np.where(np.arange(200) % 2 == 0, 5.0, -5.0)
    same = [items(np.array(b["nats"]) + jitter, nbytes) for b in baseline]
    c = compare("ref", "raw", "clean", baseline, better, "bpb", n_boot=500)
    assert c.verdict == BETTER and c.diff < 0 and c.ci_high < 0
    assert c.mde == pytest.approx(2.8 * c.se) and c.n_items == 200
    assert len(c.variant_seeds) == 2 and c.variant_sd is not None
    assert compare("ref", "raw", "noisy", baseline, same, "bpb", n_boot=500).verdict == (
        NO_DIFFERENCE)
    assert compare("ref", "clean", "raw", better, baseline, "bpb", n_boot=500).verdict == WORSE
    acc_base = [items([1] * 4, [1] * 4, [False, False, True, False])]
    acc_var = [items([1] * 4, [1] * 4, [True, True, True, True])]
    c = compare("cbt", "raw", "x", acc_base, acc_var, "acc", n_boot=500)
    assert c.diff == pytest.approx(0.75) and c.higher_is_better
    with pytest.raises(ValueError, match="same items"):
        compare("ref", "raw", "x", baseline, [items([1.0], [1])], "bpb")


def test_verdict_needs_the_seeds_to_agree():
    assert decide(-0.1, -0.2, -0.05, [-0.1, -0.1], False)[0] == BETTER
    assert decide(-0.1, -0.2, -0.05, [-0.2, 0.01], False) == (
        NO_DIFFERENCE, "the difference changes sign across seeds")
    assert decide(0.1, 0.05, 0.2, [], True)[0] == BETTER
    assert decide(0.1, -0.01, 0.2, [0.1], True)[0] == NO_DIFFERENCE


def test_summary_says_when_suites_disagree():
    from webtext.evals.stats import Comparison

    def c(suite, variant, verdict):
        return Comparison(suite, "bpb", False, "raw", variant, 10, 1.0, 1.0, 0.0, 0.0, 0.0,
                          0.0, 0.0, 0.0, [], [], None, None, [], verdict, "")

    lines = summary_sentences([c("heldout", "webtext", BETTER), c("wiki", "webtext", WORSE),
                               c("lambada", "webtext", NO_DIFFERENCE),
                               c("heldout", "dedup", NO_DIFFERENCE),
                               c("wiki", "dedup", NO_DIFFERENCE)])
    assert lines[0].startswith("Suites disagree on webtext against raw: better on heldout; "
                               "worse on wiki; no detectable difference")
    assert lines[1] == ("dedup against raw: no detectable difference at this budget on every "
                        "suite (heldout, wiki).")
