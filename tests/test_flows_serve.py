"""`webtext serve` against a real `prefect server start`: one snapshot of a data root at a time.

The module starts its own Prefect server in a subprocess (loopback, free port, its own
PREFECT_HOME; the session's test harness is left alone: the subprocesses get an environment
without the test session's PREFECT_* variables) and two `webtext serve` processes with
different deployment names on one data root. Runs are triggered through the API, never by
waiting for cron minutes.

A snapshot's build is held at a gate the test controls: a `sitecustomize` module, put on the
serve processes' PYTHONPATH (and so inherited by the flow-run processes they start), replaces
the build flow with one that connects to the test's loopback socket, says which flow run it
is, and blocks until the test answers. So the test knows which build is in flight, releases it
when it chooses, and no real crawl runs. No sleeps: the test waits for states it reads from
the server.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import select
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import tomli_w

from webtext.config import WebtextConfig
from webtext.flows.serve import data_root_limit, deployment

SERVER_START_S = 90  # a cold `prefect server start` (database migrations) on two busy cores
WAIT_S = 45  # for one state change: a flow-run process starts, imports Prefect, reports

GATE_HOOK = '''
"""Test hook written by tests/test_flows_serve.py: a snapshot's build waits at the test's gate.

The build connects to WEBTEXT_TEST_GATE (127.0.0.1:PORT), sends its flow run id and the time
it started, and returns once the test answers "go".
"""
import os

if os.environ.get("WEBTEXT_TEST_GATE"):
    import socket
    import time
    from pathlib import Path

    import webtext.flows.build

    def gated_build(build_dir, config_toml, previous=None, archives=None):
        from prefect.runtime import flow_run

        host, port = os.environ["WEBTEXT_TEST_GATE"].rsplit(":", 1)
        Path(build_dir).mkdir(parents=True, exist_ok=True)
        with socket.create_connection((host, int(port)), timeout=120) as conn:
            conn.sendall(f"{flow_run.id} {time.time()}\\n".encode())
            if conn.recv(2) != b"go":
                raise RuntimeError("the test closed the gate")
        return {"build_dir": build_dir, "source": {}, "crawl": None, "dedup": None,
                "tokens": {}}

    webtext.flows.build.build_flow = gated_build
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clean_env(prefect_home: Path) -> dict[str, str]:
    """The environment of the server and serve processes: none of the test session's Prefect
    settings (its harness, its PREFECT_HOME), telemetry off."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({
        "PREFECT_HOME": str(prefect_home / "home"),
        "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(prefect_home / "results"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    })
    return env


def _stop(proc: subprocess.Popen) -> None:
    """Stop a process started in its own session, with the processes it started."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture(scope="module")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """`prefect server start` on a free loopback port; yields the environment that points a
    process at it."""
    home = tmp_path_factory.mktemp("prefect-real")
    env = _clean_env(home)
    # Seconds before the server lets a turned-away run try again (30 by default), and the most
    # it tells a waiting slot request to wait: short, so that the test's queue moves quickly.
    env["PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS"] = "1"
    env["PREFECT_SERVER_CONCURRENCY_MAXIMUM_CONCURRENCY_SLOT_WAIT_SECONDS"] = "1"
    port = _free_port()
    log = open(home / "server.log", "wb")  # closed at teardown
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
         "--port", str(port), "--no-ui", "--no-services"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            assert proc.poll() is None, (home / "server.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{api}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the Prefect server did not start"
            time.sleep(0.2)  # polling for the server to answer, not timing a race
        env["PREFECT_API_URL"] = api
        yield env
    finally:
        _stop(proc)
        log.close()


class Gate:
    """The loopback socket that every held build connects to."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"

    def next_build(self, timeout: float = WAIT_S) -> tuple[UUID, float, socket.socket]:
        """The next build that reached the gate: its flow run id, its start time, its line."""
        self.sock.settimeout(timeout)
        conn, _ = self.sock.accept()
        conn.settimeout(timeout)
        line = b""
        while not line.endswith(b"\n"):
            chunk = conn.recv(256)
            assert chunk, "a build closed the gate connection without saying who it is"
            line += chunk
        run_id, started = line.decode().split()
        return UUID(run_id), float(started), conn

    def nobody_waiting(self) -> bool:
        return not select.select([self.sock], [], [], 0)[0]

    @staticmethod
    def release(conn: socket.socket) -> None:
        conn.sendall(b"go")
        conn.close()

    def close(self) -> None:
        self.sock.close()


