"""Decontamination of evaluation suites against training sets: which items, which documents.

In:  the items of one or more suites (`Suite`), and a training set as (doc_id, text) pairs,
     streamed (a build's documents, or the texts a tokens dir decodes to).
Out: `Overlap`: per suite, the ids of the items sharing a word n-gram (13 by default, GPT-3
     appendix C, the rule `webtext.dedup.decontam` applies to a build) with any training text;
     and the ids of the training documents that do. The ablation drops those documents from
     every variant's training set (or, for a finished run, reports the items).

The n-grams and their 64-bit hashes are `webtext.dedup.shingles`' (the GPT-2 paper's
normalisation: lower-cased alphanumeric words), so a build's `contaminated` column and this
agree. One pass over the training texts; memory is that of the suites' n-grams only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from webtext.dedup.shingles import ngram_hashes, normalize_words
from webtext.evals.suites import Suite

DECONTAM_NGRAM = 13  # the dedup stage's default (dedup.decontam_ngram); pass that one in flows


@dataclass
class Overlap:
    """What a training set shares with the suites."""

    items: dict[str, list[str]] = field(default_factory=dict)  # suite -> overlapping item ids
    docs: set[str] = field(default_factory=set)  # training doc ids sharing an n-gram
    training_docs: int = 0

    def summary(self) -> dict[str, int]:
        return {name: len(ids) for name, ids in self.items.items()}


def _grams(text: str, n: int) -> np.ndarray:
    return ngram_hashes(normalize_words(text), n, short=False)


def find_overlap(suites: Sequence[Suite], training: Iterable[tuple[str, str]],
                 n: int = DECONTAM_NGRAM) -> Overlap:
    """Items of `suites` and documents of `training` that share a word n-gram."""
    per_item = [[_grams(it.overlap_text(), n) for it in s.items] for s in suites]
    table = np.unique(np.concatenate(
        [g for grams in per_item for g in grams] or [np.empty(0, np.uint64)]))
    out = Overlap(items={s.name: [] for s in suites})
    hit = np.zeros(len(table), dtype=bool)  # which suite n-grams occur in training text
    for doc_id, text in training:
        out.training_docs += 1
        if len(table) == 0:
            continue
        grams = _grams(text or "", n)
        if len(grams) == 0:
            continue
        pos = np.minimum(np.searchsorted(table, grams), len(table) - 1)
        found = table[pos] == grams
        if found.any():
            out.docs.add(doc_id)
            hit[pos[found]] = True
    shared = table[hit]
    for suite, grams in zip(suites, per_item, strict=True):
        out.items[suite.name] = [it.item_id for it, g in zip(suite.items, grams, strict=True)
                                 if len(g) and np.isin(g, shared).any()]
    return out


def overlapping_items(item_texts: Sequence[str], training_texts: Iterable[str],
                      n: int = DECONTAM_NGRAM) -> list[int]:
    """Indices of the texts in `item_texts` that share a word n-gram with any training text
    (the plain-text form of `find_overlap`)."""
    from webtext.evals.suites import Item

    suite = Suite("items", "text", [Item(str(i), text=t) for i, t in enumerate(item_texts)])
    found = find_overlap([suite], ((str(i), t) for i, t in enumerate(training_texts)), n)
    return [int(i) for i in found.items["items"]]
