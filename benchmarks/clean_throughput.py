"""Throughput of the whole clean stage against bare `trafilatura.extract`, same run, same pages.

The pages: content pages of the fixture world (seeds 0, 1, 2, ... until --pages, so no page
repeats), written as the mini-web serves them into --shards WARC files with fetch.parquet and
urls.parquet. Then, interleaved --repeats times (the machine is shared, so its speed drifts;
the best run of each is reported):
  1. baseline: `trafilatura.extract(body, url, **same options)` over the bodies held in
     memory, in a fresh process (clean/extract.py extract_baseline: the stage's options);
  2. the stage, 1 worker process: the stage's `run` (read WARC, sniff, decode, extract, language
     ID, every quality signal, write Parquet + markers + stats);
  3. the stage, 2 worker processes;
  4. the machine's own scaling, for reference: the baseline in 2 processes at once, half the
     pages each (what two cores give to two independent copies of trafilatura).
Both wall-clock pages/s and pages per CPU-second are printed: with other jobs on the machine,
CPU seconds say more about the cost of a page than wall time does. The machine's speed also
drifts by up to 1.5x between runs a few seconds apart, so besides the best run of each, the
ratios are taken within each round (bare, then 1 worker, then 2 workers, back to back) and
their median over the rounds is the figure checked against the targets.
The workers' fork server (which loads trafilatura and the language model once) is started by
a warm-up before the timings; its start time is printed on its own. Targets: stage with
1 worker >= 0.85x the baseline's pages/s, with 2 workers >= 1.7x.

    python benchmarks/clean_throughput.py [--pages 600] [--shards 8] [--repeats 2]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import statistics
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

from webtext.clean.config import CleanConfig
from webtext.clean.extract import extract_baseline
from webtext.clean.fixture import FETCHED_AT, Response, write_build
from webtext.clean.stage import run as clean_run
from webtext.world.spec import World, page_response


def corpus(n_pages: int) -> list[Response]:
    out: list[Response] = []
    seed = 0
    while len(out) < n_pages:
        for page in World(seed).pages:
            if page.paragraphs and len(out) < n_pages:
                status, headers, body = page_response(page)
                url = f"http://{page.host}/s{seed}{page.path}"
                out.append(Response(url, status, headers, body, page.kind))
        seed += 1
    return out


def _baseline_loop(responses: list[Response], config: CleanConfig, conn: Connection) -> None:
    conn.send("ready")  # imports done: the parent starts every process's loop at once
    conn.recv()
    start, cpu = time.perf_counter(), time.process_time()
    for r in responses:
        extract_baseline(r.body, r.url, config, FETCHED_AT)
    conn.send((time.perf_counter() - start, time.process_time() - cpu))


def baseline(responses: list[Response], config: CleanConfig, processes: int = 1,
             ) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of bare trafilatura over the pages, in fresh processes
    (`processes` of them at once, each with its share of the pages).

    Fresh, like the stage's workers: trafilatura memoises some text functions, so a process
    that has seen the pages before would run faster than either would on new pages.
    """
    ctx = mp.get_context("spawn")
    pipes, procs = [], []
    for i in range(processes):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_baseline_loop, args=(responses[i::processes], config, child))
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    for p in pipes:
        p.recv()  # ready
    start = time.perf_counter()
    for p in pipes:
        p.send("go")
    results = [p.recv() for p in pipes]
    wall = time.perf_counter() - start
    for proc in procs:
        proc.join()
    return wall, sum(c for _, c in results)


