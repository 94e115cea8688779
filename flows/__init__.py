"""Prefect flows that wire the stages: build, ablate, stats, scheduled builds.

Prefect's telemetry is off unless the user turned it on: these defaults are set before any
module of this package imports Prefect.
"""

import os as _os

_os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
_os.environ.setdefault("DO_NOT_TRACK", "1")
# Prefect's ephemeral server waits 20 s for its API by default; on 2 busy cores its start has
# been measured at up to ~45 s, so give it room rather than fail a build.
_os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
