"""Where shard tasks run: worker processes on this machine, or a Dask cluster."""

from __future__ import annotations

from typing import Any

from webtext.config import WebtextConfig


def task_runner(config: WebtextConfig, dask_address: str | None = None) -> Any:
    """A Prefect task runner: `DaskTaskRunner` on `dask_address`, else a process pool."""
    if dask_address:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=dask_address)
    from prefect.task_runners import ProcessPoolTaskRunner

    return ProcessPoolTaskRunner(max_workers=config.build.workers)
