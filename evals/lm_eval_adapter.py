"""A webtext run as an lm-evaluation-harness model named `webtext` (optional extra `lm_eval`).

In:  `--model_args run=RUN_DIR[,stride=N][,max_gen_toks=N][,seed=N]`: a training run dir (or a
     local transformers GPT-2 folder with its tokenizer, as `load_run` reads it), plus
     the harness's own `batch_size` and `device`.
Out: the three request types of `lm_eval.api.model.LM`:
     - `loglikelihood`: (log p(continuation | context), is_greedy), computed by
       `webtext.evals.score.loglikelihoods`, so a harness task and a webtext suite give the
       same number for the same item;
     - `loglikelihood_rolling`: the log-likelihood of a whole text after the end-of-document
       id, sliding window as `webtext.evals.score.score_texts` (every token scored once; the
       window moves by `stride`, default block_size // 2 as the webtext suites do;
       stride=block_size is the harness's own convention for its Hugging Face models);
     - `generate_until`: greedy (or sampled, with `do_sample`) continuations that stop at the
       first `until` string, at the end-of-document id, or after `max_gen_toks` tokens.

The harness's CLI only knows models whose module was imported: lm-eval 0.4 has no entry-point
(plugin) discovery for models, so a bare `lm_eval --model webtext` cannot find it. Run the
harness through this module, which registers the model and then hands its arguments to the
harness's own CLI unchanged (same flags, same output):

    python -m webtext.evals.lm_eval_adapter --model webtext --model_args run=runs/r1 \\
        --tasks hellaswag --include_path my_tasks/

From Python, importing this module is enough: `lm_eval.simple_evaluate(model="webtext", ...)`.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

# The harness fills in its built-in models only while its registry is empty: import them
# before registering `webtext`, or `--model hf` would stop working in the same process.
import lm_eval.models  # noqa: F401
import torch
from lm_eval.api.instance import Instance
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

from webtext.errors import UsageError
from webtext.evals.score import encode_pair, loglikelihoods, score_texts
from webtext.train.generate import load_run

log = logging.getLogger(__name__)

MODEL_NAME = "webtext"
DEFAULT_MAX_GEN_TOKS = 256  # lm-eval's own default for generate_until
_GEN_KEYS = {"until", "max_gen_toks", "do_sample", "temperature", "top_k", "top_p"}


class WebtextLM(LM):
    """A webtext GPT and its SentencePiece tokenizer behind the harness's request API."""

    def __init__(
        self,
        run: str | Path | None = None,
        stride: int | None = None,
        max_gen_toks: int = DEFAULT_MAX_GEN_TOKS,
        seed: int = 0,
        batch_size: int | str | None = None,
        max_batch_size: int | None = None,
        device: str | None = None,
        **unknown: Any,
    ) -> None:
        super().__init__()
        if unknown:
            raise UsageError(f"model webtext: unknown model_args {', '.join(sorted(unknown))} "
                             "(known: run, stride, max_gen_toks, seed)")
        if run is None or str(run) == "":
            raise UsageError("model webtext: model_args needs run=RUN_DIR (a training run dir)")
        # Checked before the model loads, so a typo costs nothing.
        self.stride = None if stride is None else _int_at_least("stride", stride, 1)
        self.max_gen_toks = _int_at_least("max_gen_toks", max_gen_toks, 1)
        self.seed = _int_at_least("seed", seed, 0)
        # The CLI passes batch_size=1 unless told; "auto" (the harness probes GPU memory)
        # leaves the scorer's own default. max_batch_size only bounds that probe: unused.
        self._batch = ({} if batch_size is None or str(batch_size).startswith("auto")
                       else {"batch_size": _int_at_least("batch_size", batch_size, 1)})
        self.run = Path(str(run))  # the harness parses "123" as an int: a dir may be all digits
        self.model, self.tokenizer, ckpt = load_run(self.run)
        self._device = _usable_device(device)
        self.model.to(self._device)
        self.eod_id = int(ckpt["run"]["eod_id"])
        self.block_size = int(self.model.config.block_size)
        if self.stride is not None and self.stride > self.block_size:
            raise UsageError(f"model webtext: stride={self.stride} exceeds the model's "
                             f"block_size {self.block_size}")
        self._info = {"webtext_run": str(self.run), "step": ckpt.get("step"),
                      "tokens_seen": ckpt.get("tokens_seen"),
                      "model_num_parameters": self.model.num_params()}

    def get_model_info(self) -> dict[str, Any]:
        """Recorded in the harness's results["config"], so a result names the run it scored."""
        return dict(self._info)

    def loglikelihood(self, requests: list[Instance], disable_tqdm: bool = False
                      ) -> list[tuple[float, bool]]:
        pairs = [(str(r.args[0]), str(r.args[1])) for r in requests]
        try:
            out = loglikelihoods(self.model, self.tokenizer, pairs, stride=self.stride,
                                 **self._batch)
        except ValueError as e:  # a continuation with no tokens: name the task item
            raise UsageError(f"model webtext: {self._culprit(requests, pairs) or e}") from e
        for r, res in zip(requests, out, strict=True):
            self.cache_hook.add_partial("loglikelihood", r.args, res)
        return out

    def _culprit(self, requests: list[Instance], pairs: list[tuple[str, str]]) -> str | None:
        """"task T doc N: <why>" for the first pair the scorer cannot encode."""
        for r, (context, continuation) in zip(requests, pairs, strict=True):
            try:
                encode_pair(self.tokenizer, context, continuation)
            except ValueError as e:
                return f"task {r.task_name} doc {r.doc_id}: {e}"
        return None

    def loglikelihood_rolling(self, requests: list[Instance], disable_tqdm: bool = False
                              ) -> list[float]:
        texts = [str(r.args[0]) for r in requests]
        scores = score_texts(self.model, self.tokenizer, texts, stride=self.stride,
                             **self._batch)
        out = [-s.nats for s in scores]
        for r, res in zip(requests, out, strict=True):
            self.cache_hook.add_partial("loglikelihood_rolling", r.args, res)
        return out

    def generate_until(self, requests: list[Instance], disable_tqdm: bool = False) -> list[str]:
        out = []
        for r in requests:
            context, gen_kwargs = r.args[0], dict(r.args[1] or {})
            text = self._generate(str(context), gen_kwargs, f"task {r.task_name} doc {r.doc_id}")
            self.cache_hook.add_partial("generate_until", r.args, text)
            out.append(text)
        return out

    @torch.inference_mode()
    def _generate(self, context: str, gen_kwargs: dict[str, Any], where: str) -> str:
        bad = set(gen_kwargs) - _GEN_KEYS
        if bad:
            raise UsageError(f"model webtext: {where}: unsupported generation_kwargs "
                             f"{', '.join(sorted(bad))} (supported: "
                             f"{', '.join(sorted(_GEN_KEYS))})")
        until = gen_kwargs.get("until") or []
        until = [until] if isinstance(until, str) else list(until)
        max_new = _int_at_least("max_gen_toks",
                                gen_kwargs.get("max_gen_toks", self.max_gen_toks), 1)
        sample = bool(gen_kwargs.get("do_sample", False))
        temperature = float(gen_kwargs.get("temperature", 1.0 if sample else 0.0))
        top_k, top_p = gen_kwargs.get("top_k"), gen_kwargs.get("top_p")
        # Sampling is seeded per request, so a result does not depend on the request order.
        gen = torch.Generator().manual_seed(self.seed)
        ids = [self.eod_id, *self.tokenizer.encode(context)] if context else [self.eod_id]
        new: list[int] = []
        text = ""
        for _ in range(max_new):
            # The newest block_size ids, as nanoGPT's sampler: older context falls off the left.
            idx = torch.tensor([(ids + new)[-self.block_size:]], dtype=torch.long,
                               device=self._device)
            logits = self.model(idx)[0][0, -1, :].float()  # (vocab,), last position only
            logits[self.tokenizer.vocab_size:] = -float("inf")  # padded rows: no such token
            if sample and temperature > 0:
                next_id = _sample(logits / temperature, top_k, top_p, gen)
            else:
                next_id = int(logits.argmax())
            if next_id == self.eod_id:  # a document ends here: nothing after it belongs
                break
            new.append(next_id)
            text = self.tokenizer.decode(new)
            if any(s and s in text for s in until):
                break
        cut = min((text.index(s) for s in until if s and s in text), default=len(text))
        return text[:cut]


