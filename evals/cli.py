"""`webtext eval` and `webtext runs`: argument parsing and display only.

`webtext eval RUN_DIR --suite NAME [--suite NAME ...]` scores a finished run (or a local
transformers GPT-2 folder) on suites of the `[eval]` config and writes RUN_DIR/eval.json and
RUN_DIR/eval_items/<suite>.parquet (evals/evaluate.py); `--record` also appends the run to the
registry under `build.data_root`.
`webtext runs` lists the registry's runs (DATA_ROOT/registry/), `--compare` groups them by
suite and variant, `--sql` runs any DuckDB query over the view `registry`.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from webtext.errors import UsageError


def add_arguments_eval(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", type=Path, help="a run dir (ckpt.pt) or a transformers folder")
    p.add_argument("--suite", action="append", default=[], metavar="NAME", required=True,
                   help="a suite of [eval.suites] (repeatable)")
    p.add_argument("--no-decontam", action="store_true",
                   help="skip the 13-gram overlap check against the run's training documents")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--record", action="store_true",
                   help="append the run to the registry under build.data_root")
    p.add_argument("--run-id", default=None, help="registry run id (default: the run dir name)")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4f}"
    return "" if value is None else str(value)


def run_eval(args: argparse.Namespace, config) -> int:
    from rich.console import Console

    from webtext.evals.evaluate import evaluate_run

    if not args.run_dir.is_dir():
        raise UsageError(f"{args.run_dir}: not a folder")
    console = Console(soft_wrap=True)
    report = evaluate_run(args.run_dir, config.eval, args.suite, decontam=not args.no_decontam,
                          ngram=config.dedup.decontam_ngram, device=args.device)
    for name in args.suite:
        m = report["suites"][name]
        shown = [f"{k} {_fmt(m[k])}" for k in ("bpb", "bpb_se", "nats_per_token", "acc",
                                                 "acc_norm", "ppl") if m.get(k) is not None]
        console.print(f"{name} ({m['kind']}, {m['n_items']} items, {m['tokens']:,} tokens, "
                      f"{m['contaminated_items']} overlapping training): " + ", ".join(shown),
                      highlight=False)
    console.print(f"wrote {args.run_dir / 'eval.json'}", highlight=False)
    if args.record:
        from webtext.evals.registry import record_run

        path = record_run(Path(config.build.data_root), args.run_id or args.run_dir.name,
                          args.run_dir, report)
        console.print(f"recorded {path}", highlight=False)
    return 0


LIST_SQL = ("SELECT run_id, ablation, variant, seed, suite, n_items, bpb, nats_per_token, acc, "
            "acc_norm, recorded_at FROM registry{where} ORDER BY suite, variant, seed, run_id")
COMPARE_SQL = ("SELECT suite, variant, count(*) AS runs, avg(bpb) AS bpb, "
               "stddev_samp(bpb) AS bpb_sd, avg(nats_per_token) AS nats_per_token, "
               "avg(acc) AS acc, avg(acc_norm) AS acc_norm, "
               "count(DISTINCT suite_digest) AS suite_versions FROM registry{where} "
               "GROUP BY suite, variant ORDER BY suite, bpb, acc DESC")


def add_arguments_runs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", type=Path, default=None,
                   help="where registry/ lives (default: build.data_root)")
    p.add_argument("--suite", default=None, help="only this suite")
    p.add_argument("--ablation", default=None, help="only this ablation")
    p.add_argument("--compare", action="store_true",
                   help="mean and sd per suite and variant instead of one row per run")
    p.add_argument("--sql", default=None, help="a DuckDB query over the view `registry`")


def runs_sql(args: argparse.Namespace) -> str:
    """The query `webtext runs` runs for these arguments (filters quoted as literals)."""
    if args.sql:
        return args.sql
    conds = []
    for column in ("suite", "ablation"):
        value = getattr(args, column)
        if value is not None:
            conds.append(f"{column} = '" + value.replace("'", "''") + "'")
    where = (" WHERE " + " AND ".join(conds)) if conds else ""
    return (COMPARE_SQL if args.compare else LIST_SQL).format(where=where)


def run_runs(args: argparse.Namespace, config) -> int:
    from rich.console import Console
    from rich.table import Table

    from webtext.evals.registry import query

    data_root = args.data_root or Path(config.build.data_root)
    columns, rows = query(data_root, runs_sql(args))
    table = Table(title=f"{data_root}/registry ({len(rows)} rows)")
    for c in columns:
        table.add_column(c)
    for row in rows:
        table.add_row(*(_fmt(v) for v in row))
    Console(width=200).print(table)
    if args.compare and any(r[columns.index("suite_versions")] > 1 for r in rows
                            if "suite_versions" in columns):
        print("warning: some suites were scored in more than one version (suite_versions > 1): "
              "their runs are not comparable item for item")
    return 0
