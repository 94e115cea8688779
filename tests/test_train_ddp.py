"""DDP: two CPU processes on gloo under torchrun (loopback only) train like one process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from webtext.train.config import TrainConfig
from webtext.train.fixture import write_text_tokens
from webtext.train.loop import train
from webtext.world.text import prose_paragraphs

# grad_accum 2 = one micro-batch per process; fp32 so the two runs differ only by the order
# in which gradients are summed.
CFG = dict(n_layer=1, n_head=2, n_embd=32, block_size=32, batch_size=4, grad_accum=2,
           max_tokens=5 * 4 * 2 * 32, eval_every=5, log_every=1, eval_windows=8,
           sample_count=0, peak_flops=1e11, warmup_steps=1, lr=3e-3, autocast="off")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(180)
def test_two_process_gloo_run_matches_one_process(tmp_path):
    tokens = write_text_tokens(tmp_path / "tok", list(prose_paragraphs()[:150]), vocab_size=400)
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
        "-m", "webtext.cli", "train", str(tokens), "--out", str(tmp_path / "ddp"),
    ]
    for key, value in CFG.items():
        cmd += ["--set", f"train.{key}={json.dumps(value)}"]
    env = os.environ | {"GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=170, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]

    ddp = json.loads((tmp_path / "ddp" / "summary.json").read_text())
    assert ddp["world_size"] == 2 and ddp["finished"]
    digests = ddp["rank_param_sha256"]
    assert len(digests) == 2 and digests[0] == digests[1]  # both ranks hold the same weights

    single = train(tokens, tmp_path / "single", TrainConfig(**CFG))
    assert ddp["tokens_seen"] == single["tokens_seen"]  # same tokens per step
    assert ddp["final_val_loss"] == pytest.approx(single["final_val_loss"], rel=1e-4)
    assert train_losses(tmp_path / "ddp") == pytest.approx(
        train_losses(tmp_path / "single"), rel=1e-4)


def train_losses(run_dir) -> list[float]:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").open()]
    return [r["loss"] for r in records if r["kind"] == "train"]


# Run under torchrun by the test below: train, then list the threads this process still has.
_THREADS_AFTER_TRAIN = """
import json, os, sys
from pathlib import Path
from webtext.train.config import TrainConfig
from webtext.train.loop import train
cfg = json.loads(sys.argv[3])
train(Path(sys.argv[1]), Path(sys.argv[2]), TrainConfig(**cfg))
names = sorted(Path(t, "comm").read_text().strip() for t in Path("/proc/self/task").iterdir())
Path(sys.argv[2], f"threads-{os.environ['RANK']}.json").write_text(json.dumps(names))
"""


@pytest.mark.timeout(180)
def test_gloo_threads_are_gone_when_training_returns(tmp_path):
    """destroy_process_group must really end the group: gloo worker threads alive at exit get
    killed while Python shuts down and abort the process (SIGABRT, "terminate called without an
    active exception"), about one run in four. The leak itself shows every time."""
    tokens = write_text_tokens(tmp_path / "tok", list(prose_paragraphs()[:150]), vocab_size=400)
    script = tmp_path / "threads_after_train.py"
    script.write_text(_THREADS_AFTER_TRAIN)
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
           str(script), str(tokens), str(out), json.dumps(CFG)]
    env = os.environ | {"GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=170, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for rank in (0, 1):
        names = json.loads((out / f"threads-{rank}.json").read_text())
        assert not [n for n in names if "gloo" in n], (rank, names)
