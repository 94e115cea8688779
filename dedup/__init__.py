"""The dedup stage: exact and MinHash LSH near-duplicate clusters, decontamination.

Entry points (imported lazily so that `webtext --help` and the config loader stay fast):
`run` (webtext.dedup.stage), `find_contaminated`, `contaminated_ids` and `overlap_report`
(webtext.dedup.decontam).
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "run": "webtext.dedup.stage",
    "find_contaminated": "webtext.dedup.decontam",
    "contaminated_ids": "webtext.dedup.decontam",
    "overlap_report": "webtext.dedup.decontam",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)
