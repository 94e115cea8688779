"""The package layout: `tokenize/` must not shadow the standard library, the CLI is complete."""

from __future__ import annotations

import argparse
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from webtext.cli import COMMANDS, build_parser, main

ROOT = Path(__file__).resolve().parents[1]
STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()


def test_no_init_in_tokenize_folder():
    assert (ROOT / "tokenize").is_dir()
    assert not (ROOT / "tokenize" / "__init__.py").exists()


def test_import_tokenize_from_root_is_stdlib():
    out = subprocess.run(
        [sys.executable, "-c", "import tokenize; print(tokenize.__file__)"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert Path(out).resolve().parent == STDLIB


def test_tokenize_under_pytest_is_stdlib():
    # `python -m pytest` from the root puts the root first on sys.path.
    import tokenize

    assert Path(tokenize.__file__).resolve().parent == STDLIB
    assert hasattr(tokenize, "generate_tokens")


def test_stage_packages_import():
    import importlib

    for name in ("crawl", "clean", "dedup", "tokenize", "train", "flows"):
        mod = importlib.import_module(f"webtext.{name}.config")
        assert Path(mod.__file__).resolve().parent == ROOT / name


# The subcommands a user reads about in the README, written out here rather than taken from
# COMMANDS, so that a subcommand dropped from the CLI fails this test.
README_COMMANDS = ("world", "source", "crawl", "clean", "inspect", "dedup", "tokenize", "train",
                   "generate", "build", "ablate", "stats", "serve", "demo")


def test_every_subcommand_is_registered_with_help():
    assert set(README_COMMANDS) <= {c[0] for c in COMMANDS}
    subparsers = next(a for a in build_parser()._actions
                      if isinstance(a, argparse._SubParsersAction))
    for name in README_COMMANDS:
        sub = subparsers.choices[name]
        # each subcommand has a help text of its own, not an empty or repeated name
        assert sub.description and len(sub.description) > 20, name
        help_line = next(c.help for c in subparsers._choices_actions if c.dest == name)
        assert help_line == sub.description


def test_subcommand_help_mentions_config_and_set(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["source", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--config" in out and "--set" in out and "urls.parquet" in out
