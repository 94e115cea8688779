"""Language ID: labels on known texts, and the numpy walk equals py3langid's own classify()."""

from __future__ import annotations

import random

import pytest

from webtext.clean.lang import LanguageId
from webtext.world.spec import World


@pytest.fixture(scope="module")
def lid() -> LanguageId:
    return LanguageId(max_chars=100_000)


def test_known_languages(lid: LanguageId):
    world = World(0)
    for page in world.pages:
        if page.kind in ("article", "foreign"):
            lang, score = lid(page.body)
            assert lang == page.lang and score > 0.9, page.url


def test_same_labels_and_scores_as_py3langid(lid: LanguageId):
    rng = random.Random(0)
    world = World(0)
    texts = [p.body for p in world.pages if p.paragraphs][:40]
    texts += ["", "hello", "PAGE MOVED", "12345 !!!", "日本語のテキストです。", "Привет, мир."]
    texts += ["".join(chr(rng.randint(32, 0x3000)) for _ in range(rng.randint(1, 300)))
              for _ in range(30)]
    for text in texts:
        lang, score = lid(text)
        ref_lang, ref_score = lid.model.reference.classify(text)
        assert lang == ref_lang, repr(text[:40])
        assert score == pytest.approx(ref_score, abs=1e-4)


def test_only_a_prefix_is_read(lid: LanguageId, monkeypatch: pytest.MonkeyPatch):
    text = "Die Regierung hat heute in der Stadt beschlossen. " * 4
    text += "The rest is English text that is never read. " * 50
    assert lid(text)[0] == "en"
    monkeypatch.setattr(lid, "max_chars", 200)
    assert lid(text)[0] == "de"
