"""The record a run leaves in its run dir: metrics.jsonl, samples.txt, config.toml, summary.json.

In:  metrics records from the training loop (`{"kind": "train", ...}` per logged step,
     `{"kind": "eval", ...}` per evaluation, samples inside the eval records), the resolved
     config, and the summary at the end.
Out: the run dir's metrics.jsonl (one sorted-key JSON line per record), samples.txt (every
     sample so far, by step), config.toml (the `[train]` table; `--config` reads it back) and
     summary.json (docs/design.md, "A run folder").

Only rank 0 writes; every rank keeps the records, so each knows the last evaluation. On a resume
the records of steps after the checkpoint are dropped: those steps run again and log again, so
metrics.jsonl ends up as the uninterrupted run's. The time spent training (evaluation excluded)
is measured here too, as tokens per second for the log lines and the summary.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import tomli_w

from webtext.io import read_json, write_bytes, write_json
from webtext.train.config import TrainConfig


class RunLog:
    """metrics.jsonl, samples.txt, config.toml and summary.json of one run dir."""

    def __init__(
        self, out_dir: Path, master: bool, on_record: Callable[[dict], None] | None = None,
    ) -> None:
        self.out_dir, self.master, self.on_record = Path(out_dir), master, on_record
        self.metrics_path = self.out_dir / "metrics.jsonl"
        self.records: list[dict] = []
        self._metrics: IO[str] | None = None

    def finished_summary(self) -> dict | None:
        """summary.json of a run that already reached its budget; None otherwise."""
        path = self.out_dir / "summary.json"
        if path.is_file() and read_json(path).get("finished"):
            return read_json(path)
        return None

    def resume_at(self, step: int) -> None:
        """Keep the records up to the checkpoint's step: later ones belong to steps run again."""
        if self.metrics_path.is_file():
            lines = self.metrics_path.read_text(encoding="utf-8").splitlines()
            self.records = [r for r in map(json.loads, filter(None, lines)) if r["step"] <= step]

    def start(self, config: TrainConfig) -> None:
        """Write config.toml and metrics.jsonl as far as the run got; open it for appending."""
        if not self.master:
            return
        toml = tomli_w.dumps({"train": config.model_dump(mode="json", exclude_none=True)})
        write_bytes(self.out_dir / "config.toml", toml.encode("utf-8"))
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in self.records)
        write_bytes(self.metrics_path, text.encode("utf-8"))
        self._metrics = open(self.metrics_path, "a", encoding="utf-8")  # noqa: SIM115

    @property
    def n_evals(self) -> int:
        return sum(r["kind"] == "eval" for r in self.records)

    @property
    def last_eval(self) -> dict | None:
        return next((r for r in reversed(self.records) if r["kind"] == "eval"), None)

    def emit(self, record: dict) -> dict:
        """Append one record (flushed: a crash loses no logged step); an eval rewrites samples."""
        self.records.append(record)
        if self.master and self._metrics is not None:
            self._metrics.write(json.dumps(record, sort_keys=True) + "\n")
            self._metrics.flush()
            if self.on_record is not None:
                self.on_record(record)
            if record["kind"] == "eval":
                write_bytes(self.out_dir / "samples.txt", self._samples_text().encode("utf-8"))
        return record

    def _samples_text(self) -> str:
        parts = []
        for r in self.records:
            for i, text in enumerate(r.get("samples", [])):
                parts.append(f"=== step {r['step']} sample {i} ===\n{text}\n")
        return "\n".join(parts)

    def finish(self, summary: dict[str, Any]) -> None:
        """Close metrics.jsonl and write summary.json (last: its presence means a whole run)."""
        self.close()
        if self.master:
            write_json(self.out_dir / "summary.json", summary)

    def close(self) -> None:
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None


class TrainClock:
    """Seconds spent in optimizer steps (evaluation and checkpoints excluded), and tokens/s.

    `lap()` at a log line gives the tokens/s since the previous one. On CUDA the time of a step
    is only real once the host has waited for the device, which reading the loss does; the
    loop reads it before `stop` at every log line.
    """

    def __init__(self) -> None:
        self.train_time = 0.0  # seconds over all finished laps
        self._lap_time, self._lap_tokens, self._t0 = 0.0, 0, 0.0

    def start(self) -> None:
        self._t0 = time.perf_counter()

    def stop(self, tokens: int) -> None:
        self._lap_time += time.perf_counter() - self._t0
        self._lap_tokens += tokens

    def lap(self) -> float:
        """Tokens per second since the last lap; starts the next one."""
        tokens_per_s = self._lap_tokens / self._lap_time
        self.train_time += self._lap_time
        self._lap_time, self._lap_tokens = 0.0, 0
        return tokens_per_s

    def total(self) -> float:
        """All the training time so far, the unfinished lap included."""
        return self.train_time + self._lap_time
