"""The `webtext` command: one entry point, a subcommand per stage and flow.

Each subcommand lives in its stage's package as a pair of functions,
`add_arguments_<name>(parser)` and `run_<name>(args, config) -> int`, so that argument parsing,
progress bars and logging stay out of stage logic (docs/design.md, "Conventions" 7). Stage CLI
modules import their heavy libraries (torch, scrapy, prefect) inside `run_<name>`, so `--help`
is fast.

Exit codes: 0 done, 1 the stage did not finish (incl. a full disk or a read-only build folder,
printed as one line with the path), 2 bad input (`UsageError`), 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from webtext.config import ConfigError, load_config
from webtext.errors import StageError, UsageError, disk_error_message

# name, module, what it reads and writes
COMMANDS: list[tuple[str, str, str]] = [
    ("source", "webtext.crawl.source_command",
     "read Reddit dumps/listings; write urls.parquet and source_stats.json"),
    ("crawl", "webtext.crawl.cli",
     "read urls.parquet; fetch with Scrapy; write warc/*.warc.gz, fetch.parquet, linkrot.json"),
    ("clean", "webtext.clean.cli",
     "read warc/ + fetch.parquet; write docs/*.parquet (text, language, quality signals)"),
    ("import-warc", "webtext.clean.warcimport",
     "read WARC files (any crawler's); write a CDXJ index and fetch.parquet for clean"),
    ("inspect", "webtext.clean.cli",
     "read docs/; show a sample of documents failing a rule, with their signal values"),
    ("dedup", "webtext.dedup.cli",
     "read docs/; write dedup.parquet (exact + MinHash LSH clusters, contamination)"),
    ("tokenize", "webtext.tokenize.cli",
     "read docs/ + dedup.parquet and a recipe; write tokens/<recipe>/ (SentencePiece, Parquet)"),
    ("train", "webtext.train.cli",
     "read tokens/<recipe>/; write a run dir (checkpoints, metrics.jsonl, samples)"),
    ("generate", "webtext.train.cli", "read a run dir; print text sampled from its model"),
    ("build", "webtext.flows.cli",
     "Prefect flow: source -> crawl -> clean -> dedup -> tokenize into one build dir"),
    ("ablate", "webtext.flows.cli",
     "Prefect flow: train one model per recipe x seed on one build; write results + plot"),
    ("stats", "webtext.flows.cli",
     "read a build dir; print the funnel; write stats.json and report.html"),
    ("serve", "webtext.flows.cli", "serve the build flow on a cron schedule (Prefect server)"),
    ("demo", "webtext.flows.cli",
     "offline demo on the generated fixture world: build, ablate, stats"),
    ("eval", "webtext.evals.cli",
     "read a run dir and [eval] suites; write eval.json and per-item scores beside the run"),
    ("lm-eval", "webtext.evals.lm_eval_adapter",
     "lm-evaluation-harness's CLI with the `webtext` model registered (--model webtext "
     "--model_args run=RUN_DIR --tasks ...)"),
    ("runs", "webtext.evals.cli",
     "read DATA_ROOT/registry/; list and compare the recorded runs (DuckDB)"),
    ("world", "webtext.world.cli",
     "write the generated fixture world (dumps in every format) to a folder"),
]


def _lookup(module_name: str, name: str) -> tuple[Callable | None, Callable]:
    """The subcommand's `add_arguments_<name>` (optional) and `run_<name>` functions."""
    attr = name.replace("-", "_")
    module = importlib.import_module(module_name)
    return getattr(module, f"add_arguments_{attr}", None), getattr(module, f"run_{attr}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="webtext",
        description="Build WebText-style corpora from Reddit links and measure what data "
        "quality does to a GPT-2. Every subcommand takes --config FILE.toml and repeatable "
        "--set section.key=value overrides, and writes the resolved config beside its output.",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name, help_text in COMMANDS:
        add, run = _lookup(module_name, name)
        p = subs.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--config", type=Path, help="TOML config file (defaults if omitted)")
        p.add_argument(
            "--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
            help="override one config value, type-checked (repeatable)",
        )
        if add is not None:
            add(p)
        p.set_defaults(_run=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if getattr(args, "harness_args", None) is not None:  # `lm-eval`: every other flag is lm-eval's
        args.harness_args = unknown + args.harness_args
    elif unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("httpx", "httpcore", "matplotlib", "asyncio"):  # one line per HTTP call
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        config = load_config(args.config, args.set)
    except ConfigError as e:
        print(f"webtext {args.command}: {e}", file=sys.stderr)
        return 2
    try:
        return int(args._run(args, config) or 0)
    except UsageError as e:
        print(f"webtext {args.command}: {e}", file=sys.stderr)
        return 2
    except StageError as e:
        print(f"webtext {args.command}: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        # A full disk or a read-only build folder is the user's to fix, not a bug: one line
        # with the path (webtext.io attaches it where the library did not), no traceback.
        message = disk_error_message(e)
        if message is None:
            raise
        print(f"webtext {args.command}: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"webtext {args.command}: interrupted; re-run the same command to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
