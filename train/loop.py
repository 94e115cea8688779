"""The training loop: train a GPT-2 on a tokens dir until a token budget is spent.

In:  a tokens dir (contract tokens/<name>/), a run dir, a `TrainConfig`; optionally a second
     tokens dir whose val split is the evaluation set (the ablation's shared held-out set).
Out: the run dir (contract runs/<run>/): ckpt.pt, metrics.jsonl (one line per logged step and
     per evaluation), config.toml (the resolved `[train]` table), samples.txt, summary.json,
     and a copy of tokenizer.model so the run is self-contained.

One flat loop in nanoGPT's shape: AdamW with decoupled weight decay, linear warmup then cosine
decay to min_lr (GPT-3 paper, appendix B), gradient accumulation, gradient clipping, evaluation
every `eval_every` steps. The stopping rule is tokens seen (`max_tokens`), so data variants are
compared at equal compute. DDP runs under `torchrun` (the env vars RANK/WORLD_SIZE select it):
gloo on CPU, NCCL on CUDA. Batches are a pure function of (seed, step, micro-batch) and the
checkpoint holds every other piece of state, so a resumed run repeats the uninterrupted one.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomli_w
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from webtext.errors import UsageError
from webtext.io import read_json, write_bytes, write_json
from webtext.train import data
from webtext.train.checkpoint import (
    CKPT_NAME,
    load_checkpoint,
    restore_rng_states,
    rng_states,
    save_checkpoint,
)
from webtext.train.config import TrainConfig
from webtext.train.metrics import bits_per_byte, measure_matmul_peak, model_flops_utilisation
from webtext.train.model import GPT, GPTConfig
from webtext.train.tokenizer import Tokenizer

log = logging.getLogger(__name__)

# Embedding rows padded to a multiple of 64 keep the output matmul on fast kernel shapes
# (nanoGPT pads GPT-2's 50257 to 50304 for a ~25% speedup); the extra ids never occur.
VOCAB_MULTIPLE = 64


def pick_device(setting: str) -> torch.device:
    if setting != "auto":
        return torch.device(setting)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def autocast_dtype(setting: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for fp32. See `TrainConfig.autocast` for the measurements."""
    if setting == "off":
        return None
    if setting == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    if device.type == "cpu":
        # Native bf16 units only: where oneDNN emulates bf16 (plain AVX512) it is slower.
        caps = torch.cpu.get_capabilities() if hasattr(torch.cpu, "get_capabilities") else {}
        return torch.bfloat16 if caps.get("avx512_bf16") or caps.get("amx_bf16") else None
    return None  # MPS: bf16 autocast support varies by macOS version


def get_lr(step: int, cfg: TrainConfig, warmup: int, max_steps: int) -> float:
    """Linear warmup, then cosine decay to min_lr at the last step (nanoGPT `get_lr`)."""
    if step < warmup:
        return cfg.lr * (step + 1) / (warmup + 1)
    if step >= max_steps:
        return cfg.min_lr
    ratio = (step - warmup) / max(1, max_steps - warmup)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (cfg.lr - cfg.min_lr)


@torch.no_grad()
def evaluate(
    model: GPT, batches: list, ctx: Any, bytes_per_token: float, distributed: bool,
) -> dict[str, float]:
    """Validation loss (nats/token) and bits per byte over fixed windows (summed over ranks)."""
    model.eval()
    device = next(model.parameters()).device
    totals = torch.zeros(2, dtype=torch.float64, device=device)  # loss sum, token count
    for x, y in batches:
        with ctx:
            _, loss_sum = model(x, y, reduction="sum")
        totals += torch.stack([loss_sum.double(), torch.tensor(y.numel(), device=device)])
    if distributed:
        dist.all_reduce(totals)
    model.train()
    loss_sum, n = float(totals[0]), int(totals[1])
    return {"val_loss": loss_sum / n,
            "val_bpb": bits_per_byte(loss_sum, n, bytes_per_token), "val_tokens": n}


