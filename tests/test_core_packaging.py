"""The package layout: `tokenize/` must not shadow the standard library, the CLI is complete."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

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


def test_every_subcommand_is_registered_with_help():
    names = [c[0] for c in COMMANDS]
    for required in ("source", "crawl", "clean", "dedup", "tokenize", "train", "build",
                     "ablate", "stats", "serve", "demo"):
        assert required in names
    parser = build_parser()
    helps = parser.format_help()
    for name in names:
        assert name in helps


def test_subcommand_help_mentions_config_and_set(capsys):
    try:
        main(["source", "--help"])
    except SystemExit as e:
        assert e.code == 0
    out = capsys.readouterr().out
    assert "--config" in out and "--set" in out and "urls.parquet" in out
