"""Resuming a run: another model shape is refused, finished or not; the pickup is announced."""

from __future__ import annotations

import json
import logging

import pytest

from webtext.cli import main
from webtext.errors import UsageError
from webtext.train.config import TrainConfig
from webtext.train.fixture import write_text_tokens
from webtext.train.loop import train
from webtext.world.text import prose_paragraphs

# 4 optimizer steps of 2 x 2 windows of 32 tokens: enough for a checkpoint mid-run.
TINY = dict(n_layer=1, n_head=2, n_embd=32, block_size=32, batch_size=2, grad_accum=2,
            max_tokens=4 * 2 * 2 * 32, eval_every=2, log_every=1, eval_windows=4,
            sample_count=0, peak_flops=1e11, warmup_steps=1, lr=3e-3, autocast="off")
LOOP_LOG = "webtext.train.loop"


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    root = tmp_path_factory.mktemp("tokens")
    return write_text_tokens(root / "tok", list(prose_paragraphs()[:120]), vocab_size=400)


def run_files(run_dir) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run_dir.iterdir()) if p.is_file()}


def cli_args(tokens, run_dir, settings: dict) -> list[str]:
    args = ["train", str(tokens), "--out", str(run_dir), "--resume"]
    for key, value in settings.items():
        args += ["--set", f"train.{key}={json.dumps(value)}"]
    return args


def test_finished_run_with_another_shape_is_refused(tokens, tmp_path, capsys):
    run = tmp_path / "run"
    train(tokens, run, TrainConfig(**TINY))
    before = run_files(run)
    with pytest.raises(UsageError) as info:
        train(tokens, run, TrainConfig(**TINY | {"n_layer": 2}), resume=True)
    message = str(info.value)
    assert f"n_layer 2 != 1 in {run / 'ckpt.pt'}" in message and "\n" not in message
    assert "n_embd" not in message  # only the settings that differ are named
    # Through the CLI: the one-line error and exit 2, not "finished" and 0.
    assert main(cli_args(tokens, run, TINY | {"n_layer": 2, "n_embd": 64})) == 2
    err = capsys.readouterr().err
    assert err.startswith("webtext train: cannot resume with another model: ")
    assert "n_embd 64 != 32, n_layer 2 != 1 in " in err and err.count("\n") == 1
    assert "finished:" not in err  # the CLI's end-of-run line
    assert run_files(run) == before  # nothing written is touched


def test_stopped_run_with_another_shape_is_refused_before_any_write(tokens, tmp_path):
    run = tmp_path / "run"
    train(tokens, run, TrainConfig(**TINY | {"stop_after_steps": 2}))
    before = run_files(run)
    with pytest.raises(UsageError, match=r"block_size 64 != 32 in .*ckpt\.pt"):
        train(tokens, run, TrainConfig(**TINY | {"block_size": 64}), resume=True)
    assert run_files(run) == before


def test_finished_run_resumed_with_the_same_model_reports_its_summary(tokens, tmp_path, caplog):
    run = tmp_path / "run"
    summary = train(tokens, run, TrainConfig(**TINY))
    # Dropout shapes the steps still to run, and none are left: not a different model.
    with caplog.at_level(logging.INFO, logger=LOOP_LOG):
        again = train(tokens, run, TrainConfig(**TINY | {"dropout": 0.1}), resume=True)
    assert again == summary
    assert f"{run / 'ckpt.pt'}: already finished at step 4 (tokens_seen 512)" in caplog.text


def test_resume_says_from_which_step(tokens, tmp_path, caplog):
    run = tmp_path / "run"
    train(tokens, run, TrainConfig(**TINY | {"stop_after_steps": 3}))
    with caplog.at_level(logging.INFO, logger=LOOP_LOG):
        assert main(cli_args(tokens, run, TINY)) == 0
    picked_up = [r.getMessage() for r in caplog.records if "resumed from" in r.getMessage()]
    assert picked_up == [f"resumed from step 3 (tokens_seen 384): {run / 'ckpt.pt'}"]
    assert json.loads((run / "summary.json").read_text())["final_step"] == 4


def test_resume_of_a_stopped_run_with_other_dropout_is_refused(tokens, tmp_path):
    run = tmp_path / "run"
    train(tokens, run, TrainConfig(**TINY | {"stop_after_steps": 2}))
    with pytest.raises(UsageError, match=r"dropout 0\.1 != 0\.0 in "):
        train(tokens, run, TrainConfig(**TINY | {"dropout": 0.1}), resume=True)


@pytest.mark.parametrize("stop", [2, None], ids=["stopped", "finished"])
def test_resume_with_other_training_settings_is_refused(tokens, tmp_path, stop, capsys):
    """Another learning rate, budget or seed would make the resumed run another run than the
    one started (or report a finished run as if it were the asked one): refused, naming each
    setting, before anything is written."""
    run = tmp_path / "run"
    train(tokens, run, TrainConfig(**TINY | ({"stop_after_steps": stop} if stop else {})))
    before = run_files(run)
    other = {"lr": 1e-3, "max_tokens": 8 * 2 * 2 * 32, "seed": 7}
    assert main(cli_args(tokens, run, TINY | other)) == 2
    err = capsys.readouterr().err
    assert err.startswith("webtext train: cannot resume with other training settings: ")
    assert (f"lr 0.001 != 0.003, max_tokens 1024 != 512, seed 7 != 1337 in {run / 'ckpt.pt'}"
            in err and err.count("\n") == 1), err
    assert "init_from" in err
    assert run_files(run) == before
    # What may change on a resume: evaluation and logging cadence, the stop point.
    free = {"eval_every": 1, "log_every": 2}
    assert main(cli_args(tokens, run, TINY | free)) == 0
    assert json.loads((run / "summary.json").read_text())["final_step"] == 4
