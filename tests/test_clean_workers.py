"""The per-page time limit inside real worker processes, and a worker that dies on a page.

The extractor below is scripted by URL: "/alarm" blocks until SIGALRM interrupts it (the
in-worker limit), "/stuck" blocks with SIGALRM masked, as code stuck inside C would (only the
supervisor's watchdog can end it, by killing the worker), "/crash" kills its own process.
Every other page gets a fixed English text. No timing is asserted: the limits are short so
the test is quick, and the outcomes do not depend on how quick the machine is.
"""

from __future__ import annotations

import os
import signal
import threading

import pyarrow.parquet as pq

from webtext.clean.config import CleanConfig
from webtext.clean.fixture import PROSE, Response, write_build
from webtext.clean.page import Extracted
from webtext.clean.stage import clean_build

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

    stats = clean_build(layout, config, workers=1, extract=scripted_extract,
                        on_progress=lambda done, total: progress.append((done, total)))

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
