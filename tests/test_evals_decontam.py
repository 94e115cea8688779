"""Decontamination: a planted 13-gram overlap is found, a 12-gram one is not."""

from __future__ import annotations

from webtext.evals.decontam import find_overlap, overlapping_items
from webtext.evals.suites import Item, Suite
from webtext.world.evalsets import eval_paragraphs

PARAS = eval_paragraphs()


def test_planted_13_gram_is_found_in_every_training_set():
    items = list(PARAS[:6])
    words = items[2].split()
    planted13 = "Unrelated intro. " + " ".join(words[5:18]) + " and an unrelated tail."
    planted12 = "Unrelated intro. " + " ".join(words[5:17]) + " and an unrelated tail."
    clean = list(PARAS[50:60])
    suite = Suite("ref", "text", [Item(f"p{i}", text=t) for i, t in enumerate(items)])
    task = Suite("cbt", "cloze", [Item("q0", context=PARAS[3][:200], choices=(" x",))])
    # every variant's training set: the planted document is dropped wherever it occurs
    for variant in (clean + [planted13], [planted13] + clean[:3]):
        found = find_overlap([suite, task], list(enumerate(variant)), n=13)
        assert found.items == {"ref": ["p2"], "cbt": []}
        assert found.docs == {variant.index(planted13)}
        assert found.training_docs == len(variant)
    assert find_overlap([suite], list(enumerate(clean + [planted12]))).items == {"ref": []}
    assert overlapping_items(items, clean + [planted13]) == [2]
    # case and punctuation do not hide an overlap (the GPT-2 paper's normalisation)
    shouted = " ".join(w.upper() + "," for w in words[5:18])
    assert overlapping_items(items, [shouted]) == [2]
