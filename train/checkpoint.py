"""Checkpoints of a run dir: plain state dicts written atomically, loaded with weights_only.

In:  the model, the optimizer and the loop's state.
Out: `<run dir>/ckpt.pt` holding model and optimizer state dicts, step, tokens seen, RNG states,
     data position, the model's shape (`model_args`) and the resolved config, so a run can be
     rebuilt from its checkpoint alone (nanoGPT's convention). Only tensors, numbers, strings,
     lists and dicts go in, so `torch.load(..., weights_only=True)` reads it: loading a
     checkpoint never runs code from the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from webtext.io import atomic_path
from webtext.train.model import GPT, GPTConfig

CKPT_NAME = "ckpt.pt"


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    with atomic_path(Path(path)) as tmp:
        torch.save(state, tmp)


def load_checkpoint(
    path: Path, map_location: str | torch.device = "cpu", mmap: bool = False,
) -> dict[str, Any]:
    """The checkpoint's state; `mmap=True` leaves tensors on disk until read (cheap to inspect)."""
    return torch.load(Path(path), map_location=map_location, weights_only=True, mmap=mmap)


def rng_states() -> dict[str, Any]:
    states: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def model_from_checkpoint(ckpt: dict[str, Any]) -> GPT:
    """The trained model of a checkpoint, on CPU, in eval mode."""
    model = GPT(GPTConfig(**ckpt["model_args"]))
    model.load_state_dict(ckpt["model"])
    return model.eval()
