"""The per-page time limit inside real worker processes, and a worker that dies on a page.

The extractor below is scripted by URL: "/alarm" blocks until SIGALRM interrupts it (the
in-worker limit), "/stuck" blocks with SIGALRM masked, as code stuck inside C would (only the
supervisor's watchdog can end it, by killing the worker), "/crash" kills its own process.
Every other page gets a fixed English text. Extractors that cannot be unpickled in the worker
stand for an install whose imports fail there. No timing is asserted: the limits are short so
the test is quick, and the outcomes do not depend on how quick the machine is.
"""

from __future__ import annotations

import functools
import importlib
import os
import signal
import threading

import pyarrow.parquet as pq
import pytest

from webtext.clean.config import CleanConfig
from webtext.clean.fixture import PROSE, Response, write_build
from webtext.clean.page import Extracted
from webtext.clean.stage import run as clean_run
from webtext.cli import main
from webtext.errors import StageError

TEXT = PROSE


def scripted_extract(html: str, url: str | None, config: CleanConfig,
                     fetched_at: str | None) -> Extracted | None:
    if url.endswith("/alarm"):
        threading.Event().wait()
    if url.endswith("/stuck"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        threading.Event().wait()
    if url.endswith("/crash"):
        os._exit(3)
    return Extracted(title="A title", text=TEXT, date=None)


def test_hanging_and_crashing_pages_get_a_status_and_the_shard_goes_on(tmp_path):
    names = ["ok0", "alarm", "ok1", "stuck", "ok2", "crash", "ok3"]
    body = b"<!DOCTYPE html><html><body><p>placeholder</p></body></html>"
    responses = [Response(f"http://site.test/{name}", 200,
                          [("Content-Type", "text/html; charset=utf-8")], body)
                 for name in names]
    layout = write_build(tmp_path, responses)
    config = CleanConfig(page_timeout_s=0.5, kill_grace_s=0.5)
    progress: list[tuple[int, int]] = []

    stats = clean_run(layout, config, lambda p: progress.append((p.done, p.total)), workers=1,
                      extract=scripted_extract)

    rows = {r["url"].rsplit("/", 1)[1]: r for r in pq.read_table(
        layout.docs_dir / "00000.parquet").to_pylist()}
    assert list(rows) == sorted(names)  # every page once, written in URL order
    assert rows["alarm"]["reasons"] == ["extract_timeout"]
    assert rows["alarm"]["error"] is None  # ended in the worker, which went on
    assert rows["stuck"]["reasons"] == ["extract_timeout"]
    assert rows["stuck"]["error"] == "settled by the supervisor"  # the worker was killed
    assert rows["crash"]["reasons"] == ["extract_error"]
    assert rows["crash"]["error"] == "settled by the supervisor"
    for name in ("ok0", "ok1", "ok2", "ok3"):
        assert rows[name]["reasons"] == [] and rows[name]["text"] == TEXT
    assert stats["complete"] and stats["docs"] == len(names)
    assert stats["reasons"] == {"extract_timeout": 2, "extract_error": 1}
    assert progress[0] == (0, len(names)) and progress[-1] == (len(names), len(names))
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)


# ------------------------------------------------------------------ a worker that cannot start
class UnimportableExtractor:
    """An extractor whose module cannot be imported in the worker, as with an install that
    lacks lxml.html.clean: unpickling it there imports a module that does not exist."""

    def __reduce__(self):
        return importlib.import_module, ("lxml.html.clean_not_installed",)


class DyingExtractor:
    """An extractor whose worker dies before its first page, without a word (exit code 3)."""

    def __reduce__(self):
        return os._exit, (3,)


def _one_page_build(tmp_path):
    body = b"<!DOCTYPE html><html><body><p>placeholder</p></body></html>"
    return write_build(tmp_path, [Response("http://site.test/ok", 200,
                                           [("Content-Type", "text/html")], body)])


def test_a_worker_that_fails_at_start_reports_its_error(tmp_path):
    layout = _one_page_build(tmp_path)
    with pytest.raises(StageError) as caught:
        clean_run(layout, CleanConfig(), workers=1, extract=UnimportableExtractor())
    assert str(caught.value) == ("clean worker failed to start: ModuleNotFoundError: No module "
                                 "named 'lxml.html.clean_not_installed'")
    assert not list(layout.docs_dir.glob("*.parquet"))


def test_a_worker_that_dies_before_its_first_page_is_not_blamed_on_a_page(tmp_path):
    layout = _one_page_build(tmp_path)
    with pytest.raises(StageError, match=r"^clean worker exited before its first page 3 times "
                                         r"\(exit code 3\)$"):
        clean_run(layout, CleanConfig(), workers=1, extract=DyingExtractor())


def test_the_cli_prints_the_start_failure_in_one_line(tmp_path, monkeypatch, capsys):
    import webtext.clean.stage as stage

    layout = _one_page_build(tmp_path)
    monkeypatch.setattr(stage, "run", functools.partial(
        stage.run, extract=UnimportableExtractor()))
    assert main(["clean", str(layout.root), "--workers", "1"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "webtext clean: clean worker failed to start: ModuleNotFoundError: No module named "
        "'lxml.html.clean_not_installed'"]
