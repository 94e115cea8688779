"""The `[eval]` table: which suites a run is scored on, and how.

In:  TOML such as
         [eval.suites.wiki]
         kind = "text"
         paths = ["eval/wikitext-2/*.txt"]
         item_chars = 2000
         [eval.suites.lambada]
         kind = "lambada"
         paths = ["eval/lambada_test.jsonl"]
Out: an `EvalConfig`; `webtext eval RUN --suite wiki` and the ablation flow read suites by name.

Suite kinds (docs/design.md, "Ablations"; file formats in evals/suites.py):
- `heldout`: documents drawn (seeded) from a build's deduplicated, unfiltered pool;
- `text`: reference corpora (plain text, JSONL with a text field, Parquet with a text column);
- `lambada`, `cloze` (CBT-style), `hellaswag`: zero-shot tasks scored by log-likelihood.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from webtext.configbase import StageConfig

SuiteKind = Literal["heldout", "text", "lambada", "cloze", "hellaswag"]
SuiteFormat = Literal["auto", "text", "jsonl", "parquet", "cbt"]


class SuiteConfig(StageConfig):
    """One evaluation suite."""

    kind: SuiteKind
    paths: list[str] = Field(default_factory=list)  # files or globs; not for `heldout`
    # "auto" reads the suffix: .txt -> text (cbt for a cloze suite), .jsonl/.json -> jsonl,
    # .parquet -> parquet.
    format: SuiteFormat = "auto"
    field: str = "text"  # the text field of a JSONL or Parquet reference corpus / LAMBADA file
    # A plain-text file is one item unless cut into items of about this many characters (at
    # line ends), which the paired statistics need: one item gives no interval.
    item_chars: int | None = Field(None, ge=1)
    stride: int | None = Field(None, ge=1)  # sliding-window stride (default block_size // 2)
    max_items: int | None = Field(None, ge=1)  # the first N items only (smoke runs)
    # heldout: how many documents, which seed draws them, and from which build (default: the
    # build whose tokens the run trained on).
    size: int = Field(50, ge=1)
    seed: int = 0
    build: str | None = None

    @model_validator(mode="after")
    def _paths_match_kind(self) -> SuiteConfig:
        if self.kind == "heldout" and self.paths:
            raise ValueError("a heldout suite is drawn from a build: set build, not paths")
        if self.kind != "heldout" and not self.paths:
            raise ValueError(f"a {self.kind} suite needs paths (files or globs)")
        return self


def _default_suites() -> dict[str, SuiteConfig]:
    return {"heldout": SuiteConfig(kind="heldout")}


class EvalConfig(StageConfig):
    """Suites by name, batching, and the bootstrap of the paired statistics."""

    suites: dict[str, SuiteConfig] = Field(default_factory=_default_suites)
    batch_size: int = Field(16, ge=1)  # windows per forward pass
    bootstrap: int = Field(2000, ge=100)  # resamples of the paired bootstrap (stats.py)
    seed: int = 0  # of the bootstrap
