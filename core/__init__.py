"""webtext: WebText-style corpora from Reddit links, and a GPT-2 to measure what data quality does.

This folder (`core/` in the repository) is the `webtext` package itself: the typed records, the
one config, the build layout and the CLI. The stages live beside it in the repository root and
install as `webtext.crawl`, `webtext.clean`, `webtext.dedup`, `webtext.tokenize`, `webtext.train`
and `webtext.flows`.
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

__version__ = "0.1.0"


def _register_source_tokenize() -> None:
    """Make `webtext.tokenize` importable from a source checkout installed in editable mode.

    `tokenize/` must not hold an `__init__.py` (it would shadow the standard library's
    `tokenize` whenever the repository root is first on `sys.path`), so it is a namespace
    package. An installed wheel handles that natively; setuptools' editable finder does not
    resolve a mapped namespace package, so from a checkout we register it here, by name only.
    """
    here = _Path(__file__).resolve().parent
    source_dir = here.parent / "tokenize"
    if here.name != "core" or not source_dir.is_dir() or "webtext.tokenize" in _sys.modules:
        return
    import importlib.machinery
    import importlib.util

    spec = importlib.machinery.ModuleSpec("webtext.tokenize", None, is_package=True)
    spec.submodule_search_locations = [str(source_dir)]
    module = importlib.util.module_from_spec(spec)
    _sys.modules["webtext.tokenize"] = module


_register_source_tokenize()
