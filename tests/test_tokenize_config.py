"""Recipes and tokenize settings in the TOML config: defaults, merging, strict validation."""

from __future__ import annotations

import pytest

from webtext.config import ConfigError, load_config
from webtext.tokenize.config import RecipeConfig, TokenizeConfig, default_recipes, resolve_recipes


def test_default_recipes_span_raw_to_webtext():
    recipes = default_recipes()
    assert {"raw", "dedup_only", "quality_dedup", "webtext"} <= set(recipes)
    raw, web = recipes["raw"], recipes["webtext"]
    assert (raw.min_karma, raw.langs, raw.rules, raw.dedup, raw.decontaminate) == (
        None, None, "none", False, False)
    assert (web.min_karma, web.langs, web.rules, web.dedup, web.decontaminate) == (
        3, ["en"], "all", True, True)
    qd = recipes["quality_dedup"]
    assert qd.min_karma is None and qd.rules == "all" and qd.dedup


def test_user_recipes_merge_over_defaults_field_by_field(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('[recipes.webtext]\nmin_karma = 5\n\n'
                    '[recipes.german]\nlangs = ["de"]\nrules = ["gopher_short_doc"]\n')
    config = load_config(toml)
    recipes = resolve_recipes(config.recipes)
    assert recipes["webtext"].min_karma == 5
    assert recipes["webtext"].langs == ["en"] and recipes["webtext"].dedup  # kept from default
    assert recipes["german"].langs == ["de"] and recipes["german"].rules == ["gopher_short_doc"]
    assert recipes["german"].dedup is False
    assert "raw" in recipes and "dedup_only" in recipes


def test_resolve_recipes_accepts_plain_dicts():
    recipes = resolve_recipes({"raw": {"dedup": True}})
    assert recipes["raw"].dedup and recipes["raw"].min_karma is None


@pytest.mark.parametrize("assignment", [
    "recipes.x.rules=\"some\"",
    "recipes.x.min_karma=\"3\"",
    "recipes.x.unknown=1",
    "recipes.x.rules=[]",
    "tokenize.model_type=\"wordpiece\"",
    "tokenize.vocab_size=100",
    "tokenize.val_permille=1001",
])
def test_bad_values_are_config_errors(assignment):
    with pytest.raises(ConfigError):
        load_config(None, [assignment])


def test_tokenize_defaults_are_valid_and_strict():
    cfg = TokenizeConfig()
    assert cfg.vocab_size == 8192 and cfg.model_type == "bpe"
    assert RecipeConfig(rules=["a", "b"]).rules == ["a", "b"]
    gpt2 = load_config(None, ["tokenize.vocab_size=50257"]).tokenize
    assert gpt2.vocab_size == 50257
