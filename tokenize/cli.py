"""`webtext tokenize BUILD_DIR --recipe NAME [--tokenizer PATH] [--exclude FILE]`.

In:  a build directory with docs/ (and dedup.parquet when the recipe needs it), a recipe name.
Out: tokens/<recipe>-<digest8>/ (see webtext.tokenize.stage), the build's
     tokenize_<name>_stats.json, configs/tokenize.toml; a progress bar and a one-line summary.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from webtext.config import WebtextConfig


def add_arguments_tokenize(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("build_dir", type=Path, help="the build directory")
    parser.add_argument("--recipe", default="webtext",
                        help="recipe name from [recipes.*] or built in: raw, dedup_only, "
                        "quality_dedup, webtext (default webtext)")
    parser.add_argument("--tokenizer", type=Path, default=None,
                        help="reuse this tokenizer.model instead of training one; takes "
                        "the place of recipes.<NAME>.tokenizer for this run")
    parser.add_argument("--exclude", type=Path, default=None,
                        help="file of held-out doc ids (one per line) to leave out, besides "
                        "those of recipes.<NAME>.exclude_file")


def run_tokenize(args: argparse.Namespace, config: WebtextConfig) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from webtext.config import write_resolved
    from webtext.errors import UsageError
    from webtext.io import read_json
    from webtext.layout import BuildLayout, resume_note
    from webtext.records import TOKENS_MANIFEST_FILE
    from webtext.stage import Progress as StageProgress
    from webtext.tokenize import stage
    from webtext.tokenize.recipes import read_exclude_file

    if not args.build_dir.is_dir():
        raise UsageError(f"build directory {args.build_dir} not found")
    layout = BuildLayout(args.build_dir)
    exclude = read_exclude_file(args.exclude) if args.exclude is not None else None
    console = Console(stderr=True)

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("selecting documents", total=None)
        resume: dict = {}

        def show(p: StageProgress) -> None:
            if p.phase == "done" and "resume" in p.extra:
                resume.update(p.extra["resume"])
            if p.phase == "train":
                bar.update(task, description=f"training tokenizer ({p.detail}, "
                           f"{p.total} sample docs)", total=None)
            elif p.phase in ("encode", "shard"):
                bar.update(task, description="encoding" if p.phase == "encode"
                           else f"wrote {p.detail}", completed=p.done, total=p.total)

        stats = stage.run(layout, config.tokenize, show, recipe=args.recipe,
                          recipes=config.recipes, exclude_ids=exclude,
                          tokenizer_path=args.tokenizer)
    out = Path(stats["dir"])
    write_resolved(config, layout.config("tokenize"))
    m = read_json(out / TOKENS_MANIFEST_FILE)
    tr, va, st = m["splits"]["train"], m["splits"]["val"], m["stats"]
    console.print(
        f"tokenize {m['name']}: {m['selection']['selected']}/{m['selection']['read']} docs "
        f"selected; train {tr['docs']} docs {tr['tokens']} tokens, val {va['docs']} docs "
        f"{va['tokens']} tokens; {st['bytes_per_token']} bytes/token, byte fallback "
        f"{st['byte_fallback_rate']}, vocab used {st['vocab_used_share']} -> {out}"
    )
    for line in resume_note(resume, "token shard", f"delete {out} or change the recipe, "
                            "config or version to redo them"):
        console.print(f"tokenize: {line}")
    if va["docs"] == 0:
        console.print("warning: the val split is empty; raise tokenize.val_permille")
    print(out)
    return 0
