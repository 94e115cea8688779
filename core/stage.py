"""The one shape of a stage: `run(layout, config, progress) -> stats` (docs/design.md, "Stages").

In:  nothing (definitions).
Out: `Progress`, the event a stage reports while it works, and `ProgressFn`, the callback that
     receives it. A stage's `run` takes the build's `BuildLayout`, its own typed config table
     and an optional `ProgressFn`; it skips work its completion markers show as done, and
     returns the counts it also writes to `BUILD/<stage>_stats.json`. Per-call inputs that are
     not configuration (a recipe to tokenize, the evaluation texts of an ablation) are
     keyword-only arguments after these three.

The CLI turns `Progress` into a rich progress bar and the flows into log lines; stage logic
itself never prints (STYLE convention 7 in docs/design.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Progress:
    """How far a stage is: a phase name, items done out of a total, and a free detail.

    `done`/`total` count the phase's own unit (pages for clean, documents for dedup and
    tokenize, URLs for crawl and source); `total` is 0 when unknown. `extra` carries the
    phase's other counters (bytes, tokens, rates) for a runner that wants them.
    """

    phase: str
    done: int = 0
    total: int = 0
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


ProgressFn = Callable[[Progress], None]


def report(progress: ProgressFn | None, event: Progress) -> None:
    """Send `event` to `progress` when there is one (a stage's progress is optional)."""
    if progress is not None:
        progress(event)
