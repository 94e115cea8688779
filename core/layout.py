"""Where every file of a build lives: the one place that names the paths (DESIGN.md).

In:  a build directory.
Out: the paths of its inputs, outputs, stats and resolved configs. Stages take a `BuildLayout`
     instead of building paths from strings, so that a renamed file is renamed everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from webtext.errors import UsageError


@dataclass(frozen=True)
class BuildLayout:
    """The files of one build (one snapshot of the corpus)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    # source stage
    @property
    def urls(self) -> Path:
        return self.root / "urls.parquet"

    # crawl stage
    @property
    def warc_dir(self) -> Path:
        return self.root / "warc"

    @property
    def fetch(self) -> Path:
        return self.root / "fetch.parquet"

    @property
    def crawl_dir(self) -> Path:
        """Per-shard crawl state (URL shards, partial results, Scrapy JOBDIRs)."""
        return self.root / "crawl"

    # clean stage
    @property
    def docs_dir(self) -> Path:
        return self.root / "docs"

    def docs_shards(self) -> list[Path]:
        """The docs/ Parquet shards in build order (temporary files of a killed run left out);
        empty when there is no docs/ folder."""
        if not self.docs_dir.is_dir():
            return []
        return sorted(p for p in self.docs_dir.glob("*.parquet") if not p.name.startswith("."))

    def require_docs_shards(self) -> list[Path]:
        """`docs_shards()` for a stage that reads them: a UsageError when there are none."""
        if not self.docs_dir.is_dir():
            raise UsageError(f"{self.docs_dir} not found (no docs/ folder): run `webtext clean` "
                             "on this build first")
        shards = self.docs_shards()
        if not shards:
            raise UsageError(f"{self.docs_dir} holds no *.parquet shards: run `webtext clean` "
                             "first")
        return shards

    # dedup stage
    @property
    def dedup(self) -> Path:
        return self.root / "dedup.parquet"

    @property
    def dedup_dir(self) -> Path:
        """Stored signatures and index, kept for incremental dedup and threshold reports."""
        return self.root / "dedup"

    # tokenize stage
    @property
    def tokens_root(self) -> Path:
        return self.root / "tokens"

    def tokens(self, name: str) -> Path:
        return self.tokens_root / name

    # training runs and ablations
    @property
    def runs(self) -> Path:
        return self.root / "runs"

    def ablation(self, name: str) -> Path:
        """One ablation over this build: results, plots and its training runs."""
        return self.root / "ablations" / name

    # stats and reports
    def stats(self, stage: str) -> Path:
        """`<stage>_stats.json`: the counts a stage reports (source, crawl, clean, ...)."""
        return self.root / f"{stage}_stats.json"

    @property
    def linkrot(self) -> Path:
        return self.root / "linkrot.json"

    @property
    def report_html(self) -> Path:
        return self.root / "report.html"

    @property
    def stats_json(self) -> Path:
        return self.root / "stats.json"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def config(self, stage: str) -> Path:
        """The resolved config a stage ran with, written beside its output."""
        return self.root / "configs" / f"{stage}.toml"
