"""Scheduled builds: each run is a dated snapshot in the data root, built on the ones before.

In:  the config (source.dumps globs are expanded again at every run, so new dump files are
     picked up) and a cron schedule.
Out: `DATA_ROOT/snapshots/<UTC time>/`, a full build with `snapshot.json` (its manifest: the
     dump files read, the earlier snapshots used, the counts). URLs that earlier snapshots
     fetched are taken from their WARC files instead of being fetched again (unless
     `serve.refetch`), and documents are deduplicated against earlier snapshots.

Serving needs a Prefect server (`prefect server start`): Prefect's ephemeral server cannot
schedule.

One snapshot of a data root builds at a time (`serve.overlap`): a run that fires while another
is building is cancelled ("skip") or waits its turn ("enqueue"). Two limits on the Prefect
server keep them apart. The deployment's own concurrency limit (1) decides before a process is
started, so a second run of the same deployment never starts. A global concurrency limit named
after the data root is held for the whole build by the flow itself, so that runs of another
deployment (a second `webtext serve` with another `--name`, on this or another machine) on the
same data root do not overlap either. Both are leases the server lets go of if the process
holding them dies.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.states import Cancelled, State

from webtext.config import WebtextConfig, config_from_toml, to_toml
from webtext.errors import UsageError
from webtext.io import write_json
from webtext.layout import BuildLayout

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
    if BuildLayout(build_dir).docs_dir.is_dir():
        # the snapshot's stats and page, with what changed since the latest earlier snapshot
        from webtext.flows.statsflow import snapshot_stats

        snapshot_stats(build_dir, previous)
    return manifest


def data_root_limit(data_root: Path) -> str:
    """Name of the Prefect global concurrency limit that one data root's snapshots share.

    The digest of the absolute path makes it one limit per folder; the folder's name is only
    there for a reader of the Prefect UI (the server refuses names with '/' and a few others).
    """
    root = Path(data_root).resolve()
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:12]
    label = re.sub(r"[^A-Za-z0-9_.-]", "_", root.name)[:40]
    return f"webtext-data-root-{label}-{digest}"


def ensure_data_root_limit(data_root: Path) -> str:
    """Create (or reset to 1) the data root's concurrency limit on the server; its name."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectAlreadyExists

    name = data_root_limit(data_root)
    with get_client(sync_client=True) as client:
        try:
            client.upsert_global_concurrency_limit_by_name(name, 1)
        except ObjectAlreadyExists:  # another serve created it between the read and the create
            pass
    return name


def _take_slot(stack: ExitStack, name: str, wait: bool) -> bool:
    """Take the limit's slot into `stack` (released when it closes); False if it is taken and
    not `wait`. `strict`: a limit missing on the server is an error, never a build unlocked."""
    import httpx
    from prefect.concurrency.asyncio import ConcurrencySlotAcquisitionError  # re-exported there
    from prefect.concurrency.sync import concurrency

    try:
        stack.enter_context(concurrency(name, max_retries=None if wait else 0, strict=True))
    except ConcurrencySlotAcquisitionError as exc:
        cause = exc.__cause__  # HTTP 423 (Locked) is "taken"; anything else is a real error
        if isinstance(cause, httpx.HTTPStatusError) and cause.response.status_code == 423:
            return False
        raise
    return True


@contextmanager
def data_root_slot(data_root: Path, overlap: str) -> Iterator[bool]:
    """Hold the data root's slot for the body; yields False if it is taken and overlap is skip."""
    name = ensure_data_root_limit(data_root)
    with ExitStack() as stack:
        held = _take_slot(stack, name, wait=False)
        if not held and overlap == "enqueue":
            print(f"another snapshot of {data_root} is building: waiting for it to finish "
                  f"(serve.overlap = 'enqueue')")
            held = _take_slot(stack, name, wait=True)
        yield held


@flow(name="webtext-snapshot", log_prints=True)
def snapshot_flow(config_toml: str) -> dict[str, Any] | State:
    config = config_from_toml(config_toml)
    data_root = Path(config.build.data_root)
    with data_root_slot(data_root, config.serve.overlap) as held:
        if not held:
            # A final state returned by a flow becomes the run's state: "Cancelled", as the
            # server marks the runs of the same deployment that it turns away.
            return Cancelled(message=f"skipped: another snapshot of {data_root} is still "
                             f"building (serve.overlap = 'skip')")
        return run_snapshot(config)


# serve.overlap -> what the server does with a run of the deployment while one is going
COLLISION = {"skip": ConcurrencyLimitStrategy.CANCEL_NEW,
             "enqueue": ConcurrencyLimitStrategy.ENQUEUE}


def deployment(config: WebtextConfig, cron: str, name: str) -> Any:
    """The scheduled deployment of the snapshot flow (what `serve` runs): one run at a time."""
    return snapshot_flow.to_deployment(
        name=name, cron=cron, parameters={"config_toml": to_toml(config)},
        concurrency_limit=ConcurrencyLimitConfig(
            limit=1, collision_strategy=COLLISION[config.serve.overlap]))


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
    # Absolute, so that the flow-run processes write where this one says whatever their working
    # folder, and the data root's concurrency limit is named after one folder.
    data_root = Path(config.build.data_root).resolve()
    config = config.model_copy(update={"build": config.build.model_copy(
        update={"data_root": str(data_root)})})
    limit = ensure_data_root_limit(data_root)
    print(f"serving {name} on cron {cron!r}; snapshots in {data_root / SNAPSHOTS}; earlier: "
          f"{[p.name for p in finished_snapshots(data_root)]}; while one builds, a new run "
          f"is {'cancelled' if config.serve.overlap == 'skip' else 'queued'} "
          f"(serve.overlap = {config.serve.overlap!r}, limit {limit!r})")
    prefect_serve(deployment(config, cron, name))

