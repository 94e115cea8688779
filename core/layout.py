"""Where every file of a build lives: the one place that names the paths (docs/design.md,
"Layout").

In:  a build directory.
Out: the paths of its inputs, outputs, stats and resolved configs. Stages take a `BuildLayout`
     instead of building paths from strings, so that a renamed file is renamed everywhere.

Completion markers live where dataset readers do not look (docs/design.md, "Principles" 4): a
shard's marker is `<folder>/.done/<shard>.json`. pyarrow.dataset (and so pandas) skips names
starting with "." or "_", Hugging Face `datasets` only those starting with "." (and "__"
folders), so a "." prefix is the one that all three skip and every output folder opens as a
dataset as it is.
What decides whether a finished output is still valid includes the versions of the packages
that compute it (`package_versions`); a marker written under other versions is not done.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from webtext.errors import UsageError

MARKER_DIR = ".done"  # the folder of the done markers inside an output folder (see above)
# A scheduled corpus (flows/serve.py): DATA_ROOT/snapshots/<UTC time>/, finished once its
# manifest is written. Only such snapshots count as earlier builds without being named.
SNAPSHOTS_DIR = "snapshots"
SNAPSHOT_MANIFEST = "snapshot.json"


def shard_marker(shard: Path) -> Path:
    """The done marker of an output shard: docs/00000.parquet -> docs/.done/00000.json."""
    shard = Path(shard)
    return shard.parent / MARKER_DIR / f"{shard.stem}.json"


def legacy_shard_marker(shard: Path) -> Path:
    """Where builds before the move wrote the marker (`docs/00000.done.json`), which made
    pyarrow.dataset fail on docs/; such a marker counts as not done and is removed on redo."""
    return Path(shard).with_suffix(".done.json")


def package_versions(names: Iterable[str]) -> dict[str, str]:
    """Installed versions of the packages whose code decides a stage's output (recorded in
    its markers: another version may extract, sketch or tokenize differently)."""
    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def version_change(recorded: Mapping[str, Any] | None, current: Mapping[str, str]) -> str | None:
    """Why an output recorded under `recorded` versions is stale now, or None if it is not."""
    if recorded is None:
        return "written by an older webtext that recorded no versions"
    changed = [f"{name} {recorded.get(name, 'none')} -> {v}" for name, v in current.items()
               if recorded.get(name) != v]
    return "written with other versions: " + ", ".join(changed) if changed else None


def resume_note(resume: Mapping[str, Any], unit: str, redo: str) -> list[str]:
    """Lines for a CLI or flow log from a stage's `resume` stats ({"skipped": n, "redone":
    {reason: n}}): what a re-run skipped, what would make it run again, and what it redid."""
    lines = []
    if resume.get("skipped"):
        n = resume["skipped"]
        lines.append(f"{n} {unit}{'s' if n != 1 else ''} done earlier, skipped ({redo})")
    for reason, n in (resume.get("redone") or {}).items():
        lines.append(f"{n} {unit}{'s' if n != 1 else ''} done earlier, redone: {reason}")
    return lines


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

    @property
    def docs_markers(self) -> Path:
        """The done markers of the docs shards (see `shard_marker`)."""
        return self.docs_dir / MARKER_DIR

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

    def is_snapshot(self) -> bool:
        """Is this build one snapshot of a scheduled corpus (DATA_ROOT/snapshots/<time>/)?"""
        return self.root.resolve().parent.name == SNAPSHOTS_DIR

    def snapshot_finished(self) -> bool:
        return (self.root / SNAPSHOT_MANIFEST).is_file()

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
