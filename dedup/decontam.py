"""Decontamination against an evaluation set, and the GPT-2 paper's 8-gram overlap report.

In:  training documents as (doc_id, text), or a build's docs shards, and the evaluation texts.
Out: the ids of training documents that share at least one word 13-gram with any evaluation
     text (`find_contaminated`; GPT-3 appendix C and NeMo Curator use 13-grams;
     `contaminated_ids` for the documents of a build, with `dedup.decontam_ngram`: the dedup
     stage and the ablation flow check with one n-gram size), and the overlap report
     (`overlap_report`): the share of the evaluation set's 8-grams that occur anywhere in the
     training documents, the statistic of the GPT-2 paper, section 4 / table 6 ("percentage
     of test set 8-grams overlapping with the training set").

Both work on the GPT-2 paper's normalisation (lower-cased alphanumeric words, one space
between them) and on 64-bit n-gram hashes (`shingles.ngram_hashes`): GPT-2 stored 8-grams in
Bloom filters with a false-positive rate bounded at 1e-8; a 64-bit hash collides with
probability ~ (train n-grams x eval n-grams) / 2**64, below 1e-5 for 10**8 x 10**6.
Evaluation texts shorter than n words have no n-gram and are counted, not matched.
Memory is that of the evaluation n-grams only; training documents are streamed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from webtext.dedup.shingles import ngram_hashes, normalize_words

if TYPE_CHECKING:  # pydantic and the layout stay out of the workers' import
    from webtext.dedup.config import DedupConfig
    from webtext.layout import BuildLayout


class EvalIndex:
    """The evaluation set's n-grams for contamination and for the overlap rate."""

    def __init__(self, eval_texts: list[str], n: int = 13, overlap_n: int = 8):
        self.n, self.overlap_n = n, overlap_n
        words = [normalize_words(t) for t in eval_texts]
        self.n_eval = len(eval_texts)
        self.short = sum(1 for w in words if len(w) < n)
        self.contam = np.unique(np.concatenate(
            [ngram_hashes(w, n, short=False) for w in words] or [np.empty(0, np.uint64)]))
        grams = np.concatenate(
            [ngram_hashes(w, overlap_n, short=False) for w in words] or [np.empty(0, np.uint64)])
        # unique eval 8-grams and how often each occurs in the eval set
        self.overlap, self.overlap_counts = np.unique(grams, return_counts=True)

    @staticmethod
    def _member(hashes: np.ndarray, table: np.ndarray) -> np.ndarray:
        """Indices into `table` (sorted) of the hashes that occur in it."""
        if len(table) == 0 or len(hashes) == 0:
            return np.empty(0, np.int64)
        pos = np.minimum(np.searchsorted(table, hashes), len(table) - 1)
        return np.unique(pos[table[pos] == hashes])

    def scan_words(self, words: list[str]) -> tuple[bool, np.ndarray]:
        """(shares a long n-gram with the eval set, indices of eval 8-grams it contains)."""
        contaminated = len(self._member(ngram_hashes(words, self.n, short=False),
                                        self.contam)) > 0
        hits = self._member(ngram_hashes(words, self.overlap_n, short=False), self.overlap)
        return contaminated, hits

    def report(self, hit_sets: Iterable[np.ndarray], n_docs: int) -> dict:
        """Overlap rates of the eval 8-grams given the hit indices of the training docs."""
        seen = np.zeros(len(self.overlap), dtype=bool)
        for hits in hit_sets:
            seen[hits] = True
        unique_total = len(self.overlap)
        occ_total = int(self.overlap_counts.sum())
        return {
            "ngram": self.overlap_n,
            "eval_texts": self.n_eval,
            "eval_texts_shorter_than_decontam_ngram": self.short,
            "training_docs": n_docs,
            "eval_ngrams_unique": unique_total,
            "eval_ngrams_unique_in_train": int(seen.sum()),
            # share of the eval set's distinct 8-grams found in the training docs
            "overlap_rate": float(seen.sum() / unique_total) if unique_total else 0.0,
            # the same, each 8-gram weighted by how often it occurs in the eval set
            "overlap_rate_occurrences": (
                float(self.overlap_counts[seen].sum() / occ_total) if occ_total else 0.0),
        }


def find_contaminated(docs: Iterable[tuple[str, str]], eval_texts: list[str], n: int = 13
                      ) -> set[str]:
    """Ids of the documents sharing at least one word n-gram with an evaluation text."""
    index = EvalIndex(eval_texts, n=n)
    return {doc_id for doc_id, text in docs
            if index.scan_words(normalize_words(text or ""))[0]}


def overlap_report(docs: Iterable[tuple[str, str]], eval_texts: list[str], n: int = 8) -> dict:
    """The GPT-2 overlap statistic of `eval_texts` against the training documents `docs`."""
    index = EvalIndex(eval_texts, n=n, overlap_n=n)
    hits, count = [], 0
    for _, text in docs:
        count += 1
        hits.append(index.scan_words(normalize_words(text or ""))[1])
    return index.report(hits, count)


def doc_texts(layout: BuildLayout, ids: Collection[str] | None = None
              ) -> Iterator[tuple[str, str]]:
    """(doc_id, text) of the build's documents in build order, one docs shard in memory at a
    time; only the ids in `ids` when given. A missing text reads as ""."""
    import pyarrow.parquet as pq

    for path in layout.docs_shards():
        table = pq.read_table(path, columns=["doc_id", "text"])
        pairs = zip(table.column("doc_id").to_pylist(), table.column("text").to_pylist(),
                    strict=True)
        for doc_id, text in pairs:
            if ids is None or doc_id in ids:
                yield doc_id, text or ""


def contaminated_ids(layout: BuildLayout, eval_texts: list[str], config: DedupConfig,
                     exclude: Collection[str] = ()) -> set[str]:
    """Ids of the build's documents (but those in `exclude`, e.g. the evaluation documents
    themselves) sharing a word `config.decontam_ngram`-gram with an evaluation text."""
    others = ((d, t) for d, t in doc_texts(layout) if d not in exclude)
    return find_contaminated(others, eval_texts, n=config.decontam_ngram)