def _sample(logits: torch.Tensor, top_k: int | None, top_p: float | None,
            gen: torch.Generator) -> int:
    """One id from softmax(logits), restricted to the top k ids and the top-p nucleus."""
    if top_k:
        kth = torch.topk(logits, min(int(top_k), logits.numel())).values[-1]
        logits = logits.masked_fill(logits < kth, -float("inf"))
    probs = torch.softmax(logits, dim=-1)
    if top_p is not None and float(top_p) < 1.0:
        sorted_p, order = torch.sort(probs, descending=True)
        # keep the smallest prefix whose mass reaches top_p (the first id always stays)
        drop = (sorted_p.cumsum(0) - sorted_p) >= float(top_p)
        probs = probs.clone()
        probs[order[drop]] = 0.0
        probs /= probs.sum()
    return int(torch.multinomial(probs.cpu(), 1, generator=gen))


def _usable_device(device: str | None) -> torch.device:
    """The device asked for; CPU when it names CUDA and none is here.

    The harness's CLI passes device="cuda:0" unless told otherwise, and its own HF model falls
    back to the CPU the same way, so `--device` need not be spelled out on a CPU machine.
    """
    if not device:
        return torch.device("cpu")
    asked = torch.device(device)
    if asked.type == "cuda" and not torch.cuda.is_available():
        log.warning("model webtext: device %s asked for but CUDA is not available: using CPU",
                    device)
        return torch.device("cpu")
    return asked


def _int_at_least(name: str, value: Any, least: int) -> int:
    """`value` as an int >= least (the harness hands over "8" as 8, a YAML may say "8")."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise UsageError(f"model webtext: {name}={value!r} is not an integer >= {least}")
    return value


# Registered by the package import only: `python -m` runs this file as `__main__` and then
# imports it again by its package name (below), and two registrations of one name collide.
if __name__ != "__main__":
    register_model(MODEL_NAME)(WebtextLM)


def main(argv: list[str] | None = None) -> int:
    """The harness's CLI (`lm-eval [run] ...`) with the `webtext` model registered."""
    from lm_eval.__main__ import cli_evaluate

    sys.argv = ["lm-eval", *(sys.argv[1:] if argv is None else argv)]
    try:
        cli_evaluate()
    except UsageError as e:
        print(f"webtext lm-eval: {e}", file=sys.stderr)
        return 2
    return 0


def add_arguments_lm_eval(p: Any) -> None:
    import argparse

    p.add_argument("harness_args", nargs=argparse.REMAINDER, metavar="...",
                   help="lm-eval's own arguments, e.g. --model webtext --model_args run=RUN "
                   "--tasks lambada_openai")


def run_lm_eval(args: Any, config: Any) -> int:
    """`webtext lm-eval ...`: the harness's CLI with the `webtext` model registered."""
    return main(list(args.harness_args))


if __name__ == "__main__":
    from webtext.evals.lm_eval_adapter import main as _main  # the registered copy

    sys.exit(_main())
