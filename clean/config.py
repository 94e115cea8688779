"""Config of the clean stage (extraction, language ID, quality signals)."""

from __future__ import annotations

from webtext.configbase import StageConfig


class CleanConfig(StageConfig):

    workers: int = 2  # worker processes over WARC shards
