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
    """Same model, same budget, same tokenizer and evaluation suites; different data."""

    name: str = "default"  # results go to BUILD/ablations/<name>/
    # The default compares no filtering at all, dedup only, quality rules + dedup, and the full
    # WebText recipe (karma >= 3 + quality + dedup), as issue 8 asks.
    variants: list[str] = Field(
        default_factory=lambda: ["raw", "dedup_only", "quality_dedup", "webtext"])
    baseline: str = "raw"  # differences are reported against this variant
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    # Names of [eval.suites.NAME] tables every variant is scored on, fixed before any variant
    # is built (docs/design.md, "Ablations"). The default `heldout` suite is drawn, seeded,
    # from the build's deduplicated unfiltered pool (eval.suites.heldout.size and .seed).
    suites: list[str] = Field(default_factory=lambda: ["heldout"], min_length=1)
    # The shared tokenizer is trained on this recipe's documents (held-out ones excluded).
    tokenizer_recipe: str = "webtext"

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        # the overlap check with the suites uses the dedup stage's n-gram size
        if "decontam_ngram" in data:
            raise ValueError("ablate.decontam_ngram was removed: use dedup.decontam_ngram "
                             "(one n-gram size for the dedup stage and the ablation)")
        # Evaluation documents drawn from the strictest recipe made filtered variants win by
        # construction (issue 15); evaluation is now by named suites.
        for key in ("eval_docs", "eval_recipe", "seed"):
            if key in data:
                raise ValueError(f"ablate.{key} was removed: the ablation is scored on the "
                                 "suites named in ablate.suites; the heldout documents are "
                                 "drawn from the deduplicated unfiltered pool "
                                 "(eval.suites.heldout.size, eval.suites.heldout.seed)")
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
