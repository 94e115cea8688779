"""`webtext train` and `webtext generate`: argument parsing and progress display only.

`webtext train TOKENS_DIR --out RUN_DIR [--eval TOKENS_DIR2] [--resume]` runs
`webtext.train.loop.train` with the `[train]` config table; under `torchrun` every process runs
the same command and DDP takes over. `webtext generate RUN_DIR --prompt ...` samples from a
run (or from a local transformers GPT-2 folder in its place); `--export-hf DIR` writes a
Hugging Face GPT-2 checkpoint instead.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from webtext.errors import UsageError


def add_arguments_train(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("tokens_dir", type=Path, help="tokens/<name>/ written by `tokenize`")
    parser.add_argument("--out", type=Path, required=True, help="run dir to write")
    parser.add_argument("--eval", type=Path, default=None, metavar="TOKENS_DIR",
                        help="evaluate on this tokens dir's val split (same tokenizer)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from RUN_DIR/ckpt.pt (a finished run is left as is)")


def run_train(args: argparse.Namespace, config) -> int:
    from rich.console import Console

    from webtext.train.loop import train

    if not (args.tokens_dir / "manifest.json").is_file():
        raise UsageError(f"{args.tokens_dir}: no manifest.json (not a finished tokens dir)")
    if args.eval is not None and not (args.eval / "manifest.json").is_file():
        raise UsageError(f"{args.eval}: no manifest.json (not a finished tokens dir)")
    master = os.environ.get("RANK", "0") == "0"
    console = Console(stderr=True)

    def show(r: dict) -> None:
        if r["kind"] == "train":
            console.print(
                f"step {r['step']:>6}  loss {r['loss']:.4f}  lr {r['lr']:.2e}  "
                f"tokens {r['tokens_seen']:,}  {r['tokens_per_s']:,.0f} tok/s  "
                f"mfu {100 * r['mfu']:.1f}%", highlight=False)
        else:
            console.print(
                f"[bold]eval step {r['step']}: val loss {r['val_loss']:.4f} nats/token, "
                f"{r['val_bpb']:.4f} bits/byte[/bold]", highlight=False)
            for text in r.get("samples", []):
                console.print(f"  | {text[:200]!r}", highlight=False)

    summary = train(args.tokens_dir, args.out, config.train, eval_tokens_dir=args.eval,
                    resume=args.resume, on_record=show if master else None)
    if master:
        state = "finished" if summary["finished"] else "stopped (resume with --resume)"
        console.print(
            f"{state}: {summary['tokens_seen']:,} tokens in {summary['final_step']} steps, "
            f"val loss {summary['final_val_loss']:.4f} nats/token, "
            f"{summary['final_val_bpb']:.4f} bits/byte -> {args.out}", highlight=False)
    return 0


def add_arguments_generate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path,
                        help="run dir written by `webtext train`, or a transformers GPT-2 "
                             "folder with a tokenizer.model (e.g. one --export-hf wrote)")
    parser.add_argument("--prompt", default="", help="text to continue (default: a new doc)")
    parser.add_argument("--num-samples", type=int, default=1)
    parser.add_argument("--max-new-tokens", type=int, default=100)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--top-k", type=int, default=200, help="0 disables top-k")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--export-hf", type=Path, default=None, metavar="DIR",
                        help="write a Hugging Face transformers GPT-2 checkpoint to DIR instead")


def run_generate(args: argparse.Namespace, config) -> int:
    from webtext.train.generate import export_hf, generate_texts

    if args.export_hf is not None:
        out = export_hf(args.run_dir, args.export_hf)
        print(f"exported {args.run_dir} -> {out} (transformers GPT2LMHeadModel)")
        return 0
    if args.temperature <= 0 or args.max_new_tokens < 1 or args.num_samples < 1:
        raise UsageError("--temperature must be > 0, --max-new-tokens and --num-samples >= 1")
    texts = generate_texts(
        args.run_dir, args.prompt, args.num_samples, args.max_new_tokens, args.temperature,
        args.top_k or None, args.seed)
    for i, text in enumerate(texts):
        if len(texts) > 1:
            print(f"--- sample {i} ---")
        print(text)
    return 0
