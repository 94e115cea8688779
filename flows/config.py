"""Config of the flows: builds, ablations and scheduled serving."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from webtext.configbase import StageConfig


class BuildConfig(StageConfig):
    """Where builds live and what a build runs."""

    data_root: str = "data"  # snapshots of one corpus live side by side under this folder
    name: str = "default"  # `webtext build` writes data_root/name
    recipes: list[str] = Field(default_factory=list)  # tokenize these at the end of the build
    workers: int = Field(2, ge=1)  # worker processes for shard tasks (2 cores here)


class AblateConfig(StageConfig):
    """Same model, same budget, same tokenizer and evaluation documents; different data."""

    name: str = "default"  # results go to BUILD/ablations/<name>/
    # The default compares no filtering at all, dedup only, quality rules + dedup, and the full
    # WebText recipe (karma >= 3 + quality + dedup), as issue 8 asks.
    variants: list[str] = Field(
        default_factory=lambda: ["raw", "dedup_only", "quality_dedup", "webtext"])
    baseline: str = "raw"  # differences are reported against this variant
    seeds: list[int] = Field(default_factory=lambda: [0])
    # Evaluation documents are drawn from the strictest recipe (docs/design.md, "Ablations").
    eval_recipe: str = "webtext"
    eval_docs: int = Field(12, ge=1)
    seed: int = 0  # which documents are drawn for evaluation
    # The shared tokenizer is trained on this recipe's training documents (default: eval_recipe).
    tokenizer_recipe: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _decontam_ngram_moved(cls, data: Any) -> Any:
        # the overlap check with the evaluation documents uses the dedup stage's n-gram size
        if isinstance(data, dict) and "decontam_ngram" in data:
            raise ValueError("ablate.decontam_ngram was removed: use dedup.decontam_ngram "
                             "(one n-gram size for the dedup stage and the ablation)")
        return data


class ServeConfig(StageConfig):
    """Scheduled builds: `webtext serve` (needs a running `prefect server start`)."""

    cron: str = "0 3 * * *"  # every night at 03:00
    refetch: bool = False  # fetch again URLs that earlier snapshots already fetched
    # What a scheduled run does while another snapshot of the same data root is still building.
    # "skip" (the default) loses nothing: every snapshot reads all the dumps present when it
    # starts and builds on every finished snapshot, so the next run after the long one catches
    # up. "enqueue" waits and builds every time the schedule fires; when builds outlast the
    # interval its queue only grows, and the snapshots it builds back to back mostly repeat
    # each other.
    overlap: Literal["skip", "enqueue"] = "skip"
