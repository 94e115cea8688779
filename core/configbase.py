"""The base of every stage's config model: unknown keys and wrong types are errors.

Kept apart from `webtext.config` so that stage config modules can import it without a cycle.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StageConfig(BaseModel):
    # strict: "3" is not an int and 1 is not a bool; TOML and --set values carry real types.
    model_config = ConfigDict(extra="forbid", strict=True, validate_default=True)
