"""Config of the tokenize stage and the recipes (declarative document selections).

In:  the `[tokenize]` table and the `[recipes.<name>]` tables of the TOML config.
Out: `TokenizeConfig` (tokenizer training, encoding, sharding) and one `RecipeConfig` per recipe.
     `resolve_recipes` merges the user's recipes over the built-in ones field by field, so that
     `[recipes.webtext] min_karma = 5` changes only the karma floor of the built-in recipe.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field, field_validator

from webtext.configbase import StageConfig


class TokenizeConfig(StageConfig):
    """How the tokenizer is trained and how documents become token shards."""

    # --- tokenizer (SentencePiece) ---
    # 8192 suits the small CPU models of train/ (nanoGPT's small runs use vocabularies of this
    # order). GPT-2's 50257 works and still fits uint16 shards; a vocabulary above 65536 ids
    # switches them to uint32. The trained model has exactly this many pieces or training fails
    # (BPE pieces never span a space, so the sample's distinct words bound the vocabulary).
    vocab_size: int = Field(8192, ge=300, le=1_000_000)
    # BPE as in GPT-2 (Radford et al. 2019); unigram (Kudo 2018) is SentencePiece's default.
    model_type: Literal["bpe", "unigram"] = "bpe"
    # Characters of text sampled from the selected documents to train on. SentencePiece keeps
    # its input in memory; 20M characters train an 8k vocabulary in well under a minute.
    train_sample_chars: int = Field(20_000_000, gt=0)
    train_seed: int = 0  # seeds the (deterministic, hash-based) choice of the training sample
    # SentencePiece's own default; rarer characters are spelled with byte pieces.
    character_coverage: float = Field(0.9995, gt=0.0, le=1.0)
    # Digits as single pieces (LLaMA, Touvron et al. 2023; PaLM) so numbers are spelled alike.
    split_digits: bool = True
    # Measured: the same thread count gives a byte-identical model; a different count changes
    # only the recorded trainer spec, so the tokenizer digest depends on it.
    train_threads: int = Field(2, ge=1)
    eod_piece: str = "<|endoftext|>"  # GPT-2's end-of-text marker, as a control symbol

    # --- encoding and shards ---
    encode_threads: int = Field(2, ge=1)  # SentencePiece's own batch-encoding threads
    encode_batch_chars: int = Field(4_000_000, gt=0)  # text per encode call (memory bound)
    # Documents whose blake2b(doc_id) mod 1000 < val_permille form the validation split (1%).
    # On tiny fixture builds raise it so that the validation split is not empty.
    val_permille: int = Field(10, ge=0, le=1000)
    # ~100 MB of uint16 per shard: big enough for few files, small enough to stream and resume.
    shard_tokens: int = Field(50_000_000, gt=0)
    # Row groups of ~1M tokens let a reader stream a shard without loading it whole.
    row_group_tokens: int = Field(1_000_000, gt=0)
    zstd_level: int = Field(3, ge=1, le=22)  # zstd's own default level


Rules = Literal["all", "none"] | list[str]


class RecipeConfig(StageConfig):
    """A declarative selection over the columns of docs/ and dedup.parquet (docs/design.md,
    "Principles" 1)."""

    # WebText: outbound links with at least 3 karma (Radford et al. 2019). None: no floor.
    min_karma: int | None = None
    langs: list[str] | None = None  # keep only these language codes; None: any language
    min_lang_score: float | None = None  # language-ID confidence floor; None: no floor
    # Quality rules (reason codes written by clean/): "all" drops a document failing any rule,
    # "none" ignores them, a list drops only documents failing one of the listed rules.
    rules: Rules = "none"
    dedup: bool = False  # keep only documents with keep == true in dedup.parquet
    decontaminate: bool = False  # drop documents marked contaminated in dedup.parquet
    # A file of held-out doc ids (one per line) dropped from this recipe, e.g. the evaluation
    # documents of an ablation; ids passed through the API are dropped as well.
    exclude_file: str | None = None
    # An existing tokenizer.model to reuse instead of training one, so that every variant of
    # an ablation shares one tokenizer.
    tokenizer: str | None = None

    @field_validator("rules")
    @classmethod
    def _rules_not_empty(cls, v: Rules) -> Rules:
        if isinstance(v, list) and not v:
            raise ValueError('an empty list of rules selects nothing to drop; use "none"')
        return v


def default_recipes() -> dict[str, RecipeConfig]:
    """The recipes an ablation compares, from nothing applied to the full WebText selection."""
    return {
        "raw": RecipeConfig(),
        "dedup_only": RecipeConfig(dedup=True, decontaminate=True),
        "quality_dedup": RecipeConfig(rules="all", dedup=True, decontaminate=True),
        "webtext": RecipeConfig(
            min_karma=3, langs=["en"], rules="all", dedup=True, decontaminate=True
        ),
    }


def resolve_recipes(
    user: Mapping[str, RecipeConfig | Mapping] | None = None,
) -> dict[str, RecipeConfig]:
    """The built-in recipes with the user's recipes merged over them, field by field.

    A user recipe named like a built-in one overrides only the fields it sets (pydantic's
    `model_fields_set`); a new name is taken as written. Passing `WebtextConfig.recipes` is
    enough: when a TOML file defines any `[recipes.*]`, pydantic replaces the default dict,
    and this puts the built-in recipes back underneath.
    """
    merged = default_recipes()
    for name, recipe in (user or {}).items():
        if not isinstance(recipe, RecipeConfig):
            recipe = RecipeConfig.model_validate(recipe)
        base = merged.get(name)
        if base is None:
            merged[name] = recipe
        else:
            update = {k: getattr(recipe, k) for k in recipe.model_fields_set}
            merged[name] = RecipeConfig.model_validate({**base.model_dump(), **update})
    return merged