def stage(root: Path, config: CleanConfig, workers: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the workers and this process) of the whole stage."""
    from webtext.layout import BuildLayout

    layout = BuildLayout(root)
    shutil.rmtree(layout.docs_dir, ignore_errors=True)
    start, cpu = time.perf_counter(), time.process_time()
    stats = clean_run(layout, config, workers=workers)
    wall, own_cpu = time.perf_counter() - start, time.process_time() - cpu
    assert stats["complete"], stats
    return wall, own_cpu + stats["last_run"]["worker_cpu_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=600)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5,
                        help="interleaved repetitions; the best of each is reported")
    args = parser.parse_args()
    config = CleanConfig()
    responses = corpus(args.pages)
    n = len(responses)
    mb = sum(len(r.body) for r in responses) / 1e6
    load_before = os.getloadavg()

    runs: dict[str, list[tuple[float, float]]] = {"bare": [], "stage1": [], "stage2": [],
                                                  "bare2": []}
    with tempfile.TemporaryDirectory() as tmp:
        warm = write_build(Path(tmp) / "warm", responses[:1])
        start = time.perf_counter()
        clean_run(warm, config, workers=1)
        server_start = time.perf_counter() - start
        root = Path(tmp) / "build"
        write_build(root, responses, n_shards=args.shards)
        for _ in range(args.repeats):
            runs["bare"].append(baseline(responses, config))
            runs["stage1"].append(stage(root, config, workers=1))
            runs["stage2"].append(stage(root, config, workers=2))
            runs["bare2"].append(baseline(responses, config, processes=2))

    best = {name: (min(w for w, _ in r), min(c for _, c in r)) for name, r in runs.items()}
    bare_wall, bare_cpu = best["bare"]
    print(f"clean throughput: {n} pages ({mb:.1f} MB of HTML) in {args.shards} WARC shards, "
          f"{os.cpu_count()} CPUs, load average {load_before[0]:.1f} before / "
          f"{os.getloadavg()[0]:.1f} after (the machine is shared with other jobs); best of "
          f"{args.repeats} interleaved runs each")
    print(f"  fork server start (trafilatura + language model, once): {server_start:.2f} s")
    print("                             wall pages/s  vs bare |  pages/CPU-s  vs bare")
    labels = {"bare": "bare trafilatura.extract", "stage1": "clean stage, 1 worker",
              "stage2": "clean stage, 2 workers", "bare2": "bare, 2 processes"}
    for name, (wall, cpu) in best.items():
        print(f"  {labels[name]:<26} {n / wall:9.1f} {bare_wall / wall:8.2f}x | "
              f"{n / cpu:11.1f} {bare_cpu / cpu:8.2f}x")
    print("  all runs (wall s, CPU s): " + "; ".join(
        f"{name} " + ", ".join(f"({w:.1f}, {c:.1f})" for w, c in r) for name, r in runs.items()))
    per_core = [b[1] / s1[1] for b, s1 in zip(runs["bare"], runs["stage1"], strict=True)]
    per_core_wall = [b[0] / s1[0] for b, s1 in zip(runs["bare"], runs["stage1"], strict=True)]
    scaling = [s1[0] / s2[0] for s1, s2 in zip(runs["stage1"], runs["stage2"], strict=True)]
    machine = [b[0] / b2[0] for b, b2 in zip(runs["bare"], runs["bare2"], strict=True)]
    print("  per round, 1 worker vs bare (CPU): " + ", ".join(f"{r:.2f}x" for r in per_core)
          + "; (wall): " + ", ".join(f"{r:.2f}x" for r in per_core_wall)
          + "; 2 workers vs 1 worker (wall): " + ", ".join(f"{r:.2f}x" for r in scaling)
          + "; bare 2 processes vs 1 (wall): " + ", ".join(f"{r:.2f}x" for r in machine))
    med = statistics.median
    print(f"  median over rounds: 1 worker {med(per_core):.2f}x bare per core (CPU), "
          f"{med(per_core_wall):.2f}x (wall); 2 workers {med(scaling):.2f}x 1 worker (wall), "
          f"where the machine gives bare trafilatura {med(machine):.2f}x from a second "
          f"process. Targets: >= 0.85x and >= 1.7x.")


if __name__ == "__main__":
    main()
