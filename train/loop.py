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

`_train` is the whole run in order: set-up, then one `while` over optimizer steps. The data side
is one object (`data.Batches`), the record of the run another (`runlog.RunLog`).
On CUDA (nanoGPT's choices): bf16 autocast, or fp16 with a gradient scaler where bf16 is
missing; fused AdamW; torch.compile (`compile`); optionally activation checkpointing per block
(`activation_checkpointing`) for the larger GPT-2 sizes. `init_from` starts from a local
transformers GPT-2 folder instead of random weights.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.utils.checkpoint
from torch.nn.parallel import DistributedDataParallel as DDP

from webtext.errors import UsageError
from webtext.train import data, hf
from webtext.train.checkpoint import (
    CKPT_NAME,
    load_checkpoint,
    restore_rng_states,
    rng_states,
    save_checkpoint,
)
from webtext.train.config import TrainConfig
from webtext.train.metrics import (
    bits_per_byte,
    dtype_name,
    model_flops_utilisation,
    peak_flops,
)
from webtext.train.model import GPT, GPTConfig
from webtext.train.runlog import RunLog, TrainClock
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
    if setting == "fp16":
        return torch.float16
    if device.type == "cuda":  # GPUs before Ampere (V100, T4) have fp16 tensor cores only
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
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


# The settings that decide which batches a run sees and how each step moves the weights (the
# data order, the step size in tokens, the learning-rate schedule over max_tokens, AdamW and
# clipping). A resumed run repeats the uninterrupted one only with the same values; evaluation,
# logging, checkpoint cadence, device, threads and stop_after_steps may change freely.
TRAJECTORY = ("seed", "batch_size", "grad_accum", "max_tokens", "lr", "min_lr", "warmup_steps",
              "warmup_fraction", "weight_decay", "betas", "eps", "grad_clip")


def _differences(ours: dict, theirs: dict, keys: Iterable[str]) -> list[str]:
    return [f"{key} {ours.get(key)} != {theirs.get(key)}" for key in sorted(keys)
            if ours.get(key) != theirs.get(key)]


def _check_same_model(ckpt_path: Path, model_args: dict, cfg: TrainConfig) -> dict:
    """Refuse to resume with a model, or training settings (TRAJECTORY), other than the
    checkpoint's; return its step and state.

    Runs before anything else on a resume, finished runs included: a finished run resumed with
    another shape, or another learning rate or budget, would otherwise report the old run's
    summary as if it were the asked one.
    """
    saved = load_checkpoint(ckpt_path, mmap=True)  # tensors stay on disk: a cheap look
    # Dropout changes how the remaining steps train, not the weights, so it only matters while
    # steps are left.
    ignore = {"dropout"} if saved["finished"] else set()
    differ = _differences(model_args, saved["model_args"],
                          (model_args.keys() | saved["model_args"].keys()) - ignore)
    if differ:
        raise UsageError(f"cannot resume with another model: {', '.join(differ)} in {ckpt_path} "
                         "(config != checkpoint); resume with the run's settings or pick "
                         "another run dir")
    differ = _differences(cfg.model_dump(mode="json"), saved.get("config", {}), TRAJECTORY)
    if differ:
        raise UsageError(
            f"cannot resume with other training settings: {', '.join(differ)} in {ckpt_path} "
            "(config != checkpoint): the resumed run would not be the one that was started; "
            "resume with the run's settings, or export its weights (webtext generate RUN "
            "--export-hf DIR) and start a new run dir with train.init_from=DIR")
    return {"step": saved["step"], "tokens_seen": saved["tokens_seen"],
            "finished": saved["finished"]}


def checkpoint_blocks(model: GPT) -> None:
    """Activation checkpointing: each block keeps only its input and reruns its forward in the
    backward pass (torch.utils.checkpoint), trading ~1/3 more compute for the activations.

    The blocks stay the same modules with the same parameter names, so checkpoints, export and
    evaluation do not see it. The non-reentrant form is the one PyTorch recommends (and the one
    torch.compile and DDP support); it replays each block's RNG state, so dropout masks match
    the plain forward's.
    """
    for block in model.transformer.h:
        block.forward = functools.partial(
            torch.utils.checkpoint.checkpoint, block.forward, use_reentrant=False)


def _load_init(folder: str, model_args: dict, vocab: int) -> GPT:
    """The weights of a transformers GPT-2 folder (`init_from`), refused unless its shape is
    the run's. The shape is read from config.json first, so a mismatch costs no weight loading
    (6 GB for gpt2-xl); `load_hf` refuses what is not a GPT-2 at all."""
    config_path = Path(folder) / "config.json"
    if config_path.is_file():
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except ValueError as e:
            raise UsageError(f"{config_path}: not valid JSON ({e})") from None
        if config.get("model_type") == "gpt2":
            _check_init_shape(folder, config, model_args, vocab)
    source, _ = hf.load_hf(Path(folder))
    return source


def _check_init_shape(folder: str, config: dict, model_args: dict, vocab: int) -> None:
    """The same layers, heads, width and positions, and a vocabulary that covers the
    tokenizer's and fits the padded one (it fills the first rows)."""
    names = {"n_layer": "n_layer", "n_head": "n_head", "n_embd": "n_embd",
             "block_size": "n_positions"}  # ours -> GPT2Config's
    differ = [f"{ours} {model_args[ours]} != {config.get(theirs)}"
              for ours, theirs in names.items() if model_args[ours] != config.get(theirs)]
    if not vocab <= config.get("vocab_size", -1) <= model_args["vocab_size"]:
        differ.append(f"vocab_size {config.get('vocab_size')} outside {vocab} (the "
                      f"tokenizer's) .. {model_args['vocab_size']} (padded to a multiple of "
                      f"{VOCAB_MULTIPLE})")
    if model_args["norm"] != "pre" or not model_args["bias"]:
        differ.append("a GPT-2 folder is pre-LN with biases (norm = 'pre', bias = true)")
    if differ:
        raise UsageError(f"init_from {folder}: {', '.join(differ)} (config != folder); set the "
                         "model's shape to the folder's")


def _copy_weights(source: GPT, model: GPT) -> None:
    """`source`'s weights into `model`; token rows past the source's vocabulary (the padding)
    keep their initialisation and never occur as ids."""
    theirs = source.state_dict()
    with torch.no_grad():
        for name, p in model.state_dict().items():  # shares storage with the parameters
            p[: theirs[name].shape[0]].copy_(theirs[name])


@dataclass(frozen=True)
class Process:
    """This process's place in the run: `rank` of `world` processes, on `device`."""

    rank: int
    world: int
    device: torch.device

    @property
    def master(self) -> bool:
        return self.rank == 0  # the one that writes the run dir

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def micro_batches(self, grad_accum: int) -> int:
        """This process's share of the micro-batches of one optimizer step."""
        if grad_accum % self.world:
            raise UsageError(f"grad_accum {grad_accum} is not a multiple of {self.world} "
                             "processes")
        return grad_accum // self.world


@dataclass(frozen=True)
class RunPaths:
    tokens_dir: Path
    eval_dir: Path  # the val split evaluated: the tokens dir's own, or the ablation's shared one
    out_dir: Path

    @property
    def ckpt(self) -> Path:
        return self.out_dir / CKPT_NAME


@dataclass
class TrainState:
    """The model as the loop drives it. `model` is what trains (compiled and DDP-wrapped when
    asked); `raw` is the GPT underneath, which evaluates, samples and is saved."""

    model: torch.nn.Module
    raw: GPT
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler  # fp16 only; otherwise disabled, and every call a no-op
    dtype: torch.dtype | None  # of autocast; None: fp32
    ctx: contextlib.AbstractContextManager  # autocast to `dtype` around forward passes
    compiled: bool
    distributed: bool


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
    tokens_dir = Path(tokens_dir).resolve()
    paths = RunPaths(tokens_dir, Path(eval_tokens_dir).resolve() if eval_tokens_dir
                     else tokens_dir, Path(out_dir).resolve())
    resuming = paths.ckpt.is_file()
    if resuming and not resume:
        raise UsageError(f"{paths.out_dir} already holds a checkpoint: pass --resume "
                         "(resume=True) to continue it, or pick another run dir")

    rank, _, world, device, created_group = _setup_distributed(cfg.device)
    proc = Process(rank, world, device)
    threads_before = torch.get_num_threads()
    if device.type == "cpu":
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
        # One thread per core, split between the processes of this machine: more threads than
        # cores make the CPU kernels spin against each other.
        torch.set_num_threads(cfg.threads or max(1, cores // local_world))
    try:
        return _train(cfg, paths, resuming, proc, on_record if proc.master else None)
    finally:
        torch.set_num_threads(threads_before)
        if created_group:
            dist.destroy_process_group()


def _train(
    cfg: TrainConfig, paths: RunPaths, resuming: bool, proc: Process,
    on_record: Callable[[dict], None] | None,
) -> dict[str, Any]:
    """Set up, then one loop over optimizer steps: nanoGPT's train.py, top to bottom.

    About 80 lines on purpose: set-up and loop side by side are the trainer a reader follows in
    one go; every step that is more than a line is a function below.
    """
    # ---- data, model, optimizer, run dir ------------------------------------------------------
    accum = proc.micro_batches(cfg.grad_accum)
    manifest = _read_manifests(paths)
    model_args = _model_args(cfg, manifest["tokenizer"]["vocab_size"])
    init = None  # a resumed run takes its weights from the checkpoint, not from init_from
    if resuming:  # every rank checks, so that all of them refuse together
        _announce_resume(paths.ckpt, _check_same_model(paths.ckpt, model_args, cfg),
                         proc.master)
    elif cfg.init_from:  # loaded and checked before anything is written
        init = _load_init(cfg.init_from, model_args, manifest["tokenizer"]["vocab_size"])
    runlog = RunLog(paths.out_dir, proc.master, on_record)
    train_flat, val_flat, finished = _prepare_run_dir(paths, proc, runlog if resuming else None)
    if finished is not None:
        return finished
    state, step, tokens_seen = _build(cfg, model_args, proc, init, resuming, paths.ckpt)
    if resuming:
        runlog.resume_at(step)
    batches = data.Batches(
        train_flat, val_flat, data.split_info(paths.eval_dir, "val"),
        block_size=model_args["block_size"], batch_size=cfg.batch_size, seed=cfg.seed,
        eval_windows=cfg.eval_windows, accum=accum, rank=proc.rank, world=proc.world,
        device=proc.device)
    tokenizer = _copy_tokenizer(paths, manifest, proc.master)  # for the samples
    tokens_per_step, max_steps, warmup = _schedule(cfg, model_args["block_size"])
    run_facts = _run_facts(cfg, paths, manifest, proc, state, tokens_per_step, max_steps,
                           warmup)
    ckpt_meta = {"model_args": model_args, "config": cfg.model_dump(mode="json"),
                 "run": run_facts}
    runlog.start(cfg)

    # ---- the loop ---------------------------------------------------------------------------
    ckpt_every = cfg.ckpt_every or cfg.eval_every
    start_time, tokens_at_start, clock = time.perf_counter(), tokens_seen, TrainClock()
    sample = functools.partial(sample_texts, state.raw, tokenizer,
                               manifest["tokenizer"]["eod_id"], cfg, ctx=state.ctx)
    if step == 0:
        _evaluate(state, batches, runlog, cfg, sample, step, tokens_seen)
    stopped_early = False
    while step < max_steps:
        clock.start()
        lr = get_lr(step, cfg, warmup, max_steps)
        for group in state.optimizer.param_groups:
            group["lr"] = lr
        loss, grad_norm = _train_step(state, batches, step, accum, cfg.grad_clip)
        step += 1
        tokens_seen += tokens_per_step
        if step % cfg.log_every == 0 or step == max_steps:
            loss_value = _mean_over_ranks(loss, state.distributed)  # waits for the device
            clock.stop(tokens_per_step)
            tokens_per_s = clock.lap()
            mfu = model_flops_utilisation(run_facts["flops_per_token"], tokens_per_s,
                                          run_facts["peak_flops"])
            runlog.emit({"kind": "train", "step": step, "loss": loss_value, "lr": lr,
                         "grad_norm": float(grad_norm), "tokens_seen": tokens_seen,
                         "tokens_per_s": tokens_per_s, "mfu": mfu})
        else:
            clock.stop(tokens_per_step)
        if step % cfg.eval_every == 0 or step == max_steps:
            _evaluate(state, batches, runlog, cfg, sample, step, tokens_seen)
        if step == max_steps:
            break
        if cfg.stop_after_steps is not None and step >= cfg.stop_after_steps:
            stopped_early = True
            break
        if step % ckpt_every == 0 and proc.master:
            _save(paths.ckpt, state, step, tokens_seen, ckpt_meta, finished=False)

    # ---- the end: checkpoint and summary ------------------------------------------------------
    if proc.master:
        _save(paths.ckpt, state, step, tokens_seen, ckpt_meta, finished=not stopped_early)
    train_time, last_eval = clock.total(), runlog.last_eval
    summary = {
        "final_val_loss": last_eval["val_loss"] if last_eval else None,
        "final_val_bpb": last_eval["val_bpb"] if last_eval else None,
        "final_step": step, "finished": not stopped_early, "tokens_seen": tokens_seen,
        "wall_time_s": time.perf_counter() - start_time,
        "tokens_per_s": (tokens_seen - tokens_at_start) / train_time if train_time else None,
        "model_args": model_args, **run_facts,
        "rank_param_sha256": _rank_digests(state.raw, proc),
    }
    runlog.finish(summary)
    return summary


def _announce_resume(ckpt_path: Path, saved: dict, master: bool) -> None:
    if master and saved["finished"]:
        log.info("%s: already finished at step %d (tokens_seen %d), nothing to train",
                 ckpt_path, saved["step"], saved["tokens_seen"])
    elif master:
        log.info("resumed from step %d (tokens_seen %d): %s", saved["step"],
                 saved["tokens_seen"], ckpt_path)


def _read_manifests(paths: RunPaths) -> dict:
    """The training tokens dir's manifest, after checking the evaluated one shares its
    tokenizer."""
    try:
        manifest, eval_manifest = (data.read_manifest(paths.tokens_dir),
                                   data.read_manifest(paths.eval_dir))
    except data.TokensError as e:
        raise UsageError(str(e)) from None
    _check_same_tokenizer(manifest, eval_manifest)
    return manifest


def _schedule(cfg: TrainConfig, block_size: int) -> tuple[int, int, int]:
    """Tokens per optimizer step (over all processes), steps to spend max_tokens, warmup."""
    tokens_per_step = cfg.batch_size * block_size * cfg.grad_accum
    max_steps = max(1, math.ceil(cfg.max_tokens / tokens_per_step))
    warmup = (cfg.warmup_steps if cfg.warmup_steps is not None
              else int(cfg.warmup_fraction * max_steps))
    return tokens_per_step, max_steps, warmup


def _model_args(cfg: TrainConfig, vocab: int) -> dict:
    """The GPTConfig of the run (recorded in every checkpoint), with the vocabulary padded."""
    return dict(vocab_size=-(-vocab // VOCAB_MULTIPLE) * VOCAB_MULTIPLE, dropout=cfg.dropout,
                bias=cfg.bias, **cfg.model_shape())


def _prepare_run_dir(
    paths: RunPaths, proc: Process, resumed_log: RunLog | None,
) -> tuple[Path, Path, dict | None]:
    """The flat token arrays (derived once, by rank 0, before any other rank opens them), and
    the summary of a resumed run that already reached its budget (None otherwise)."""
    train_flat = val_flat = finished = None
    if proc.master:
        paths.out_dir.mkdir(parents=True, exist_ok=True)
        finished = resumed_log.finished_summary() if resumed_log is not None else None
        train_flat = data.derive_flat(paths.tokens_dir, "train",
                                      data.cache_dir_for(paths.tokens_dir, paths.out_dir))
        val_flat = data.derive_flat(paths.eval_dir, "val",
                                    data.cache_dir_for(paths.eval_dir, paths.out_dir))
    if proc.distributed:
        box = [str(train_flat), str(val_flat), finished] if proc.master else [None] * 3
        dist.broadcast_object_list(box, src=0)
        train_flat, val_flat, finished = Path(box[0]), Path(box[1]), box[2]
    return train_flat, val_flat, finished


def _build(
    cfg: TrainConfig, model_args: dict, proc: Process, init: GPT | None, resuming: bool,
    ckpt_path: Path,
) -> tuple[TrainState, int, int]:
    """The model (initialised, from `init`, or as checkpointed), its optimizer and precision;
    with the step and tokens seen it resumes from (0, 0 on a fresh run)."""
    device = proc.device
    torch.manual_seed(cfg.seed)  # same initial weights on every rank
    model = GPT(GPTConfig(**model_args)).to(device)
    if init is not None:
        _copy_weights(init, model)
    optimizer = torch.optim.AdamW(
        model.param_groups(cfg.weight_decay), lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps,
        fused=device.type == "cuda")  # one kernel for all parameters instead of one per tensor
    dtype = autocast_dtype(cfg.autocast, device)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    step, tokens_seen = 0, 0
    if resuming:
        ckpt = load_checkpoint(ckpt_path, map_location=device)  # its model was checked before
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if "scaler" in ckpt:
            scaler.load_state_dict(ckpt["scaler"])
        step, tokens_seen = ckpt["step"], ckpt["tokens_seen"]
        restore_rng_states(ckpt["rng"])
        del ckpt
    if cfg.activation_checkpointing:
        checkpoint_blocks(model)
    raw_model = model
    compiled = cfg.compile if cfg.compile is not None else device.type == "cuda"
    if compiled:
        model = torch.compile(model)
    if proc.distributed:
        model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    ctx = (torch.autocast(device_type=device.type, dtype=dtype) if dtype is not None
           else contextlib.nullcontext())
    state = TrainState(model, raw_model, optimizer, scaler, dtype, ctx, compiled,
                       proc.distributed)
    return state, step, tokens_seen


def _copy_tokenizer(paths: RunPaths, manifest: dict, master: bool) -> Tokenizer | None:
    """tokenizer.model copied into the run dir (the run is self-contained); None off rank 0."""
    tok_file = paths.tokens_dir / manifest["tokenizer"]["file"]
    if not (master and tok_file.is_file()):
        return None
    shutil.copyfile(tok_file, paths.out_dir / "tokenizer.model")
    return Tokenizer(paths.out_dir / "tokenizer.model")


def _run_facts(
    cfg: TrainConfig, paths: RunPaths, manifest: dict, proc: Process, state: TrainState,
    tokens_per_step: int, max_steps: int, warmup: int,
) -> dict[str, Any]:
    """What the run was, for its checkpoint and summary: data, machine, schedule, model size."""
    peak, peak_source = ((cfg.peak_flops, "config") if cfg.peak_flops
                         else peak_flops(proc.device, state.dtype))
    return {
        "tokens_dir": str(paths.tokens_dir), "eval_tokens_dir": str(paths.eval_dir),
        "tokenizer_sha256": manifest["tokenizer"]["sha256"],
        "eod_id": manifest["tokenizer"]["eod_id"], "device": str(proc.device),
        "autocast": dtype_name(state.dtype), "compile": state.compiled,
        "world_size": proc.world, "tokens_per_step": tokens_per_step, "max_steps": max_steps,
        "warmup_steps": warmup, "n_params": state.raw.num_params(),
        "flops_per_token": state.raw.flops_per_token(),
        "peak_flops": peak * proc.world, "peak_flops_source": peak_source,
    }


def _train_step(
    state: TrainState, batches: data.Batches, step: int, accum: int, grad_clip: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step over `accum` micro-batches: (mean loss, gradient norm), on device."""
    loss_sum = torch.zeros((), device=batches.device)
    for micro in range(accum):
        x, y = batches.train_batch(step, micro)
        if state.distributed:  # all-reduce gradients on the last micro-batch only
            state.model.require_backward_grad_sync = micro == accum - 1
        with state.ctx:
            _, loss = state.model(x, y)
        state.scaler.scale(loss / accum).backward()
        loss_sum += loss.detach()
    grad_norm = torch.zeros(())
    if grad_clip > 0:
        state.scaler.unscale_(state.optimizer)  # clip the true gradients, not the scaled ones
        grad_norm = torch.nn.utils.clip_grad_norm_(state.raw.parameters(), grad_clip)
    state.scaler.step(state.optimizer)  # with fp16, skipped when a gradient overflowed
    state.scaler.update()
    state.optimizer.zero_grad(set_to_none=True)
    return loss_sum / accum, grad_norm


def _mean_over_ranks(loss: torch.Tensor, distributed: bool) -> float:
    if distributed:
        dist.all_reduce(loss, op=dist.ReduceOp.AVG)
    return float(loss)


def _evaluate(
    state: TrainState, batches: data.Batches, runlog: RunLog, cfg: TrainConfig,
    sample: Callable[..., list[str]], step: int, tokens_seen: int,
) -> None:
    """Evaluate on the fixed validation windows, sample at every `sample_every`-th evaluation,
    and log it."""
    result = evaluate(state.raw, batches.val_windows(), state.ctx, batches.val_bytes_per_token,
                      state.distributed)
    record = {"kind": "eval", "step": step, "tokens_seen": tokens_seen, **result}
    if runlog.master and cfg.sample_every and runlog.n_evals % cfg.sample_every == 0:
        record["samples"] = sample(step=step)
    runlog.emit(record)


def _save(
    path: Path, state: TrainState, step: int, tokens_seen: int, meta: dict, *, finished: bool,
) -> None:
    """ckpt.pt: everything a resumed run needs to repeat the uninterrupted one, and `meta`
    (model args, config, run facts) to rebuild the run from the file alone."""
    save_checkpoint(path, {
        "model": state.raw.state_dict(), "optimizer": state.optimizer.state_dict(),
        "step": step, "tokens_seen": tokens_seen, "finished": finished,
        "rng": rng_states(), "data": {"seed": meta["config"]["seed"], "next_step": step},
        **meta,
        **({"scaler": state.scaler.state_dict()} if state.scaler.is_enabled() else {}),
    })


def _rank_digests(raw: GPT, proc: Process) -> list[str]:
    """Every rank's parameter digest: all must end with the same weights; record it, don't
    assume it."""
    if not proc.distributed:
        return [_param_digest(raw)]
    digests: list = [None] * proc.world
    dist.all_gather_object(digests, _param_digest(raw))
    return digests
