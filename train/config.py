"""Config of the trainer: the model shape (a named config plus overrides) and the optimisation.

In:  the `[train]` table of the webtext TOML config (or `--set train.key=value`).
Out: a validated `TrainConfig`; `model_shape()` resolves the named model config and overrides.

Defaults follow nanoGPT (Karpathy, `train.py`), which follows GPT-2 (Radford et al. 2019) and
GPT-3 (Brown et al. 2020, appendix B): AdamW with betas (0.9, 0.95), weight decay 0.1, gradient
clipping at 1.0, linear warmup then cosine decay to a tenth of the peak learning rate. The token
budget and the model are sized for the offline ablation demo: several `tiny` models must each
train in about a minute on a 2-core laptop CPU.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from webtext.configbase import StageConfig

ModelName = Literal["tiny", "mini", "gpt1", "gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl"]

# name -> (n_layer, n_head, n_embd, block_size). "tiny" is sized so that a 60 s CPU run sees a
# few hundred thousand tokens (measured in benchmarks/train_throughput.py); "mini" is nanoGPT's
# "baby GPT" for Shakespeare (6x6x384) cut to 4 layers so it still trains on a laptop CPU in
# minutes. The GPT family: GPT-1 (Radford et al. 2018, section 4.1) and the four GPT-2 sizes
# (Radford et al. 2019, table 2; head counts from the released checkpoints' hparams.json, 64
# dimensions per head). With GPT-2's 50257-token vocabulary, tied embeddings and biases the
# GPT-2 sizes have 124,439,808 / 354,823,168 / 774,030,080 / 1,557,611,200 parameters, the
# counts of the released checkpoints (the paper's 117M-1542M were counted differently); the
# vocabulary here is the tokenizer's, padded by the trainer, so a run's count differs.
MODEL_SHAPES: dict[ModelName, tuple[int, int, int, int]] = {
    "tiny": (2, 2, 128, 128),
    "mini": (4, 4, 256, 256),
    "gpt1": (12, 12, 768, 512),
    "gpt2": (12, 12, 768, 1024),  # GPT-2 small
    "gpt2-medium": (24, 16, 1024, 1024),
    "gpt2-large": (36, 20, 1280, 1024),
    "gpt2-xl": (48, 25, 1600, 1024),
}
# GPT-1 is post-LN (LayerNorm after each residual addition); every other named model is pre-LN.
MODEL_NORMS: dict[ModelName, Literal["pre", "post"]] = {"gpt1": "post"}


class TrainConfig(StageConfig):
    """Everything a training run needs besides its data; written into every checkpoint."""

    # -- model --------------------------------------------------------------------------------
    model: ModelName = "tiny"
    n_layer: int | None = Field(default=None, ge=1)  # overrides of the named shape
    n_head: int | None = Field(default=None, ge=1)
    n_embd: int | None = Field(default=None, ge=1)
    block_size: int | None = Field(default=None, ge=8)
    # Where the LayerNorms sit: "pre" (GPT-2) or "post" (GPT-1, see model.py); None takes the
    # named model's, which is "pre" for all but gpt1. Its own key so that GPT-1 -> GPT-2 is an
    # ablation of one setting.
    norm: Literal["pre", "post"] | None = None
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)  # nanoGPT: 0 for pretraining
    bias: bool = True  # GPT-2 has biases in its linear layers and LayerNorms

    # -- batch and budget ---------------------------------------------------------------------
    batch_size: int = Field(default=16, ge=1)  # windows per micro-batch per process
    # Micro-batches per optimizer step, summed over all processes (nanoGPT's convention: DDP
    # divides it by the world size, so tokens per step do not depend on the number of GPUs).
    grad_accum: int = Field(default=1, ge=1)
    # The stopping rule: ablations compare variants at equal tokens seen, not equal epochs.
    # 262,144 tokens = 128 steps of 16 x 128: a tiny model trains at ~4,000-6,500 tokens/s on
    # 2 quiet CPU cores (benchmarks/train_throughput.py), so about a minute per run.
    max_tokens: int = Field(default=262_144, ge=1)
    # Stop (with a checkpoint) after this many optimizer steps without changing the schedule,
    # which still spans max_tokens: time-sliced training, and how the resume test interrupts.
    stop_after_steps: int | None = Field(default=None, ge=1)

    # -- optimizer and schedule ---------------------------------------------------------------
    # nanoGPT's Shakespeare baby GPT uses 1e-3 for small models; GPT-2 small used 6e-4 (GPT-3
    # paper, table 2.1). The tiny default takes the former.
    lr: float = Field(default=1e-3, gt=0)
    min_lr: float = Field(default=1e-4, ge=0)  # lr / 10, Chinchilla (Hoffmann et al. 2022)
    warmup_steps: int | None = Field(default=None, ge=0)  # absolute; wins over the fraction
    # GPT-3 warms up over 375M of 300B tokens; tiny runs of a few hundred steps need a larger
    # share to get past the noisy first steps, 5% is nanoGPT-scale practice.
    warmup_fraction: float = Field(default=0.05, ge=0.0, le=1.0)
    weight_decay: float = Field(default=0.1, ge=0)  # GPT-3 paper, appendix B
    # GPT-3 uses (0.9, 0.95); nanoGPT raises beta2 to 0.99 only for tiny tokens-per-step runs.
    betas: list[float] = Field(default=[0.9, 0.95], min_length=2, max_length=2)
    eps: float = 1e-8  # GPT-3 paper, appendix B
    grad_clip: float = Field(default=1.0, ge=0)  # GPT-3 paper; 0 disables clipping

    # -- evaluation, logging, sampling --------------------------------------------------------
    eval_every: int = Field(default=32, ge=1)  # steps between evaluations: 5 per run
    eval_windows: int = Field(default=64, ge=1)  # fixed validation windows per evaluation
    log_every: int = Field(default=10, ge=1)
    ckpt_every: int | None = Field(default=None, ge=1)  # None: at every evaluation
    sample_every: int = Field(default=1, ge=0)  # sample texts at every Nth evaluation; 0: never
    sample_count: int = Field(default=2, ge=0)
    sample_tokens: int = Field(default=48, ge=1)
    temperature: float = Field(default=0.8, gt=0)  # nanoGPT sample.py
    top_k: int | None = Field(default=200, ge=1)  # nanoGPT sample.py

    # -- machine ------------------------------------------------------------------------------
    seed: int = 1337  # nanoGPT's seed
    device: str = "auto"  # "auto" picks cuda, then mps, then cpu; or any torch device string
    # Mixed precision. "auto": bf16 on CUDA when supported (nanoGPT's default), and on CPUs with
    # bf16 matmul units (AVX512-BF16/AMX, detected through oneDNN), fp32 elsewhere; "off" is
    # fp32 everywhere. Measured on this project's 2-core AMX machines: bf16/fp32 training speed
    # 1.5-1.9x for a small GPT (the lead's measurement), 3.4x for "mini" on a quiet machine,
    # 0.9-1.1x for "tiny" (its 8192-way output layer is memory-bound) and 1.0-1.2x for "mini"
    # while other jobs loaded the cores. It is never much slower from tiny upwards, so bf16 is
    # the default; models far below tiny (n_embd 32) run ~2x slower in bf16: use "off".
    # "fp16" (and "auto" on a CUDA GPU without bf16, e.g. a V100 or T4) trains under float16
    # autocast with a gradient scaler (torch.amp.GradScaler): fp16's 5-bit exponent underflows
    # small gradients unless the loss is scaled up first; bf16 has fp32's range and needs none.
    autocast: Literal["auto", "bf16", "fp16", "off"] = "auto"
    # torch.compile. None: on for CUDA, off elsewhere. On a GPU it fuses the elementwise ops
    # around the matmuls (nanoGPT: 250 -> 135 ms/iter for GPT-2 small on an A100) for about a
    # minute of compiling; on a CPU it needs a C++ toolchain, and compiling even a 1-layer model
    # took two minutes on this project's 2-core machines, more than a whole demo run.
    compile: bool | None = None
    # Recompute each block's activations in the backward pass instead of keeping them
    # (torch.utils.checkpoint per block): ~1/3 more compute for memory that no longer grows
    # with depth x batch x block size; for gpt2-large/xl, or larger batches on a small GPU.
    activation_checkpointing: bool = False
    # A local transformers GPT2LMHeadModel folder (save_pretrained output, e.g. a released
    # GPT-2 downloaded beforehand) to start from instead of random weights; its shape must be
    # this config's. Ignored when resuming: the checkpoint holds the weights by then.
    init_from: str = ""
    threads: int | None = Field(default=None, ge=1)  # None: CPU cores / local processes
    peak_flops: float | None = Field(default=None, gt=0)  # for MFU; None: measure at start

    def model_shape(self) -> dict[str, int | str]:
        """The named model's shape and norm placement with any overrides applied.

        Every key is a `GPTConfig` field, so the trainer passes it on as it is and the norm
        placement is recorded in each checkpoint's `model_args`.
        """
        n_layer, n_head, n_embd, block_size = MODEL_SHAPES[self.model]
        return {
            "n_layer": self.n_layer or n_layer,
            "n_head": self.n_head or n_head,
            "n_embd": self.n_embd or n_embd,
            "block_size": self.block_size or block_size,
            "norm": self.norm or MODEL_NORMS.get(self.model, "pre"),
        }
