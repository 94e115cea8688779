"""One Prefect API for a whole command, shared by its flows and their worker processes.

Without a configured server, every Prefect flow call starts its own temporary server, and so
does every worker process of a process-pool task runner (each start costs 10-45 s on two
cores). `prefect_api()` starts one local server for the command instead and exports its URL,
so that worker processes report to it too. A server the user configured (PREFECT_API_URL, or
the test harness) is used as it is.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def prefect_api() -> Iterator[str]:
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        temporary_settings,
    )

    configured = PREFECT_API_URL.value()
    if configured:
        yield configured
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    server.start(timeout=PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value())
    os.environ["PREFECT_API_URL"] = server.api_url
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            try:
                yield server.api_url
            finally:
                _flush_logs()  # the last log lines reach the server before it stops
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        server.stop()


def _flush_logs() -> None:
    from prefect.logging.handlers import APILogHandler

    try:
        APILogHandler().flush()
    except Exception:  # best effort: never hide the command's own outcome
        pass
