"""`webtext dedup BUILD_DIR`: exact + MinHash LSH clusters, decontamination, threshold report.

Reads BUILD_DIR/docs/*.parquet (and --eval-docs, a Parquet file with doc_id and text columns);
writes BUILD_DIR/dedup.parquet, BUILD_DIR/dedup/ (signatures, threshold report, done marker),
BUILD_DIR/dedup_stats.json (counts, LSH layout, overlap report, threshold report) and
BUILD_DIR/configs/dedup.toml. The summary names the earlier builds whose documents counted as
earlier snapshots, and says which signature shards were reused from an earlier run (all of
them, and nothing recomputed, when no input changed since: see `webtext.dedup.stage.run`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from webtext.errors import UsageError


def add_arguments_dedup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("build_dir", type=Path, help="build directory holding docs/")
    parser.add_argument("--eval-docs", type=Path, default=None,
                        help="Parquet file (doc_id, text) of evaluation documents: training "
                             "documents sharing a 13-gram with them are marked contaminated")
    parser.add_argument("--thresholds", default=None,
                        help="comma-separated thresholds of the duplicate-rate report, "
                             "e.g. 0.5,0.6,0.7 (default: dedup.report_thresholds)")
    parser.add_argument("--previous", "--against", dest="previous", type=Path,
                        action="append", default=[],
                        help="an earlier build to dedup against (repeatable). Without it only "
                             "a snapshot of a scheduled corpus (DATA_ROOT/snapshots/<time>/) "
                             "has earlier builds: the finished snapshots before it, unless "
                             "dedup.discover_previous is false")
    parser.add_argument("--backend", choices=["local", "dask"], default=None,
                        help="shorthand for --set dedup.backend=...: the band join in this "
                             "process (local, the default) or sharded on Dask (the same "
                             "clusters)")
    parser.add_argument("--workers", type=int, default=None,
                        help="shorthand for --set dedup.workers=N: processes computing "
                             "signatures")


def _eval_texts(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    if not path.is_file():
        raise UsageError(f"--eval-docs: no such file: {path}")
    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises several types for a non-Parquet file
        raise UsageError(f"--eval-docs: cannot read {path} as Parquet: {e}") from None
    if "text" not in table.column_names:
        raise UsageError(f"--eval-docs: {path} has no `text` column")
    return [t or "" for t in table.column("text").to_pylist()]


def run_dedup(args: argparse.Namespace, config) -> int:
    from rich.progress import Progress

    from webtext.dedup.stage import run
    from webtext.layout import BuildLayout, resume_note
    from webtext.stage import Progress as Event

    if not Path(args.build_dir).is_dir():
        raise UsageError(f"no such build directory: {args.build_dir}")
    update: dict = {}
    if args.thresholds:
        try:
            update["report_thresholds"] = [float(x) for x in args.thresholds.split(",") if x]
        except ValueError:
            raise UsageError(f"--thresholds: not a list of numbers: {args.thresholds}") from None
    if args.backend:
        update["backend"] = args.backend
    if args.workers is not None:
        update["workers"] = args.workers
    # validate the overrides exactly as the config file's values are validated
    from pydantic import ValidationError

    try:
        cfg = type(config.dedup).model_validate(config.dedup.model_dump() | update)
    except ValidationError as e:
        raise UsageError(f"invalid option: {e.errors()[0]['msg']}") from None
    eval_texts = _eval_texts(args.eval_docs) if args.eval_docs else None
    layout = BuildLayout(args.build_dir)
    with Progress(transient=True) as bar:
        tasks: dict[str, int] = {}

        def progress(event: Event) -> None:
            if event.phase not in tasks:
                tasks[event.phase] = bar.add_task(event.phase, total=event.total or None)
            bar.update(tasks[event.phase], completed=event.done, total=event.total or None)

        stats = run(layout, cfg, progress, eval_texts=eval_texts, previous=args.previous)
    earlier = ", ".join(_build_name(Path(b), layout.root) for b in stats["previous_builds"])
    print(f"dedup: {stats['docs']} docs, {stats['kept']} kept, {stats['dup_exact']} exact, "
          f"{stats['dup_near']} near, {stats['dup_earlier_snapshot']} earlier-snapshot "
          f"duplicates ({f'of {earlier}' if earlier else 'no earlier build'}), "
          f"{stats['contaminated']} contaminated -> {layout.dedup}")
    for skipped in stats["previous_skipped"]:
        print(f"dedup: earlier build {_build_name(Path(skipped['build']), layout.root)} not "
              f"used: {skipped['reason']}")
    for line in resume_note(stats["resume"], "signature shard", f"delete {layout.dedup_dir} "
                            "or change the config/version to redo them"):
        print(f"dedup: {line}")
    return 0


def _build_name(build: Path, me: Path) -> str:
    """An earlier build as the user knows it: relative to this build's data root
    (snapshots/2026-...), else its full path."""
    root = Path(me).resolve().parent.parent
    try:
        return Path(build).resolve().relative_to(root).as_posix()
    except ValueError:
        return str(build)
