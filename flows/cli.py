"""CLI of the flows: build, ablate, stats, serve and the offline demo."""

from __future__ import annotations

import argparse
from pathlib import Path

from webtext.config import WebtextConfig


def add_arguments_stats(p: argparse.ArgumentParser) -> None:
    p.add_argument("build_dir", type=Path, help="build directory to describe")
    p.add_argument("--no-prefect", action="store_true",
                   help="only print and write the files; do not publish Prefect artifacts")


def run_stats(args: argparse.Namespace, config: WebtextConfig) -> int:
    from rich.console import Console

    from webtext.errors import UsageError
    from webtext.flows.report import terminal_tables
    from webtext.layout import BuildLayout

    layout = BuildLayout(args.build_dir)
    if not layout.stats("source").exists() and not layout.urls.exists():
        raise UsageError(f"{layout.root} is not a build directory (no source_stats.json)")
    if args.no_prefect:
        from webtext.flows.statsflow import write_stats

        stats, _ = write_stats(layout)
    else:
        from webtext.flows.server import prefect_api
        from webtext.flows.statsflow import stats_flow

        with prefect_api():
            stats = stats_flow(str(layout.root))
    console = Console()
    for table in terminal_tables(stats):
        console.print(table)
    console.print(f"report: {layout.report_html}\nstats:  {layout.stats_json}")
    if not stats["adds_up"]:
        console.print("[red]some funnel steps do not add up[/red]")
        return 1
    return 0


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
    from webtext.flows.server import prefect_api

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
    from webtext.flows.server import prefect_api

    with prefect_api():
        result = run_ablation(config, build_dir)
    console = Console()
    console.print(result["table"])
    console.print(f"results: {result['dir']}")
    return 0


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
    from webtext.flows.report import linkrot_recovery_table, terminal_tables

    console = Console()
    console.print("[bold]webtext demo[/bold]: the whole pipeline, offline, on the generated "
                  "fixture world")
    from webtext.flows.server import prefect_api

    console.print("starting a local Prefect server for the demo's flows ...")
    with prefect_api() as api:
        console.print(f"Prefect API: {api}")
        result = demo(config, args.out, console)
    console.rule("results")
    for table in terminal_tables(result["stats"])[:1]:
        console.print(table)
    recovery = linkrot_recovery_table(result["stats"])  # link rot, with archive recovery
    if recovery is not None:
        console.print(recovery)
    console.print(result["ablation"]["table"])
    layout = result["layout"]
    console.print(f"report:   {layout.report_html}\nablation: {result['ablation']['dir']}\n"
                  f"wall time: {result['seconds']:.0f} s")
    return 0
