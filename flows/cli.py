"""CLI of the flows: build, ablate, stats, serve and the offline demo."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from webtext.config import WebtextConfig


def add_arguments_stats(p: argparse.ArgumentParser) -> None:
    p.add_argument("build_dir", type=Path, help="build directory to describe")
    p.add_argument("--against", type=Path, default=None, metavar="OTHER_BUILD",
                   help="another build to compare with: what changed in each funnel step, "
                   "rule, domain and token count (in the page and the terminal)")
    p.add_argument("--no-prefect", action="store_true",
                   help="only print and write the files; do not publish Prefect artifacts")


def print_stats(console: Any, stats: dict[str, Any], page: Path, stats_json: Path | None = None,
                ablation: dict[str, Any] | None = None) -> None:
    """The headline tables, the ablation's results when given, and the page's path last."""
    from webtext.flows.report import terminal_tables

    for table in terminal_tables(stats):
        console.print(table)
    if ablation is not None:  # per suite: budgets, verdicts, words where suites disagree
        print_ablation(console, ablation)
    if stats_json is not None:
        console.print(f"stats:  {stats_json}")
    console.print(f"report: {page}")


def run_stats(args: argparse.Namespace, config: WebtextConfig) -> int:
    from rich.console import Console

    from webtext.errors import UsageError
    from webtext.layout import BuildLayout

    layout = BuildLayout(args.build_dir)
    if not layout.stats("source").exists() and not layout.urls.exists():
        raise UsageError(f"{layout.root} is not a build directory (no source_stats.json)")
    if args.against is not None and not args.against.is_dir():
        raise UsageError(f"--against {args.against}: no such build directory")
    if args.no_prefect:
        from webtext.flows.statsflow import write_stats

        stats, _ = write_stats(layout, args.against)
    else:
        from webtext.flows.prefect_api import prefect_api
        from webtext.flows.statsflow import stats_flow

        with prefect_api():
            stats = stats_flow(str(layout.root),
                               str(args.against) if args.against is not None else None)
    console = Console()
    if not stats["adds_up"]:
        console.print("[red]some funnel steps do not add up[/red]")
    print_stats(console, stats, layout.report_html, layout.stats_json)
    return 0 if stats["adds_up"] else 1


def _config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("config_file", nargs="?", type=Path, metavar="CONFIG",
                   help="TOML config (same as --config)")


def _resolve(args: argparse.Namespace, config: WebtextConfig) -> WebtextConfig:
    """`webtext build CONFIG` is `webtext build --config CONFIG`."""
    from webtext.config import load_config

    if getattr(args, "config_file", None) is not None:
        if args.config is not None and args.config != args.config_file:
            from webtext.errors import UsageError

            raise UsageError("give the config either as CONFIG or as --config, not both")
        return load_config(args.config_file, args.set)
    return config


def add_arguments_build(p: argparse.ArgumentParser) -> None:
    _config_arg(p)
    p.add_argument("--build-dir", type=Path, default=None,
                   help="build directory (default: build.data_root/build.name)")
    p.add_argument("--dask", metavar="ADDRESS", default=None,
                   help="run shard tasks on this Dask scheduler (e.g. tcp://127.0.0.1:8786)")
    p.add_argument("--previous", nargs="*", type=Path, default=[],
                   help="earlier builds whose documents this build is deduplicated against "
                   "(added to dedup.previous)")


def run_build(args: argparse.Namespace, config: WebtextConfig) -> int:
    from rich.console import Console

    from webtext.errors import UsageError
    from webtext.flows.build import run_build as build

    config = _resolve(args, config)
    if not config.source.dumps:
        raise UsageError("no dumps to read: set source.dumps in the config")
    build_dir = args.build_dir or Path(config.build.data_root) / config.build.name
    from webtext.flows.prefect_api import prefect_api

    with prefect_api():
        summary = build(config, build_dir, args.dask, previous=args.previous)
    Console().print(f"build finished: {build_dir} (tokens: {summary.get('tokens') or 'none'})")
    return 0


def add_arguments_ablate(p: argparse.ArgumentParser) -> None:
    _config_arg(p)
    p.add_argument("--build-dir", type=Path, default=None,
                   help="the finished build to ablate (default: build.data_root/build.name)")


def run_ablate(args: argparse.Namespace, config: WebtextConfig) -> int:
    from rich.console import Console

    from webtext.flows.ablate import run_ablation

    config = _resolve(args, config)
    build_dir = args.build_dir or Path(config.build.data_root) / config.build.name
    from webtext.flows.prefect_api import prefect_api

    with prefect_api():
        result = run_ablation(config, build_dir)
    console = Console()
    print_ablation(console, result["results"])
    console.print(f"results: {result['dir']}", highlight=False)
    return 0


def print_ablation(console: Any, results: dict[str, Any]) -> None:
    """The ablation for a terminal: budgets, one verdict table per suite (80 columns, no
    wrapping), budget warnings, the verdicts in words (saying where suites disagree), and
    where the registry is."""
    from webtext.flows.ablate import TABLE_LEGEND, terminal_tables

    for table in terminal_tables(results):
        console.print()
        console.print(table)
    console.print(TABLE_LEGEND, highlight=False)
    for warning in results.get("warnings", []):
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    for sentence in results.get("sentences", []):
        console.print(sentence, highlight=False)
    registry = results.get("registry") or {}
    if registry:
        console.print(f"registry: {registry['dir']} ({registry['command']})", highlight=False)


def add_arguments_serve(p: argparse.ArgumentParser) -> None:
    _config_arg(p)
    p.add_argument("--cron", default=None, help='cron schedule (default serve.cron, "0 3 * * *")')
    p.add_argument("--name", default="webtext-nightly", help="deployment name")
    p.add_argument("--overlap", choices=("skip", "enqueue"), default=None,
                   help="a run due while a snapshot of the same data root is still building is "
                   "cancelled (skip) or waits for it (enqueue); default serve.overlap, skip")


def run_serve(args: argparse.Namespace, config: WebtextConfig) -> int:
    from webtext.flows.serve import serve

    config = _resolve(args, config)
    if args.overlap is not None:
        config = config.model_copy(update={"serve": config.serve.model_copy(
            update={"overlap": args.overlap})})
    serve(config, args.cron or config.serve.cron, args.name)
    return 0


def add_arguments_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("demo-output"),
                   help="folder for the fixture world, the build and the ablation "
                   "(default ./demo-output)")


def run_demo(args: argparse.Namespace, config: WebtextConfig) -> int:
    """Offline demo on the generated fixture world: build -> ablation -> statistics."""
    from rich.console import Console

    from webtext.flows.demo import run_demo as demo
    from webtext.io import read_json

    console = Console()
    console.print("[bold]webtext demo[/bold]: the whole pipeline, offline, on the generated "
                  "fixture world")
    from webtext.flows.prefect_api import prefect_api

    console.print("starting a local Prefect server for the demo's flows ...")
    with prefect_api() as api:
        console.print(f"Prefect API: {api}")
        result = demo(config, args.out, console)
    console.rule("results")
    layout = result["layout"]
    ablation_dir = Path(result["ablation"]["dir"])
    console.print(f"ablation: {ablation_dir / 'report.html'}\n"
                  f"wall time: {result['seconds']:.0f} s")
    print_stats(console, result["stats"], layout.report_html,
                ablation=read_json(ablation_dir / "results.json"))
    return 0
