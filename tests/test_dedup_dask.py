"""The scale path: the sharded band-bucket join on Dask gives the in-process clusters.

One LocalCluster (127.0.0.1, two worker processes) serves the module; each build runs once
with the band join in this process (backend "local", the default) and once with the Dask
join, and the outputs must be the same bytes.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from test_dedup_stage import write_docs_rows

from webtext.dedup.config import DedupConfig
from webtext.dedup.stage import run as run_dedup
from webtext.layout import BuildLayout
from webtext.records import doc_id
from webtext.world.spec import World
from webtext.world.text import prose_paragraphs, small_edit

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def scheduler():
    from webtext.dedup.scale import dask_client

    with dask_client("", n_workers=2) as client:
        info = client.scheduler_info()
        assert len(info["workers"]) == 2
        assert client.scheduler.address.startswith("tcp://127.0.0.1:")
        yield client.scheduler.address


def _write(root: Path, rows: list[dict], shards: int) -> BuildLayout:
    return write_docs_rows(root, rows, shards)


def _both(tmp: Path, name: str, rows: list[dict], shards: int, scheduler: str,
          previous: list[Path] | None = None, **cfg):
    """Run the same docs through both backends; return the two layouts and stats."""
    base = dict(workers=1, report_thresholds=[0.5, 0.8], discover_previous=False, **cfg)
    local = _write(tmp / "local" / name, rows, shards)
    dsk = _write(tmp / "dask" / name, rows, shards)
    prev_l = [tmp / "local" / p for p in previous or []]
    prev_d = [tmp / "dask" / p for p in previous or []]
    s_local = run_dedup(local, DedupConfig(**base), previous=prev_l)
    s_dsk = run_dedup(dsk, DedupConfig(**base, backend="dask", dask_scheduler=scheduler,
                                         partitions=3), previous=prev_d)
    return local, dsk, s_local, s_dsk


def test_dask_join_equals_local_on_the_fixture_world(tmp_path, scheduler):
    world = World(0)
    rows = [{"doc_id": doc_id(p.url), "karma": 10, "text": p.body, "n_chars": len(p.body)}
            for p in world.pages]
    local, dsk, s_local, s_dsk = _both(tmp_path, "w", rows, 3, scheduler)
    assert local.dedup.read_bytes() == dsk.dedup.read_bytes()
    res = {r["doc_id"]: r for r in pq.read_table(dsk.dedup).to_pylist()}
    for urls in world.expected()["syndication_groups"].values():
        assert len({res[doc_id(u)]["cluster_id"] for u in urls}) == 1
    assert s_dsk["lsh"]["backend"] == "dask"
    assert [r["duplicates"] for r in s_local["threshold_report"]] == \
        [r["duplicates"] for r in s_dsk["threshold_report"]]
    assert (dsk.dedup_dir / ".join").exists() is False  # intermediate files are removed


def _generated(seed: int, n: int, start: int) -> list[dict]:
    """n originals with exact copies, light and heavy edits and partial overlaps."""
    paras = prose_paragraphs()
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        base = list(paras[(start + i * 5) % len(paras):][:5])
        text = "\n\n".join(base)
        rows.append({"doc_id": f"g{seed}-{i}", "karma": rng.randint(3, 50), "text": text,
                     "n_chars": len(text)})
        for j in range(rng.choice([0, 0, 1, 2, 3])):
            kind = rng.choice(["exact", "light", "heavy", "half"])
            if kind == "exact":
                t = text.upper()
            elif kind == "light":
                t = "\n\n".join(small_edit(p, rng, 1) for p in base)
            elif kind == "heavy":
                t = "\n\n".join(small_edit(p, rng, 10) for p in base)
            else:
                t = "\n\n".join(base[:3] + [rng.choice(paras)])
            rows.append({"doc_id": f"g{seed}-{i}-{j}", "karma": rng.randint(3, 50),
                         "text": t, "n_chars": len(t)})
    rng.shuffle(rows)
    return rows


def test_dask_join_equals_local_on_a_generated_corpus_with_a_previous_snapshot(
        tmp_path, scheduler):
    old = _generated(1, 120, 0)
    new = _generated(2, 150, 300)  # overlaps the old snapshot's paragraphs in part
    _both(tmp_path, "old", old, 2, scheduler)
    local, dsk, s_local, s_dsk = _both(tmp_path, "new", new, 4, scheduler, previous=["old"])
    assert local.dedup.read_bytes() == dsk.dedup.read_bytes()
    assert s_local["dup_near"] > 10 and s_local["dup_exact"] > 5  # the corpus has duplicates
    assert s_local["dup_earlier_snapshot"] > 0
    for key in ("kept", "dup_exact", "dup_near", "dup_earlier_snapshot"):
        assert s_local[key] == s_dsk[key]
    reports = [json.loads((x.dedup_dir / ".thresholds.json").read_text()) for x in (local, dsk)]
    assert [r["duplicates"] for r in reports[0]] == [r["duplicates"] for r in reports[1]]
