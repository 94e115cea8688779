"""Errors the CLI prints as one clear line instead of a traceback."""


class UsageError(Exception):
    """Bad input from the user (missing file, wrong directory, nothing to do)."""
