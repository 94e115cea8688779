"""`webtext world OUT_DIR`: write the generated fixture world's dumps and description, and its
offline evaluation sets (OUT_DIR/evalsets/, world/evalsets.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from webtext.config import WebtextConfig


def add_arguments_world(p: argparse.ArgumentParser) -> None:
    p.add_argument("out_dir", type=Path, help="folder for the dump files and world.json")
    p.add_argument("--seed", type=int, default=0, help="world seed (default 0)")


def run_world(args: argparse.Namespace, config: WebtextConfig) -> int:
    from webtext.world.dumps import write_world
    from webtext.world.evalsets import write_evalsets
    from webtext.world.spec import World

    files = write_world(World(args.seed), args.out_dir)
    files += write_evalsets(args.out_dir / "evalsets", seed=args.seed)
    for f in files:
        print(f)
    print(args.out_dir / "world.json")
    return 0
