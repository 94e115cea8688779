"""Extraction quality of the clean stage on the fixture world, whose true page bodies are known.

Builds WARC shards from the world's pages exactly as the mini-web serves them (article body
wrapped in navigation, cookie banner, related links, comments, newsletter box and footer, in
three layouts), runs the whole clean stage on them, and compares each document's text with
the page's true body: bag-of-words token precision, recall and F1 (lower-cased \\w+ tokens,
multiset overlap), summed over pages, per page kind, and the worst pages. Also counts the
documents in which any boilerplate marker string (webtext.world.html.BOILERPLATE_MARKERS)
survives. Target: F1 >= 0.9, no boilerplate.

    python benchmarks/clean_extraction_quality.py [--seed 0] [--articles 60] [--focus balanced]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq

from webtext.clean.config import CleanConfig
from webtext.clean.fixture import token_prf, world_responses, write_build
from webtext.clean.stage import run as clean_run
from webtext.world.html import BOILERPLATE_MARKERS
from webtext.world.spec import World


def prf(o: int, p: int, t: int) -> tuple[float, float, float]:
    precision, recall = o / p if p else 0.0, o / t if t else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--articles", type=int, default=60, help="World(n_articles=...)")
    parser.add_argument("--focus", default="balanced", choices=["balanced", "precision", "recall"])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    world = World(args.seed, n_articles=args.articles)
    pages = {p.url: p for p in world.pages}
    config = CleanConfig(focus=args.focus)
    with tempfile.TemporaryDirectory() as tmp:
        layout = write_build(Path(tmp), world_responses(world), n_shards=2)
        start = time.perf_counter()
        clean_run(layout, config, workers=args.workers)
        elapsed = time.perf_counter() - start
        rows = [r for path in sorted(layout.docs_dir.glob("*.parquet"))
                for r in pq.read_table(path, columns=["url", "text"]).to_pylist()]

    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    per_page = []
    boilerplate = 0
    for row in rows:
        page = pages[row["url"]]
        if any(marker in row["text"] for marker in BOILERPLATE_MARKERS):
            boilerplate += 1
        if not page.paragraphs:
            continue  # no true body (the PNG served as HTML)
        counts = token_prf(row["text"], page.body)
        for key in (page.kind, "ALL"):
            by_kind[key] = [a + b for a, b in zip(by_kind[key], counts, strict=True)]
        per_page.append((prf(*counts)[2], page.kind, row["url"]))

    print(f"clean extraction quality: World(seed={args.seed}, n_articles={args.articles}), "
          f"focus={args.focus}, {len(per_page)} pages with a true body, "
          f"stage wall {elapsed:.1f} s")
    print(f"{'kind':<16}{'pages':>6}{'precision':>11}{'recall':>9}{'F1':>8}")
    kinds = sorted(k for k in by_kind if k != "ALL") + ["ALL"]
    for kind in kinds:
        n = sum(1 for _, k, _ in per_page if k == kind or kind == "ALL")
        p, r, f = prf(*by_kind[kind])
        print(f"{kind:<16}{n:>6}{p:>11.4f}{r:>9.4f}{f:>8.4f}")
    print("worst pages (F1):")
    for f, kind, url in sorted(per_page)[:5]:
        print(f"  {f:.4f}  {kind:<14} {url}")
    print(f"documents with boilerplate (nav, cookie banner, footer, related, comments, "
          f"newsletter): {boilerplate} of {len(rows)}")


if __name__ == "__main__":
    main()
