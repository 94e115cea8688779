"""One typed config for the whole pipeline (docs/design.md, "Principles" 5).

In:  an optional TOML file (one table per stage) and `--set section.key=value` overrides.
Out: a validated `WebtextConfig`. Each stage owns its pydantic model in its own `config.py`;
     defaults live there, next to the published source they come from. Unknown keys and wrong
     types are errors that name the key.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from webtext.clean.config import CleanConfig
from webtext.crawl.config import CrawlConfig, SourceConfig
from webtext.dedup.config import DedupConfig
from webtext.evals.config import EvalConfig
from webtext.flows.config import AblateConfig, BuildConfig, ServeConfig
from webtext.tokenize.config import (
    RecipeConfig,
    TokenizeConfig,
    default_recipes,
    resolve_recipes,
)
from webtext.train.config import TrainConfig


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message names the key."""


class WebtextConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    build: BuildConfig = Field(default_factory=BuildConfig)
    source: SourceConfig = Field(default_factory=SourceConfig)
    crawl: CrawlConfig = Field(default_factory=CrawlConfig)
    clean: CleanConfig = Field(default_factory=CleanConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    tokenize: TokenizeConfig = Field(default_factory=TokenizeConfig)
    recipes: dict[str, RecipeConfig] = Field(default_factory=default_recipes)
    train: TrainConfig = Field(default_factory=TrainConfig)
    ablate: AblateConfig = Field(default_factory=AblateConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)

    @field_validator("recipes", mode="after")
    @classmethod
    def _merge_recipes(cls, value: Any) -> Any:
        # A [recipes.x] table adds to (or changes fields of) the built-in recipes rather than
        # replacing them all.
        return resolve_recipes(value)


def _parse_value(raw: str) -> Any:
    """Read an override's value as a TOML literal (3, 0.5, true, ["en"]); else a string."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply one `section.key=value` override to the raw config dict, in place."""
    key, sep, raw = assignment.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set {assignment!r}: expected section.key=value")
    parts = key.split(".")
    if len(parts) < 2:
        raise ConfigError(f"--set {assignment!r}: the key must name a section, e.g. source.{key}")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {assignment!r}: {part!r} is a value, not a section")
        node = child
    node[parts[-1]] = _parse_value(raw.strip())


def _describe(err: ValidationError, origin: str) -> str:
    lines = [f"invalid config ({origin}):"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"])
        if e["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key")
        else:
            got = e.get("input")
            lines.append(f"  {key}: {e['msg']} (got {got!r})")
    return "\n".join(lines)


def load_config(
    path: Path | str | None = None, overrides: list[str] | None = None
) -> WebtextConfig:
    """Load a TOML file (or the defaults), apply overrides, validate; `ConfigError` if wrong."""
    data: dict[str, Any] = {}
    origin = "defaults"
    if path is not None:
        path = Path(path)
        origin = str(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: not valid TOML: {e}") from None
    for assignment in overrides or []:
        apply_override(data, assignment)
    if overrides:
        origin += " with --set " + " ".join(overrides)
    try:
        return WebtextConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_describe(e, origin)) from None


def config_from_toml(text: str) -> WebtextConfig:
    """A resolved config passed as TOML text (as the flows pass it to their tasks)."""
    return WebtextConfig.model_validate(tomllib.loads(text))


def to_toml(config: BaseModel) -> str:
    """The resolved config as TOML that `load_config` reads back to an equal config."""
    return tomli_w.dumps(config.model_dump(mode="json", exclude_none=True))


def write_resolved(config: BaseModel, path: Path) -> None:
    """Write the resolved config beside an output (atomically)."""
    from webtext.io import write_bytes

    write_bytes(Path(path), to_toml(config).encode("utf-8"))
