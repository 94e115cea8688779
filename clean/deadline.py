"""A time limit around one page, inside the worker process that handles it.

In:  a number of seconds.
Out: `time_limit(seconds)`, a context manager that raises `PageTimeout` in the block once the
     time is up. It uses SIGALRM, so it works only in a process's main thread on POSIX; where
     it cannot, it does nothing, and the supervisor's watchdog (clean/workers.py), which
     kills a worker that overruns, is the limit. The watchdog is also what stops a page stuck
     inside C code (lxml, a regex), where a signal handler never gets to run.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class PageTimeout(BaseException):  # noqa: N818 (a signal, not an error)
    """The page's time is up. A BaseException, so that the library's `except Exception`
    blocks cannot swallow it and carry on."""


def alarm_available() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    if not alarm_available():
        yield
        return

    def on_alarm(signum: int, frame: object) -> None:
        raise PageTimeout

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
