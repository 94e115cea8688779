"""Errors the CLI prints as one clear line instead of a traceback.

In:  an exception raised anywhere below a subcommand.
Out: `UsageError` (bad input, exit 2), `StageError` (the stage cannot run here, exit 1), and
     `disk_error_message()`, the one line for an OSError that the user fixes on their side
     (a full disk, a quota, a read-only or forbidden build folder); None for any other error,
     which keeps its traceback because it is a bug to report.
"""

from __future__ import annotations

import errno


class UsageError(Exception):
    """Bad input from the user (missing file, wrong directory, nothing to do)."""


class StageError(Exception):
    """The stage cannot run on this machine (e.g. a worker process fails at import because
    the install is incomplete); the message names the cause in one line."""


# errno -> (what went wrong, how the path follows). A full disk and a read-only file system
# only happen on writes; a permission error can come from a read too, so it says no "writing".
_DISK_ERRNOS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("no space left on device", " writing "),
    errno.EDQUOT: ("disk quota exceeded", " writing "),
    errno.EROFS: ("read-only file system", ": cannot write "),
    errno.EACCES: ("permission denied", ": "),
    errno.EPERM: ("operation not permitted", ": "),
}
# Outputs are written atomically and finished shards are kept (docs/design.md, "Principles" 4).
_RESUME = {errno.ENOSPC, errno.EDQUOT}
_RESUME_HINT = " (free some space and re-run the same command: finished work is kept)"


def disk_error_message(e: OSError) -> str | None:
    """One line for a disk or permission error, naming the path; None for other errors."""
    if e.errno not in _DISK_ERRNOS:
        return None
    what, joint = _DISK_ERRNOS[e.errno]
    where = f"{joint}{e.filename}" if e.filename is not None else " (no path reported)"
    return what + where + (_RESUME_HINT if e.errno in _RESUME else "")
