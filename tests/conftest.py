"""Shared fixtures: the generated fixture world, written once per test session."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

# Prefect keeps its database and results under PREFECT_HOME: a temporary folder for the whole
# session, set before anything imports Prefect; telemetry off.
_PREFECT_TMP = Path(tempfile.mkdtemp(prefix="webtext-prefect-"))
os.environ["PREFECT_HOME"] = str(_PREFECT_TMP / "home")
os.environ["PREFECT_RESULTS_LOCAL_STORAGE_PATH"] = str(_PREFECT_TMP / "results")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

from webtext.world.spec import World  # noqa: E402  (after the Prefect environment above)


@pytest.fixture(scope="session")
def world() -> World:
    return World(seed=0)


def pytest_unconfigure(config: pytest.Config) -> None:
    """The session's Prefect folder goes with the session (one was left per run before)."""
    import shutil

    shutil.rmtree(_PREFECT_TMP, ignore_errors=True)


@pytest.fixture(scope="session")
def world_dir(tmp_path_factory: pytest.TempPathFactory, world: World) -> Path:
    """The world's dumps (every format) and world.json, written once."""
    from webtext.world.dumps import write_world

    out = tmp_path_factory.mktemp("world")
    write_world(world, out)
    return out


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """One real local Prefect server for every flow test (a start takes ~10 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


OVERRIDES = [
    "source.min_karma=0", "crawl.download_timeout=2.0", "crawl.autothrottle=false",
    "crawl.download_delay=0.0", "crawl.retry_backoff_base=0.05", "crawl.retry_backoff_max=0.2",
    "crawl.concurrent_per_domain=8", "crawl.shards=2", "crawl.fsync_interval=0.0",
    "tokenize.vocab_size=512", "tokenize.val_permille=100", 'build.recipes=["webtext"]',
    "clean.workers=1", "dedup.workers=1",
]


def make_config(web, dumps: Path, extra: list[str] = ()):
    """The flow tests' config: small limits, loopback-only crawl through `web`."""
    from webtext.config import WebtextConfig, apply_override

    data: dict = {}
    for o in [*OVERRIDES, *extra]:
        apply_override(data, o)
    data["crawl"].update(web.crawl_overrides())
    data["source"]["dumps"] = [str(dumps)]
    return WebtextConfig.model_validate(data)


def manifests(build: Path) -> dict[str, dict]:
    """The final manifests of a build's own token outputs (shards with their checksums), not
    those an ablation added (they hold documents out)."""
    out = {}
    for m in sorted((build / "tokens").glob("*/manifest.json")):
        data = json.loads(m.read_text())
        if data["recipe"]["exclude"]["count"]:
            continue
        out[m.parent.name] = {k: data[k] for k in ("splits", "shards", "tokenizer", "recipe")}
    return out


def docs_rows(build: Path) -> list[tuple]:
    rows = []
    for f in sorted((build / "docs").glob("*.parquet")):
        t = pq.read_table(f, columns=["doc_id", "text", "reasons"]).to_pylist()
        rows += [(r["doc_id"], r["text"], tuple(r["reasons"])) for r in t]
    return sorted(rows)


@pytest.fixture(scope="session")
def web(world):
    """The mini-web serving the fixture world on 127.0.0.1 for the whole session."""
    from webtext.world.miniweb import MiniWeb

    with MiniWeb(world, slow_delay=5.0) as server:
        yield server


@pytest.fixture(scope="session")
def built(tmp_path_factory, world_dir, web, prefect_server):
    """One full build of the fixture world through the build flow, shared by flow tests."""
    from webtext.flows.build import run_build

    build = tmp_path_factory.mktemp("flows") / "build"
    config = make_config(web, world_dir / "dumps")
    summary = run_build(config, build)
    return {"build": build, "config": config, "summary": summary}
