"""Scheduled builds: each run is a dated snapshot in the data root, built on the ones before.

In:  the config (source.dumps globs are expanded again at every run, so new dump files are
     picked up) and a cron schedule.
Out: `DATA_ROOT/snapshots/<UTC time>/`, a full build with `snapshot.json` (its manifest: the
     dump files read, the earlier snapshots used, the counts). URLs that earlier snapshots
     fetched are taken from their WARC files instead of being fetched again (unless
     `serve.refetch`), and documents are deduplicated against earlier snapshots.

Serving needs a Prefect server (`prefect server start`): Prefect's ephemeral server cannot
schedule.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from prefect import flow

from webtext.config import WebtextConfig, config_from_toml, to_toml
from webtext.errors import UsageError
from webtext.io import write_json

SNAPSHOTS = "snapshots"
MANIFEST = "snapshot.json"


def finished_snapshots(data_root: Path) -> list[Path]:
    """Earlier snapshots that completed (they have a manifest), oldest first."""
    root = data_root / SNAPSHOTS
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / MANIFEST).exists())


def snapshot_name(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H%M%SZ")


def run_snapshot(config: WebtextConfig, now: dt.datetime | None = None) -> dict[str, Any]:
    """Build one dated snapshot (a plain function: the flow below only wraps it)."""
    from webtext.crawl.dumps import expand
    from webtext.flows.build import build_flow

    data_root = Path(config.build.data_root)
    previous = finished_snapshots(data_root)
    build_dir = data_root / SNAPSHOTS / snapshot_name(now or dt.datetime.now(dt.UTC))
    if build_dir.exists() and (build_dir / MANIFEST).exists():
        raise UsageError(f"snapshot {build_dir} already exists")
    dumps = expand(config.source.dumps)
    archives = [] if config.serve.refetch else [
        str(w) for p in previous for w in sorted((p / "warc").glob("*.warc.gz"))]
    if archives:  # URLs that no earlier snapshot fetched are fetched live
        config = config.model_copy(update={"crawl": config.crawl.model_copy(
            update={"archive_fallback_live": True})})
    summary = build_flow(str(build_dir), to_toml(config), [str(p) for p in previous], archives)
    manifest = {
        "snapshot": build_dir.name,
        "created": dt.datetime.now(dt.UTC).isoformat(),
        "dumps": [{"file": f, "bytes": os.path.getsize(f)} for f in dumps if os.path.exists(f)],
        "previous": [p.name for p in previous],
        "archives": len(archives),
        "source": {k: summary["source"].get(k) for k in ("read", "kept", "urls_kept")},
        "crawl": summary.get("crawl"),
        "dedup": summary.get("dedup"),
        "tokens": summary.get("tokens"),
    }
    write_json(build_dir / MANIFEST, manifest)
    return manifest


@flow(name="webtext-snapshot", log_prints=True)
def snapshot_flow(config_toml: str) -> dict[str, Any]:
    return run_snapshot(config_from_toml(config_toml))


def deployment(config: WebtextConfig, cron: str, name: str) -> Any:
    """The scheduled deployment of the snapshot flow (what `serve` runs)."""
    return snapshot_flow.to_deployment(name=name, cron=cron,
                                       parameters={"config_toml": to_toml(config)})


def serve(config: WebtextConfig, cron: str, name: str) -> None:
    """Serve the snapshot flow on `cron` against the Prefect server in PREFECT_API_URL."""
    from prefect import serve as prefect_serve
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        raise UsageError(
            "no Prefect server: start one with `prefect server start` (in another terminal), "
            "then run `PREFECT_API_URL=http://127.0.0.1:4200/api webtext serve ...`; Prefect's "
            "temporary server cannot run schedules")
    if not config.source.dumps:
        raise UsageError("no dumps to read: set source.dumps in the config")
    print(f"serving {name} on cron {cron!r}; snapshots in "
          f"{Path(config.build.data_root) / SNAPSHOTS}; earlier: "
          f"{[p.name for p in finished_snapshots(Path(config.build.data_root))]}")
    prefect_serve(deployment(config, cron, name))

