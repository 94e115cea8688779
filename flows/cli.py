"""CLI of the flows: build, ablate, stats, serve and the offline demo."""

from __future__ import annotations

import argparse
from pathlib import Path

from webtext.config import WebtextConfig


def add_arguments_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("demo-output"),
                   help="folder for the fixture world and the build (default ./demo-output)")


def run_demo(args: argparse.Namespace, config: WebtextConfig) -> int:
    """Offline demo on the generated fixture world (grows with each stage)."""
    from rich.console import Console

    from webtext.crawl.source_cli import funnel_table, run_source_stage
    from webtext.layout import BuildLayout
    from webtext.world.dumps import write_world
    from webtext.world.spec import World

    console = Console()
    world_dir = args.out / "world"
    console.print(f"[bold]webtext demo[/bold]: generating the fixture world in {world_dir}")
    write_world(World(0), world_dir)
    layout = BuildLayout(args.out / "build")
    stats = run_source_stage(layout, config, [str(world_dir / "dumps")])
    console.print(funnel_table(stats))
    console.print(f"urls: {layout.urls}  stats: {layout.stats('source')}")
    return 0
