"""Small builds for the tokenize tests: docs/*.parquet and dedup.parquet per the data contracts
(docs/design.md, "Data contracts").

Imported by the tokenize tests (and a few others); it holds no tests of its own, hence its
name without the `test_` prefix.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from webtext.config import WebtextConfig
from webtext.layout import BuildLayout, shard_marker
from webtext.records import doc_id
from webtext.stage import ProgressFn
from webtext.tokenize import stage as tokenize_stage

WORDS = (
    "the of and to in is was for on that with as by at from his her an were are which this be "
    "corpus token model data web page reddit link karma crawl shard parquet language quality "
    "filter dedup train loss byte piece vocabulary document text article news science python"
).split()

# Texts the tokenizer must give back exactly (the "Done when" list and a few more).
HARD_TEXTS = [
    "Emoji: 😀🎉 👨‍👩‍👧‍👦 🏳️‍🌈 flags 🇯🇵 and skin tones 👍🏽.",
    "CJK: 日本語のテキストと中文字符，한국어 문장도 있습니다。",
    "Control characters: \x00\x01\x07\x08\x0b\x0c\x1b[31mred\x1b[0m \x7f \x85 end",
    "CRLF line ends\r\nsecond line\r\n\r\nthird\rlone CR",
    "Combining marks: e\u0301 n\u0303 a\u030a\u0327 Z\u0351\u0352\u0353 \u0915\u094d\u0937",
    "Whitespace:  two  spaces,\ttab,   three, trailing   \n\n\nleading\u00a0nbsp\u2003em",
    "Specials: <|endoftext|> </s> <unk> <s> <0x41> ▁ lower block ▁▁ \ue000\ue001 \ufeff bom",
    "Normalisation bait: ＡＢＣ ﬁ ① ℌ Å Å \u2028 \u2029 \U0010fffd",
]


def make_text(rng: random.Random, n_words: int) -> str:
    paras = []
    while n_words > 0:
        k = min(n_words, rng.randint(20, 80))
        paras.append(" ".join(rng.choice(WORDS) for _ in range(k)).capitalize() + ".")
        n_words -= k
    return "\n\n".join(paras)


def doc_row(url: str, text: str, *, karma: int = 5, lang: str = "en", lang_score: float = 0.99,
            reasons: list[str] | None = None) -> dict:
    return {
        "doc_id": doc_id(url), "url": url, "domain": url.split("/")[2], "karma": karma,
        "karma_sum": karma, "title": url.rsplit("/", 1)[-1], "text": text,
        "n_chars": len(text), "n_words": len(text.split()), "lang": lang,
        "lang_score": lang_score, "gopher_mean_word_length": 4.5,
        "reasons": reasons or [],
    }


def write_docs(layout: BuildLayout, shards: list[list[dict]]) -> None:
    layout.docs_dir.mkdir(parents=True, exist_ok=True)
    for i, rows in enumerate(shards):
        path = layout.docs_dir / f"{i:05d}.parquet"
        pq.write_table(pa.Table.from_pylist(rows), path)
        shard_marker(path).parent.mkdir(exist_ok=True)
        shard_marker(path).write_text(json.dumps({"docs": len(rows)}))


def write_dedup(layout: BuildLayout, rows: list[dict]) -> None:
    full = [{"doc_id": r["doc_id"], "cluster_id": r.get("cluster_id", r["doc_id"]),
             "keep": r.get("keep", True), "dup_of": r.get("dup_of"),
             "dup_kind": r.get("dup_kind"), "jaccard_est": r.get("jaccard_est"),
             "contaminated": r.get("contaminated", False)} for r in rows]
    schema = pa.schema([("doc_id", pa.string()), ("cluster_id", pa.string()),
                        ("keep", pa.bool_()), ("dup_of", pa.string()),
                        ("dup_kind", pa.string()), ("jaccard_est", pa.float64()),
                        ("contaminated", pa.bool_())])
    pq.write_table(pa.Table.from_pylist(full, schema=schema), layout.dedup)


def corpus_build(root: Path, n_docs: int = 120, n_shards: int = 3, seed: int = 0,
                 words: tuple[int, int] = (80, 400)) -> tuple[BuildLayout, list[dict]]:
    """A build of `n_docs` English documents (plus the hard texts) in `n_shards` docs shards,
    with a dedup.parquet that keeps everything."""
    rng = random.Random(seed)
    layout = BuildLayout(root)
    rows = [doc_row(f"https://site{i % 7}.test/a/{i}", make_text(rng, rng.randint(*words)))
            for i in range(n_docs)]
    rows += [doc_row(f"https://hard.test/{i}", t) for i, t in enumerate(HARD_TEXTS)]
    per = -(-len(rows) // n_shards)
    write_docs(layout, [rows[i:i + per] for i in range(0, len(rows), per)])
    write_dedup(layout, rows)
    return layout, rows


def tokenize_to_dir(layout: BuildLayout, config: WebtextConfig, recipe: str,
                    progress: ProgressFn | None = None, **kwargs: Any) -> Path:
    """Run the tokenize stage with the config's [tokenize] and [recipes.*] tables; the tokens
    dir it wrote (`dir` of its stats)."""
    stats = tokenize_stage.run(layout, config.tokenize, progress, recipe=recipe,
                               recipes=config.recipes, **kwargs)
    return Path(stats["dir"])