@dataclass
class Served:
    """Two `webtext serve` processes on one data root, and a client of the server."""

    client: Any  # a SyncPrefectClient of the test's own server
    gate: Gate
    data_root: Path
    deployments: dict[str, UUID]
    logs: list[Path]

    def run(self, name: str) -> UUID:
        return self.client.create_flow_run_from_deployment(self.deployments[name]).id

    def wait(self, run_id: UUID, done: Callable[[Any], bool], what: str) -> Any:
        """The run's state, once `done(state)` holds (read from the server)."""
        deadline = time.monotonic() + WAIT_S
        while True:
            state = self.client.read_flow_run(run_id).state
            if state is not None and done(state):
                return state
            if time.monotonic() > deadline:
                pytest.fail(f"run {run_id} never {what}; last state {state!r}\n{self.tails()}")
            time.sleep(0.2)  # polling the server for a state, not timing a race

    def completed(self, run_id: UUID) -> Any:
        return self.wait(run_id, lambda s: s.is_completed(), "completed")

    def logged(self, run_id: UUID, text: str) -> None:
        from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

        flt = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id]))
        self.wait(run_id, lambda _: any(text in log.message for log in
                                        self.client.read_logs(log_filter=flt)),
                  f"logged {text!r}")

    def next_build(self) -> tuple[UUID, float, socket.socket]:
        try:
            return self.gate.next_build()
        except TimeoutError:
            pytest.fail("no build reached the gate\n" + self.tails())

    def tails(self) -> str:
        return "\n".join(p.read_text()[-3000:] for p in self.logs)

    def snapshots(self) -> dict[str, float]:
        """Finished snapshots: name -> when its manifest was written (the build's last act,
        inside the data root's slot)."""
        root = self.data_root / "snapshots"
        return {p.parent.name: dt.datetime.fromisoformat(
            json.loads(p.read_text())["created"]).timestamp()
            for p in root.glob("*/snapshot.json")}

    def assert_all_done(self, n_snapshots: int) -> None:
        """n finished snapshots, no half-built one, and the data root's slot is free."""
        finished = self.snapshots()
        assert len(finished) == n_snapshots
        assert sorted(p.name for p in (self.data_root / "snapshots").iterdir()) == sorted(
            finished)
        limit = self.client.read_global_concurrency_limit_by_name(
            data_root_limit(self.data_root))
        assert (limit.limit, limit.active_slots) == (1, 0)


@pytest.fixture
def served(request, real_server, tmp_path: Path) -> Iterator[Served]:
    """`webtext serve --overlap <param>` twice (deployments "<param>-a" and "<param>-b", known
    to the test as "a" and "b") on one data root."""
    from prefect.client.orchestration import SyncPrefectClient

    overlap = request.param
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(textwrap.dedent(GATE_HOOK))
    dump = tmp_path / "RS_empty.jsonl"  # `serve` wants a dump; the held build reads none
    dump.write_text("")
    # Only the two keys the test sets: the rest are the defaults of the code the serve
    # processes run.
    (tmp_path / "webtext.toml").write_text(tomli_w.dumps(
        {"build": {"data_root": str(tmp_path / "root")}, "source": {"dumps": [str(dump)]}}))
    gate = Gate()
    env = dict(real_server)
    env.update({
        "PYTHONPATH": os.pathsep.join([str(hook), *filter(None, [env.get("PYTHONPATH")])]),
        "WEBTEXT_TEST_GATE": gate.address,
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",  # look for due runs every second, not every 10
        "PREFECT_LOGGING_TO_API_BATCH_INTERVAL": "0.3",
    })
    # Deployment names of their own: the server outlives the test, and a run created from a
    # deployment that another test's serve registered would carry that test's config.
    names = {"a": f"{overlap}-a", "b": f"{overlap}-b"}
    procs, logs = [], []
    for name in names.values():
        logs.append(tmp_path / f"serve-{name}.log")
        with open(logs[-1], "wb") as out:
            # From a folder that is not the repository: the flow runs must find their code.
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "webtext.cli", "serve", "webtext.toml", "--name", name,
                 "--cron", "0 0 1 1 *", "--overlap", overlap],
                cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True))
    client = SyncPrefectClient(api=real_server["PREFECT_API_URL"])
    try:
        with client:
            served = Served(client, gate, tmp_path / "root", {}, logs)
            for (key, name), proc in zip(names.items(), procs, strict=True):
                served.deployments[key] = _deployment_id(client, name, proc, served)
            yield served
    finally:
        for proc in procs:
            _stop(proc)
        gate.close()


