"""The one typed config: TOML + --set overrides, type-checked, errors that name the key."""

from __future__ import annotations

import pytest

from webtext.config import ConfigError, load_config, to_toml, write_resolved
from webtext.layout import BuildLayout


def test_defaults_carry_webtext_rules():
    cfg = load_config()
    assert cfg.source.min_karma == 3  # WebText
    assert cfg.source.karma_mode == "max"
    assert cfg.source.drop_wikipedia is True


def test_toml_file_and_overrides(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[source]\nmin_karma = 5\nkarma_mode = "sum"\n')
    cfg = load_config(f, ["source.min_karma=7", 'source.subreddit_deny=["pics"]'])
    assert cfg.source.min_karma == 7
    assert cfg.source.karma_mode == "sum"
    assert cfg.source.subreddit_deny == ["pics"]


@pytest.mark.parametrize(
    "override, key",
    [
        ("source.min_karma=abc", "source.min_karma"),
        ("source.min_karma=3.5", "source.min_karma"),
        ("source.drop_nsfw=1", "source.drop_nsfw"),
        ("source.karma_mode=median", "source.karma_mode"),
        ("source.no_such_key=1", "source.no_such_key"),
        ("nosection.key=1", "nosection"),
    ],
)
def test_bad_override_names_the_key(override, key):
    with pytest.raises(ConfigError) as e:
        load_config(None, [override])
    assert key in str(e.value)


def test_malformed_override_and_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="section.key=value"):
        load_config(None, ["min_karma"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[source\nmin_karma = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('[source]\nmin_karma = "three"\n')
    with pytest.raises(ConfigError, match="source.min_karma"):
        load_config(wrong)


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(None, ["source.min_karma=9", "source.karma_mode=sum"])
    path = BuildLayout(tmp_path).config("source")
    write_resolved(cfg, path)
    again = load_config(path)
    assert again == cfg
    assert to_toml(again) == path.read_text()
