"""Config of the flows: builds, ablations and scheduled serving."""

from __future__ import annotations

from webtext.configbase import StageConfig


class BuildConfig(StageConfig):
    """Where builds live."""


    data_root: str = "data"  # snapshots of one corpus live side by side under this folder


class AblateConfig(StageConfig):

    variants: list[str] = []
    seeds: list[int] = [0]


class ServeConfig(StageConfig):

    cron: str = "0 3 * * *"
