"""The Prefect flows on the fixture world, under one real local Prefect server (the harness):
the build flow and its funnel, a re-run that does no work, a build killed with SIGKILL during
the crawl and again during cleaning, Dask, statistics and the ablation."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import docs_rows, manifests

from webtext.config import to_toml
from webtext.flows.build import run_build
from webtext.flows.corpusstats import compute_stats
from webtext.layout import BuildLayout

pytestmark = pytest.mark.usefixtures("prefect_server")

def test_build_produces_every_output(built):
    layout = BuildLayout(built["build"])
    for path in (layout.urls, layout.fetch, layout.dedup, layout.linkrot,
                 layout.stats("source"), layout.stats("crawl"), layout.stats("clean")):
        assert path.exists(), path
    assert list(layout.docs_dir.glob("*.parquet"))
    (tokens,) = built["summary"]["tokens"].values()
    assert (Path(tokens) / "manifest.json").exists()


def test_funnel_counts_add_up_and_match_the_world(built, world):
    stats = compute_stats(BuildLayout(built["build"]))
    assert stats["adds_up"] and len(stats["funnel"]) == 5
    for step in stats["funnel"]:
        assert step["in"] == step["out"] + sum(step["reasons"].values()), step
    # source: every submission of the world is read; with min_karma 0 only low karma is kept
    submissions, urls, fetched, extracted, passing = stats["funnel"]
    assert submissions["in"] == len(world.posts)
    expected_drops = Counter(p.expect for p in world.posts if p.expect not in ("kept",
                                                                             "low_karma"))
    assert submissions["reasons"] == dict(expected_drops)
    kept_urls = {p.url for p in world.posts if p.expect in ("kept", "low_karma")}
    assert urls["in"] == len(kept_urls)
    by_url = world.page_by_url()
    want = Counter(by_url[u].fetch_status for u in kept_urls)
    assert urls["out"] == want.pop("fetched")
    assert urls["reasons"] == dict(want)
    # every fetched page is a document; the next steps continue from the previous ones
    assert fetched["in"] == urls["out"]
    assert extracted["in"] == fetched["out"] and passing["in"] == extracted["out"]
    assert passing["reasons"]  # the syndicated copies are marked as duplicates


def test_rerun_of_a_finished_build_does_no_work(built, web):
    build = built["build"]
    before = {p: p.stat().st_mtime_ns for p in build.rglob("*.parquet")}
    web.reset()
    run_build(built["config"], build)
    assert web.access_log() == []  # nothing fetched again
    after = {p: p.stat().st_mtime_ns for p in build.rglob("*.parquet")}
    assert after == before  # no output rewritten


def _start_build(config_file: Path, build: Path) -> subprocess.Popen:
    env = dict(os.environ)
    from prefect.settings import PREFECT_API_URL

    env["PREFECT_API_URL"] = PREFECT_API_URL.value()  # the harness's server
    return subprocess.Popen(
        [sys.executable, "-m", "webtext.cli", "build", str(config_file), "--build-dir",
         str(build)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)


def _kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)  # the build and its crawl/worker processes
    proc.wait(timeout=30)


def _wait_for(predicate, proc: subprocess.Popen, what: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            pytest.fail(f"build exited ({proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            _kill(proc)
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)  # polling the file system, not timing anything


@pytest.mark.slow
def test_build_killed_during_crawl_and_clean_resumes_to_same_manifests(built, web, tmp_path):
    build = tmp_path / "build"
    config_file = tmp_path / "config.toml"
    # One worker: the two docs shards are cleaned one after the other, so that the build can
    # be killed between them. The outputs do not depend on the number of workers.
    config = built["config"].model_copy(update={"build": built["config"].build.model_copy(
        update={"workers": 1})})
    config_file.write_text(to_toml(config))
    status_logs = lambda: list((build / "crawl").glob("*/status.jsonl"))  # noqa: E731

    # 1. SIGKILL during the crawl: the server holds requests after 30 pages.
    web.reset()
    web.pause(after=30)
    proc = _start_build(config_file, build)
    _wait_for(lambda: sum(p.read_text().count("\n") for p in status_logs()) >= 10, proc,
              "the crawl to commit pages")
    _kill(proc)
    web.resume()
    assert not (build / "fetch.parquet").exists()

    # 2. SIGKILL during cleaning: once the first docs shard is finished.
    proc = _start_build(config_file, build)
    _wait_for(lambda: len(list((build / "docs" / ".done").glob("*.json"))) >= 1, proc,
              "the first cleaned shard")
    _kill(proc)
    assert not (build / "clean_stats.json").exists()  # killed before cleaning finished

    # 3. Re-run to the end: the same final manifests as the uninterrupted build.
    proc = _start_build(config_file, build)
    assert proc.wait(timeout=600) == 0
    assert manifests(build) == manifests(built["build"])
    assert docs_rows(build) == docs_rows(built["build"])
    fetch = pq.read_table(build / "fetch.parquet").column("url").to_pylist()
    assert len(fetch) == len(set(fetch))


@pytest.mark.slow
def test_dask_cluster_gives_the_same_build(built, tmp_path):
    import dask
    from distributed import LocalCluster

    # The clean stage runs each shard's extraction in a watched child process, which Dask's
    # default (daemonic) worker processes may not start.
    with dask.config.set({"distributed.worker.daemon": False}), LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None) as cluster:
        build = tmp_path / "dask-build"
        run_build(built["config"], build, dask_address=cluster.scheduler_address)
    assert manifests(build) == manifests(built["build"])
    assert docs_rows(build) == docs_rows(built["build"])
