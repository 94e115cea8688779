"""The lineage registry: one table of every evaluated run, config -> data -> tokenizer -> run ->
metrics (docs/design.md, "Ablations").

In:  a run's lineage digests (`lineage` computes them from a run dir) and its eval.json.
Out: `DATA_ROOT/registry/<run_id>.parquet`, one file per recorded run, one row per suite
     scored: run_id, recorded_at, ablation, variant, seed, run_dir, config_digest,
     build_digest, tokens_digest (sha256 of the tokens manifest), tokenizer_digest, suite,
     suite_kind, suite_digest, n_items, bpb, bpb_se, nats_per_token, acc, acc_norm, metrics
     (every metric of the suite as JSON). The folder reads as one table
     (`pyarrow.dataset`, pandas, DuckDB `read_parquet('registry/*.parquet')`).

One file per run rather than one growing file: an append is an atomic write of a new file
(webtext.io), two ablations recording at once never lose each other's rows, and recording the
same run again replaces its own rows only.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from webtext.errors import UsageError
from webtext.io import file_sha256, write_parquet

REGISTRY_DIR = "registry"

REGISTRY_SCHEMA = pa.schema([
    ("run_id", pa.string()),
    ("recorded_at", pa.string()),  # UTC, ISO 8601
    ("ablation", pa.string()),
    ("variant", pa.string()),
    ("seed", pa.int64()),
    ("run_dir", pa.string()),
    ("config_digest", pa.string()),  # sha256 of the run's resolved config (sorted JSON)
    ("build_digest", pa.string()),  # sha256 of the build's dedup.parquet (every doc, kept or not)
    ("tokens_digest", pa.string()),  # sha256 of the tokens dir's manifest.json
    ("tokenizer_digest", pa.string()),  # sha256 of tokenizer.model
    ("suite", pa.string()),
    ("suite_kind", pa.string()),
    ("suite_digest", pa.string()),
    ("n_items", pa.int64()),
    ("bpb", pa.float64()),
    ("bpb_se", pa.float64()),
    ("nats_per_token", pa.float64()),
    ("acc", pa.float64()),
    ("acc_norm", pa.float64()),
    ("tokens_seen", pa.int64()),
    ("metrics", pa.string()),  # the suite's whole eval.json entry, as JSON
])

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def registry_dir(data_root: Path) -> Path:
    return Path(data_root) / REGISTRY_DIR


def config_digest(config: Mapping[str, Any]) -> str:
    """sha256 of a resolved config as sorted JSON: equal configs, equal digests."""
    text = json.dumps(config, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _sha_or_none(path: Path | None) -> str | None:
    return file_sha256(path) if path is not None and Path(path).is_file() else None


def lineage(run_dir: Path) -> dict[str, Any]:
    """The digests a run dir can tell about itself: its config, tokens manifest, tokenizer and
    the build its tokens came from (None where the run does not know; a transformers folder
    knows only its tokenizer)."""
    from webtext.train.checkpoint import CKPT_NAME, load_checkpoint

    run_dir = Path(run_dir)
    out: dict[str, Any] = {"config_digest": None, "build_digest": None, "tokens_digest": None,
                           "tokenizer_digest": _sha_or_none(run_dir / "tokenizer.model"),
                           "tokens_seen": None}
    if not (run_dir / CKPT_NAME).is_file():
        return out
    ckpt = load_checkpoint(run_dir / CKPT_NAME, mmap=True)
    run = ckpt.get("run") or {}
    out["config_digest"] = config_digest(ckpt.get("config") or {})
    out["tokens_seen"] = ckpt.get("tokens_seen")
    tokens_dir = Path(run["tokens_dir"]) if run.get("tokens_dir") else None
    if tokens_dir is not None:
        out["tokens_digest"] = _sha_or_none(tokens_dir / "manifest.json")
        if tokens_dir.parent.name == "tokens":
            out["build_digest"] = _sha_or_none(tokens_dir.parent.parent / "dedup.parquet")
    out["tokenizer_digest"] = out["tokenizer_digest"] or run.get("tokenizer_sha256")
    return out


def record_run(
    data_root: Path, run_id: str, run_dir: Path, eval_report: Mapping[str, Any], *,
    ablation: str | None = None, variant: str | None = None, seed: int | None = None,
    digests: Mapping[str, Any] | None = None,
) -> Path:
    """Append one run to the registry: a row per suite of `eval_report` (eval.json's content).

    `digests` overrides or completes what `lineage(run_dir)` finds (config_digest,
    build_digest, tokens_digest, tokenizer_digest, tokens_seen). Returns the file written.
    """
    if not run_id:
        raise UsageError("a registry record needs a run id")
    facts = {**lineage(run_dir), **(digests or {})}
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    rows = []
    for suite, m in sorted((eval_report.get("suites") or {}).items()):
        rows.append({
            "run_id": run_id, "recorded_at": now, "ablation": ablation, "variant": variant,
            "seed": seed, "run_dir": str(run_dir),
            **{k: facts.get(k) for k in ("config_digest", "build_digest", "tokens_digest",
                                         "tokenizer_digest", "tokens_seen")},
            "suite": suite, "suite_kind": m.get("kind"), "suite_digest": m.get("digest"),
            "n_items": m.get("n_items"),
            **{k: m.get(k) for k in ("bpb", "bpb_se", "nats_per_token", "acc", "acc_norm")},
            "metrics": json.dumps(m, sort_keys=True, default=str),
        })
    if not rows:
        raise UsageError(f"{run_dir}: the evaluation report holds no suites to record")
    path = registry_dir(data_root) / f"{_SAFE.sub('_', run_id)}.parquet"
    write_parquet(path, pa.Table.from_pylist(rows, schema=REGISTRY_SCHEMA))
    return path


def query(data_root: Path, sql: str) -> tuple[list[str], list[tuple]]:
    """Run `sql` with DuckDB over the registry, visible as the view `registry`."""
    import duckdb

    folder = registry_dir(data_root)
    files = sorted(p for p in folder.glob("*.parquet") if not p.name.startswith("."))
    if not files:
        raise UsageError(f"{folder}: no runs recorded yet")
    con = duckdb.connect()
    try:
        # The files listed, not a glob: a `.tmp-*` file of a write in progress is left out.
        listed = ", ".join("'" + str(p).replace("'", "''") + "'" for p in files)
        con.execute(f"CREATE VIEW registry AS SELECT * FROM read_parquet([{listed}], "
                    "union_by_name = true)")
        try:
            cur = con.execute(sql)
        except duckdb.Error as e:
            raise UsageError(f"query failed: {str(e).splitlines()[0]}") from None
        columns = [d[0] for d in cur.description or []]
        return columns, cur.fetchall()
    finally:
        con.close()
