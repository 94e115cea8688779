"""Shard jobs on worker processes, with a watchdog for pages that hang.

In:  `ShardJob`s, a `CleanConfig`, a number of workers, and optionally another extractor
     (a picklable top-level function: tests use one that hangs; benchmarks may swap it).
Out: the done marker of every job, with the CPU seconds its worker spent on it (not written
     to disk); `on_progress(n)` is called as n more pages finish.

Each worker is a process forked from a fork server (never from the caller, which may run
threads, e.g. Prefect's); it has the extractor and language model loaded, and runs whole
shards (clean/shard.py). It tells the
supervisor before each page; the page itself runs under SIGALRM (clean/deadline.py), which
ends a page stuck in Python code and lets the worker go on. A page stuck where a signal cannot
reach (inside C code) is ended by the supervisor: past page_timeout_s + kill_grace_s it kills
the worker, marks the page extract_timeout and restarts the shard on a fresh worker, which
settles that page without reading it. A worker that dies on a page (a crash in C code, the OOM
killer) gets the same treatment with extract_error. A shard restarted three times without
getting further is a bug, not a bad page, and stops the run.

Errors reach the caller as what they are, for the CLI to print in one line: a worker that
fails at start (an import error) raises `StageError` with that error; an OSError in a worker
(a full disk, a read-only docs/ folder) is raised again in the supervisor, path included.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import signal
import time
import traceback
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any

from webtext.clean.config import CleanConfig
from webtext.clean.page import ExtractFn, PageCleaner
from webtext.clean.reasons import Reason
from webtext.clean.shard import ShardJob, run_shard
from webtext.errors import StageError

MAX_RESTARTS_WITHOUT_PROGRESS = 3
log = logging.getLogger("webtext.clean")


def _worker_main(conn: Connection) -> None:
    # Ctrl-C goes to the whole process group; the supervisor handles it and stops workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        # Received here, not as Process arguments, so that an extractor whose module cannot
        # be imported in the worker is reported like any other failure at start.
        config, extract = conn.recv()
        if extract is None:
            from webtext.clean.extract import quiet_library_logs

            quiet_library_logs()
        cleaner = PageCleaner(config, extract=extract)
    except Exception as e:
        # e.g. an install without lxml.html.clean: the user needs this error, not the restarts
        # of a worker that never reached a page.
        conn.send(("start_failed", f"{type(e).__name__}: {e}", traceback.format_exc()))
        return
    while (job := conn.recv()) is not None:
        cpu = time.process_time()
        try:
            marker = run_shard(job, cleaner, on_page=lambda i: conn.send(("page", i)))
        except OSError as e:
            # A full disk or a read-only build folder: the supervisor raises it as it is, so
            # that the CLI prints one line with the path (webtext.io names it).
            error = (OSError(e.errno, e.strerror, e.filename) if e.errno is not None
                     else None)
            conn.send(("error", traceback.format_exc(), error))
        except Exception:
            conn.send(("error", traceback.format_exc(), None))
        else:
            conn.send(("done", marker, time.process_time() - cpu))


class _Worker:
    def __init__(self, ctx: Any, config: CleanConfig, extract: ExtractFn | None):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child,), daemon=True,
                                name="webtext-clean")
        self.proc.start()
        child.close()
        self.conn.send((config, extract))
        self.job: ShardJob | None = None
        self.page: int | None = None  # index of the page in progress, None between pages
        self.started = False  # has it reported a page yet (it got past its imports)
        self.page_started = 0.0

    def assign(self, job: ShardJob) -> None:
        self.job, self.page = job, None
        self.conn.send(job)

    def receive(self) -> list[tuple[Any, ...]]:
        """Every message waiting; a final ("dead",) if the pipe is closed."""
        messages = []
        try:
            while self.conn.poll():
                messages.append(self.conn.recv())
        except (EOFError, OSError):
            messages.append(("dead",))
        return messages

    def stop(self, kill: bool = False) -> None:
        if not kill and self.proc.is_alive():
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.proc.join(timeout=10)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


def _context() -> Any:
    """A fork server where there is one: workers fork from a clean process that has loaded
    trafilatura and the language model once (clean/preload.py), so a worker, and a restart
    after a kill, starts in a fraction of a second. Elsewhere (Windows), spawn."""
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["webtext.clean.preload"])
    return ctx


def run_jobs(jobs: list[ShardJob], config: CleanConfig, workers: int,
             extract: ExtractFn | None = None,
             on_progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """Run every job; returns their done markers (+ "cpu_seconds") in job order.

    Longer than a stage function should be: the scheduling loop, the watchdog (a page over
    its deadline kills the worker) and the restart bookkeeping share the same locals, and
    split apart they would be passed back and forth on every event.
    """
    if not jobs:
        return []
    ctx = _context()
    queue = deque(jobs)
    results: dict[str, dict[str, Any]] = {}
    reported = {job.name: 0 for job in jobs}  # pages counted in progress, per job
    restarts = {job.name: (0, -1) for job in jobs}  # (restarts, furthest page at the last one)
    overrun = config.page_timeout_s + config.kill_grace_s
    pool = [_Worker(ctx, config, extract) for _ in range(min(workers, len(jobs)))]

    def settle_and_requeue(i: int, reason: Reason | None) -> None:
        worker = pool[i]
        job = worker.job
        assert job is not None
        count, furthest = restarts[job.name]
        page = worker.page if worker.page is not None else -1
        count = 0 if page > furthest else count + 1
        if count >= MAX_RESTARTS_WITHOUT_PROGRESS:
            # Its pipe closes as it dies, a moment before it can be reaped: wait for the
            # exit code the message names (a worker still alive here is being killed anyway).
            worker.proc.join(timeout=10)
        if count >= MAX_RESTARTS_WITHOUT_PROGRESS and not worker.started:
            # It died before its first page (in an import, at start): no page is to blame.
            raise StageError(
                f"clean worker exited before its first page {count} times "
                f"(exit code {worker.proc.exitcode})")
        if count >= MAX_RESTARTS_WITHOUT_PROGRESS:
            raise RuntimeError(
                f"clean: shard {job.name} stopped its worker {count} times at page {page} "
                f"(exit code {worker.proc.exitcode})")
        restarts[job.name] = (count, max(page, furthest))
        if worker.page is not None and reason is not None:
            job.forced[worker.page] = str(reason)
        worker.stop(kill=True)
        queue.appendleft(job)
        pool[i] = _Worker(ctx, config, extract)

    try:
        while len(results) < len(jobs):
            for worker in pool:
                if worker.job is None and queue:
                    worker.assign(queue.popleft())
            busy = [w for w in pool if w.job is not None]
            deadlines = [w.page_started + overrun for w in busy if w.page is not None]
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout)
            for i, worker in enumerate(pool):
                job = worker.job
                if job is None:
                    continue
                dead = False
                for message in worker.receive():
                    if message[0] == "page":
                        index = message[1]
                        worker.started = True
                        worker.page = index if index < len(job.refs) else None
                        worker.page_started = time.monotonic()
                        if index > reported[job.name]:
                            if on_progress is not None:
                                on_progress(index - reported[job.name])
                            reported[job.name] = index
                    elif message[0] == "done":
                        results[job.name] = {**message[1], "cpu_seconds": message[2]}
                        worker.job = worker.page = None
                    elif message[0] == "error":
                        _, trace, error = message
                        if error is not None:
                            error.add_note(f"in the clean worker of shard {job.name}:\n{trace}")
                            raise error
                        raise RuntimeError(f"clean: shard {job.name} failed:\n{trace}")
                    elif message[0] == "start_failed":
                        log.debug("clean worker failed to start:\n%s", message[2])
                        raise StageError(f"clean worker failed to start: {message[1]}")
                    else:
                        dead = True
                if worker.job is None:
                    continue
                if dead or not worker.proc.is_alive():
                    settle_and_requeue(i, Reason.EXTRACT_ERROR)
                elif worker.page is not None and (
                    time.monotonic() - worker.page_started > overrun
                ):
                    settle_and_requeue(i, Reason.EXTRACT_TIMEOUT)
    finally:
        for worker in pool:
            worker.stop(kill=len(results) < len(jobs))
    return [results[job.name] for job in jobs]