def sample_texts(
    model: GPT, tokenizer: Tokenizer | None, eod_id: int, cfg: TrainConfig, step: int,
    ctx: Any,
) -> list[str]:
    """Texts sampled from an end-of-document prompt (GPT-2's unconditional samples).

    A generator of their own keeps sampling from moving the training RNG, so evaluating or not
    does not change the losses that follow.
    """
    if tokenizer is None or cfg.sample_count == 0:
        return []
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(cfg.seed * 1_000_003 + step)
    prompt = torch.full((cfg.sample_count, 1), eod_id, dtype=torch.long, device=device)
    model.eval()
    with ctx:
        out = model.generate(prompt, cfg.sample_tokens, cfg.temperature, cfg.top_k, gen)
    model.train()
    texts = []
    for row in out[:, 1:].tolist():
        if eod_id in row:
            row = row[: row.index(eod_id)]
        texts.append(tokenizer.decode(row))
    return texts


def _setup_distributed(device_setting: str) -> tuple[int, int, int, torch.device, bool]:
    """(rank, local_rank, world_size, device, initialised_here) from torchrun's env vars."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 0, 1, pick_device(device_setting), False
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_setting)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    created = not dist.is_initialized()
    if created:
        # Import before the group exists what DDP's constructor would import after it.
        # DDP imports torch._dynamo on first use; that import chain loads
        # torch.distributed.nn.functional, whose functions take `group.WORLD` as a default
        # argument, bound when the module is imported. Bound to our group, those defaults keep
        # it alive after destroy_process_group, so gloo's worker threads are never joined and
        # outlive the interpreter. A worker that frees the last collective's tensors while
        # Python shuts down must take the GIL; Python ends that thread instead, and the unwind
        # through a noexcept C++ destructor aborts the process ("terminate called without an
        # active exception", SIGABRT after a finished run). Imported first, they bind None.
        for name in ("torch._dynamo", "torch.distributed.nn.functional"):
            importlib.import_module(name)  # not `import torch...`: that would bind a local
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return rank, local_rank, world, device, created


def _param_digest(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, p in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(p.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _check_same_tokenizer(train_manifest: dict, eval_manifest: dict) -> None:
    a, b = train_manifest["tokenizer"], eval_manifest["tokenizer"]
    if a["sha256"] != b["sha256"]:
        raise UsageError(
            "the evaluation tokens dir uses another tokenizer "
            f"({b['sha256'][:12]} vs {a['sha256'][:12]}); losses would not be comparable")


def _check_same_model(ckpt_path: Path, model_args: dict) -> dict:
    """Refuse to resume with a model other than the checkpoint's; return its step and state.

    Runs before anything else on a resume, finished runs included: a finished run resumed with
    another shape would otherwise report the old run's summary as if it were the asked one.
    """
    saved = load_checkpoint(ckpt_path, mmap=True)  # tensors stay on disk: a cheap look
    # Dropout changes how the remaining steps train, not the weights, so it only matters while
    # steps are left.
    ignore = {"dropout"} if saved["finished"] else set()
    differ = [f"{key} {model_args.get(key)} != {saved['model_args'].get(key)}"
              for key in sorted(model_args.keys() | saved["model_args"].keys())
              if key not in ignore and model_args.get(key) != saved["model_args"].get(key)]
    if differ:
        raise UsageError(f"cannot resume with another model: {', '.join(differ)} in {ckpt_path} "
                         "(config != checkpoint); resume with the run's settings or pick "
                         "another run dir")
    return {"step": saved["step"], "tokens_seen": saved["tokens_seen"],
            "finished": saved["finished"]}


def _rewrite_log(path: Path, records: list[dict]) -> None:
    text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
    write_bytes(path, text.encode("utf-8"))


def _samples_text(records: list[dict]) -> str:
    parts = []
    for r in records:
        for i, text in enumerate(r.get("samples", [])):
            parts.append(f"=== step {r['step']} sample {i} ===\n{text}\n")
    return "\n".join(parts)


def train(
    tokens_dir: Path | str,
    out_dir: Path | str,
    train_config: TrainConfig,
    eval_tokens_dir: Path | str | None = None,
    resume: bool = False,
    on_record: Callable[[dict], None] | None = None,
) -> dict[str, Any]:
    """Train until `max_tokens` (or `stop_after_steps`); return the summary (also on disk).

    `resume=True` continues from `<out_dir>/ckpt.pt` when there is one (a finished run returns
    its summary); without it an existing checkpoint is an error rather than overwritten.
    `on_record` receives every metrics record, for progress display in the caller.
    """
    cfg = train_config
    tokens_dir, out_dir = Path(tokens_dir).resolve(), Path(out_dir).resolve()
    eval_dir = Path(eval_tokens_dir).resolve() if eval_tokens_dir else tokens_dir
    ckpt_path = out_dir / CKPT_NAME
    have_ckpt = ckpt_path.is_file()
    if have_ckpt and not resume:
        raise UsageError(f"{out_dir} already holds a checkpoint: pass --resume (resume=True) "
                         "to continue it, or pick another run dir")

    rank, _, world, device, created_group = _setup_distributed(cfg.device)
    master = rank == 0
    threads_before = torch.get_num_threads()
    if device.type == "cpu":
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
        # One thread per core, split between the processes of this machine: more threads than
        # cores make the CPU kernels spin against each other.
        torch.set_num_threads(cfg.threads or max(1, cores // local_world))
    try:
        return _train(cfg, tokens_dir, out_dir, eval_dir, ckpt_path, have_ckpt and resume,
                      rank, world, device, on_record if master else None)
    finally:
        torch.set_num_threads(threads_before)
        if created_group:
            dist.destroy_process_group()


def _train(
    cfg: TrainConfig, tokens_dir: Path, out_dir: Path, eval_dir: Path, ckpt_path: Path,
    resuming: bool, rank: int, world: int, device: torch.device,
    on_record: Callable[[dict], None] | None,
) -> dict[str, Any]:
    master, distributed = rank == 0, world > 1
    if cfg.grad_accum % world:
        raise UsageError(f"grad_accum {cfg.grad_accum} is not a multiple of {world} processes")
    accum = cfg.grad_accum // world  # micro-batches per process per step
    try:
        manifest, eval_manifest = data.read_manifest(tokens_dir), data.read_manifest(eval_dir)
    except data.TokensError as e:
        raise UsageError(str(e)) from None
    _check_same_tokenizer(manifest, eval_manifest)
    shape = cfg.model_shape()
    vocab = manifest["tokenizer"]["vocab_size"]
    model_args = dict(
        vocab_size=-(-vocab // VOCAB_MULTIPLE) * VOCAB_MULTIPLE, dropout=cfg.dropout,
        bias=cfg.bias, **shape)
    if resuming:  # every rank checks, so that all of them refuse together
        saved = _check_same_model(ckpt_path, model_args)
        if master and saved["finished"]:
            log.info("%s: already finished at step %d (tokens_seen %d), nothing to train",
                     ckpt_path, saved["step"], saved["tokens_seen"])
        elif master:
            log.info("resumed from step %d (tokens_seen %d): %s", saved["step"],
                     saved["tokens_seen"], ckpt_path)
    finished = None  # the summary of a run that already reached its budget
    if master:
        out_dir.mkdir(parents=True, exist_ok=True)
        summary_path = out_dir / "summary.json"
        if resuming and summary_path.is_file() and read_json(summary_path).get("finished"):
            finished = read_json(summary_path)
        # Derive the flat arrays once, before the other ranks open them.
        train_flat = data.derive_flat(tokens_dir, "train",
                                      data.cache_dir_for(tokens_dir, out_dir))
        val_flat = data.derive_flat(eval_dir, "val", data.cache_dir_for(eval_dir, out_dir))
    if distributed:
        box = [str(train_flat), str(val_flat), finished] if master else [None, None, None]
        dist.broadcast_object_list(box, src=0)
        train_flat, val_flat, finished = Path(box[0]), Path(box[1]), box[2]
    if finished is not None:
        return finished

    # ---- model and optimizer --------------------------------------------------------------
    block_size = shape["block_size"]
    torch.manual_seed(cfg.seed)  # same initial weights on every rank
    model = GPT(GPTConfig(**model_args)).to(device)
    optimizer = torch.optim.AdamW(
        model.param_groups(cfg.weight_decay), lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps,
        fused=device.type == "cuda")
    step, tokens_seen, records = 0, 0, []
    if resuming:
        ckpt = load_checkpoint(ckpt_path, map_location=device)  # its model was checked above
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        step, tokens_seen = ckpt["step"], ckpt["tokens_seen"]
        restore_rng_states(ckpt["rng"])
        # Records logged after the checkpoint belong to steps that will run again.
        metrics_path = out_dir / "metrics.jsonl"
        if metrics_path.is_file():
            lines = metrics_path.read_text(encoding="utf-8").splitlines()
            records = [r for r in map(json.loads, filter(None, lines)) if r["step"] <= step]
        del ckpt
    raw_model = model
    if cfg.compile:
        model = torch.compile(model)
    if distributed:
        model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)

    dtype = autocast_dtype(cfg.autocast, device)
    ctx = (torch.autocast(device_type=device.type, dtype=dtype) if dtype is not None
           else contextlib.nullcontext())

    # ---- data --------------------------------------------------------------------------------
    train_tokens = data.open_flat(train_flat)
    val_tokens = data.open_flat(val_flat)
    windows = data.TrainWindows(train_tokens, block_size, cfg.batch_size, cfg.seed)
    starts = data.val_starts(len(val_tokens), block_size, cfg.eval_windows)
    val = data.val_batches(val_tokens, starts[rank::world], block_size, cfg.batch_size, device)
    val_split = data.split_info(eval_dir, "val")
    eod_id = manifest["tokenizer"]["eod_id"]
    tokenizer = None
    tok_file = tokens_dir / manifest["tokenizer"]["file"]
    if master and tok_file.is_file():
        shutil.copyfile(tok_file, out_dir / "tokenizer.model")  # the run is self-contained
        tokenizer = Tokenizer(out_dir / "tokenizer.model")

    tokens_per_step = cfg.batch_size * block_size * cfg.grad_accum
    max_steps = max(1, math.ceil(cfg.max_tokens / tokens_per_step))
    warmup = (cfg.warmup_steps if cfg.warmup_steps is not None
              else int(cfg.warmup_fraction * max_steps))
    flops_per_token = raw_model.flops_per_token()
    peak = (cfg.peak_flops or measure_matmul_peak(device)) * world
    run_facts = {
        "tokens_dir": str(tokens_dir), "eval_tokens_dir": str(eval_dir),
        "tokenizer_sha256": manifest["tokenizer"]["sha256"], "eod_id": eod_id,
        "device": str(device), "autocast": str(dtype).replace("torch.", "") if dtype else "off",
        "world_size": world, "tokens_per_step": tokens_per_step, "max_steps": max_steps,
        "warmup_steps": warmup, "n_params": raw_model.num_params(),
        "flops_per_token": flops_per_token, "peak_flops": peak,
    }
    if master:
        toml = tomli_w.dumps({"train": cfg.model_dump(mode="json", exclude_none=True)})
        write_bytes(out_dir / "config.toml", toml.encode("utf-8"))
        _rewrite_log(out_dir / "metrics.jsonl", records)
        metrics = open(out_dir / "metrics.jsonl", "a", encoding="utf-8")  # noqa: SIM115

    def emit(record: dict) -> None:
        records.append(record)
        if master:
            metrics.write(json.dumps(record, sort_keys=True) + "\n")
            metrics.flush()
            if on_record is not None:
                on_record(record)

    def checkpoint(finished: bool) -> None:
        if not master:
            return
        save_checkpoint(out_dir / CKPT_NAME, {
            "model": raw_model.state_dict(), "optimizer": optimizer.state_dict(),
            "step": step, "tokens_seen": tokens_seen, "finished": finished,
            "rng": rng_states(), "data": {"seed": cfg.seed, "next_step": step},
            "model_args": model_args, "config": cfg.model_dump(mode="json"),
            "run": run_facts,
        })

    def run_eval() -> dict:
        result = evaluate(raw_model, val, ctx, val_split.bytes_per_token, distributed)
        record = {"kind": "eval", "step": step, "tokens_seen": tokens_seen, **result}
        n_evals = sum(r["kind"] == "eval" for r in records)
        if master and cfg.sample_every and n_evals % cfg.sample_every == 0:
            record["samples"] = sample_texts(raw_model, tokenizer, eod_id, cfg, step, ctx)
        emit(record)
        if master:
            write_bytes(out_dir / "samples.txt", _samples_text(records).encode("utf-8"))
        return record

    # ---- the loop ----------------------------------------------------------------------------
    ckpt_every = cfg.ckpt_every or cfg.eval_every
    start_time = time.perf_counter()
    train_time, tokens_at_start = 0.0, tokens_seen
    interval_time, interval_tokens = 0.0, 0  # since the last log line; excludes evaluation
    if step == 0:
        last_eval = run_eval()
    else:
        last_eval = next((r for r in reversed(records) if r["kind"] == "eval"), None)
    stopped_early = False
    while step < max_steps:
        t0 = time.perf_counter()
        lr = get_lr(step, cfg, warmup, max_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss_sum = torch.zeros((), device=device)
        for micro in range(accum):
            x, y = windows.batch(step, rank * accum + micro, device)
            if distributed:  # all-reduce gradients on the last micro-batch only
                model.require_backward_grad_sync = micro == accum - 1
            with ctx:
                _, loss = model(x, y)
            (loss / accum).backward()
            loss_sum += loss.detach()
        grad_norm = (torch.nn.utils.clip_grad_norm_(raw_model.parameters(), cfg.grad_clip)
                     if cfg.grad_clip > 0 else torch.zeros(()))
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        tokens_seen += tokens_per_step
        interval_tokens += tokens_per_step

        if step % cfg.log_every == 0 or step == max_steps:
            loss_mean = loss_sum / accum
            if distributed:
                dist.all_reduce(loss_mean, op=dist.ReduceOp.AVG)
            loss_value = float(loss_mean)  # waits for the device: the interval's time is real
            interval_time += time.perf_counter() - t0
            train_time += interval_time
            tps = interval_tokens / interval_time
            emit({"kind": "train", "step": step, "loss": loss_value, "lr": lr,
                  "grad_norm": float(grad_norm), "tokens_seen": tokens_seen,
                  "tokens_per_s": tps,
                  "mfu": model_flops_utilisation(flops_per_token, tps, peak)})
            interval_time, interval_tokens = 0.0, 0
        else:
            interval_time += time.perf_counter() - t0
        if step % cfg.eval_every == 0 or step == max_steps:
            last_eval = run_eval()
        if step == max_steps:
            break
        if cfg.stop_after_steps is not None and step >= cfg.stop_after_steps:
            stopped_early = True
            break
        if step % ckpt_every == 0:
            checkpoint(finished=False)
    train_time += interval_time

    finished = not stopped_early
    checkpoint(finished=finished)
    summary = {
        "final_val_loss": last_eval["val_loss"] if last_eval else None,
        "final_val_bpb": last_eval["val_bpb"] if last_eval else None,
        "final_step": step, "finished": finished, "tokens_seen": tokens_seen,
        "wall_time_s": time.perf_counter() - start_time,
        "tokens_per_s": (tokens_seen - tokens_at_start) / train_time if train_time else None,
        "model_args": model_args, **run_facts,
    }
    if distributed:  # every rank must end with the same weights; record it, don't assume it
        digests: list = [None] * world
        dist.all_gather_object(digests, _param_digest(raw_model))
        summary["rank_param_sha256"] = digests
    else:
        summary["rank_param_sha256"] = [_param_digest(raw_model)]
    if master:
        metrics.close()
        write_json(out_dir / "summary.json", summary)
    return summary