def _deployment_id(client, name: str, proc: subprocess.Popen, served: Served) -> UUID:
    from prefect.exceptions import ObjectNotFound

    deadline = time.monotonic() + WAIT_S
    while True:
        assert proc.poll() is None, "\n".join(p.read_text()[-3000:] for p in served.logs)
        try:
            return client.read_deployment_by_name(f"webtext-snapshot/{name}").id
        except ObjectNotFound:
            assert time.monotonic() < deadline, f"`webtext serve --name {name}` did not start"
            time.sleep(0.2)  # polling the server, not timing a race


@pytest.mark.parametrize("served", ["skip"], indirect=True)
def test_serve_skips_runs_while_a_snapshot_of_the_data_root_builds(served: Served):
    a1 = served.run("a")
    build, _, held = served.next_build()
    assert build == a1
    # The same deployment: the server turns the run away before starting a process.
    a2 = served.run("a")
    state = served.wait(a2, lambda s: s.is_final(), "ended")
    assert state.is_cancelled() and "concurrency limit" in state.message
    # Another deployment (another serve process) on the same data root: the flow skips.
    b1 = served.run("b")
    state = served.wait(b1, lambda s: s.is_final(), "ended")
    assert state.is_cancelled() and "skipped" in state.message, state
    assert served.gate.nobody_waiting()  # both ended without building
    served.gate.release(held)
    served.completed(a1)
    # The data root is free again: the other deployment builds.
    b2 = served.run("b")
    build, _, held = served.next_build()
    assert build == b2
    served.gate.release(held)
    served.completed(b2)
    served.assert_all_done(2)  # the skipped runs left nothing behind


@pytest.mark.parametrize("served", ["enqueue"], indirect=True)
def test_serve_enqueues_runs_until_the_snapshot_of_the_data_root_is_built(served: Served):
    a1 = served.run("a")
    build, _, held = served.next_build()
    assert build == a1
    # The same deployment: the server keeps the run waiting for the deployment's slot.
    a2 = served.run("a")
    served.wait(a2, lambda s: s.name == "AwaitingConcurrencySlot", "queued")
    # Another deployment on the same data root: the flow starts, finds the data root busy
    # and waits for it.
    b1 = served.run("b")
    served.logged(b1, "is building: waiting")
    assert served.gate.nobody_waiting()
    served.gate.release(held)
    served.completed(a1)
    # The two waiting runs build one after the other, each after the one before it finished.
    waiting = {a2, b1}
    while waiting:
        build, started, held = served.next_build()
        assert build in waiting
        waiting.remove(build)
        assert started >= max(served.snapshots().values())
        assert served.gate.nobody_waiting()
        served.gate.release(held)
        served.completed(build)
    served.assert_all_done(3)


@pytest.mark.parametrize(("overlap", "strategy"), [("skip", "CANCEL_NEW"),
                                                   ("enqueue", "ENQUEUE")])
def test_deployment_runs_one_snapshot_at_a_time(overlap: str, strategy: str):
    config = WebtextConfig.model_validate({"serve": {"overlap": overlap}})
    dep = deployment(config, "0 3 * * *", "nightly")
    assert dep.concurrency_limit == 1
    assert dep.concurrency_options.collision_strategy.value == strategy


def test_overlap_defaults_to_skip():
    assert WebtextConfig().serve.overlap == "skip"


def test_data_root_limit_is_one_per_folder(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    name = data_root_limit(Path("data"))
    assert name == data_root_limit(tmp_path / "data") == data_root_limit(tmp_path / "x/../data")
    assert name != data_root_limit(tmp_path / "other" / "data")
    assert name.startswith("webtext-data-root-data-")
    assert all(c.isalnum() or c in "-_." for c in data_root_limit(tmp_path / "a b/c&d%e"))
