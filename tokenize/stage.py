"""The tokenize stage: recipe -> tokenizer -> Parquet token shards + manifest.

In:  a build (docs/*.parquet, dedup.parquet when the recipe needs it), the `[tokenize]` config,
     a recipe name and the recipes, optional held-out doc ids and an optional existing
     tokenizer.model.
Out: tokens/<recipe>-<digest8>/ with tokenizer.model, train-*.parquet, val-*.parquet and
     manifest.json (a `webtext.records.TokensManifest`, written last: its presence means
     complete; docs/design.md, "Data contracts"), and the build's
     tokenize_<recipe>-<digest8>_stats.json (selection funnel + tokenizer statistics).
     `run` returns those stats with the tokens dir as `dir`.

Resumable: finished shards are listed, with their sha256, in `.state.json` as they are renamed
into place. A re-run verifies each listed shard against its checksum, keeps the verified
prefix of each split, removes every other shard file and `.tmp-*` leftover, and encodes from
the first document not yet in a verified shard. Encoding is deterministic and shard boundaries
depend only on the documents, so the resumed output is byte-identical to an uninterrupted one.
A complete output (manifest.json) or an interrupted one is reused only when the selected
documents and the versions of webtext and sentencepiece (OUTPUT_PACKAGES, recorded in the
manifest and the state) are those it was made with; otherwise it is made again. What a run
reused or redid, and why, is `resume` in its stats and in the `extra` of its last `Progress`.

The progress file has a "." name, which dataset readers skip; manifest.json and
tokenizer.model keep the names of the data contract, so a reader opens the shards of a split
by glob (`train-*.parquet`), not the folder as a whole.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from webtext.errors import UsageError
from webtext.io import clean_stale_tmp, read_json, write_bytes, write_json
from webtext.layout import BuildLayout, package_versions, version_change
from webtext.records import (
    TOKENS_FORMAT,
    TOKENS_MANIFEST_FILE,
    DocsColumn,
    TokensManifest,
    TokensShard,
)
from webtext.stage import Progress, ProgressFn, report
from webtext.tokenize import recipes as R
from webtext.tokenize.config import RecipeConfig, TokenizeConfig, resolve_recipes
from webtext.tokenize.shards import (
    SPLITS,
    SplitWriter,
    file_sha256,
    shard_histogram,
    shard_schema,
    split_of,
    token_dtype,
)
from webtext.tokenize.spm import Tokenizer, TokenizerTrainingError, train_model
from webtext.tokenize.stats import tokenizer_stats

TOKENIZER_FILE = "tokenizer.model"
MANIFEST_FILE = TOKENS_MANIFEST_FILE
STATE_FILE = ".state.json"
LEGACY_STATE_FILE = "state.json"  # before it got a "." name; such a run is started over
# The packages whose code decides the tokens: webtext (selection, sampling, shard layout) and
# sentencepiece (training and encoding). An output made under other versions is made again.
OUTPUT_PACKAGES = ("webtext", "sentencepiece")
# Settings that change the output bytes (and so the output's name); threads and batch sizes
# do not, because shard and row-group boundaries depend only on the documents.
_OUTPUT_FIELDS = ("val_permille", "shard_tokens", "row_group_tokens", "zstd_level")
_TRAIN_FIELDS = ("vocab_size", "model_type", "train_sample_chars", "train_seed",
                 "character_coverage", "split_digits", "train_threads", "eod_piece")


def get_recipe(recipes: Mapping[str, RecipeConfig] | None, name: str) -> RecipeConfig:
    """The recipe called `name` among `recipes` merged over the built-in ones."""
    known = resolve_recipes(recipes)
    if name not in known:
        raise UsageError(f"unknown recipe {name!r}; known: {', '.join(sorted(known))}")
    return known[name]


def run(
    layout: BuildLayout,
    config: TokenizeConfig,
    progress: ProgressFn | None = None,
    *,
    recipe: str,
    recipes: Mapping[str, RecipeConfig] | None = None,
    exclude_ids: Sequence[str] | None = None,
    tokenizer_path: Path | str | None = None,
) -> dict[str, Any]:
    """Tokenize the documents the recipe called `recipe` selects (see the module docstring).

    `recipes`: the config's `[recipes.*]` (merged over the built-in ones); `exclude_ids`: doc
    ids held out besides the recipe's `exclude_file`; `tokenizer_path`: an existing
    tokenizer.model to use instead of training one (default: the recipe's `tokenizer`).
    Returns the stats written to the build's stats file, with the tokens dir as `dir`.
    """
    chosen = get_recipe(recipes, recipe)
    tokenizer_path = tokenizer_path or chosen.tokenizer
    if tokenizer_path is not None and not Path(tokenizer_path).is_file():
        raise UsageError(f"tokenizer {tokenizer_path} not found")

    report(progress, Progress("select"))
    excluded = R.excluded_ids(chosen, exclude_ids)
    selection = R.select_docs(layout, chosen, excluded)
    if not selection.doc_ids:
        raise UsageError(f"recipe {recipe!r} selects no document of {layout.root} "
                         f"(funnel: {selection.funnel()})")

    external = Tokenizer.load(Path(tokenizer_path)) if tokenizer_path is not None else None
    tokenizer_id = ({"sha256": external.sha256} if external is not None
                    else {"train": {k: getattr(config, k) for k in _TRAIN_FIELDS}})
    digest = R.recipe_digest(chosen, excluded, {
        "tokenizer": tokenizer_id, "output": {k: getattr(config, k) for k in _OUTPUT_FIELDS}})
    name = f"{recipe}-{digest[:8]}"
    out_dir = layout.tokens(name)
    selection_sha = _selection_sha256(selection)
    versions = package_versions(OUTPUT_PACKAGES)
    redone: Counter[str] = Counter()
    finished = _finished(layout, out_dir, name, selection_sha, versions, redone)
    if finished is not None:
        n = len(selection.doc_ids)
        report(progress, Progress("done", n, n, detail="already complete",
                                  extra={"resume": finished["resume"]}))
        return finished

    out_dir.mkdir(parents=True, exist_ok=True)
    clean_stale_tmp(out_dir)
    state, stale, n_stale = _load_state(out_dir, digest, selection_sha, versions)
    if stale is not None:
        redone[stale] += n_stale

    tokenizer = external or _trained_tokenizer(layout, selection, config, out_dir, state,
                                               progress)
    if external is not None and not _same_file(out_dir / TOKENIZER_FILE, external.sha256):
        write_bytes(out_dir / TOKENIZER_FILE, external.model)
    state["tokenizer_sha256"] = tokenizer.sha256
    _save_state(out_dir, state)

    committed = _verify_state_shards(out_dir, state, tokenizer.vocab_size)
    resume = {"skipped": sum(len(h) for h in committed.values()),
              "redone": dict(redone.most_common())}
    splits = [split_of(d, config.val_permille) for d in selection.doc_ids]
    _encode_and_write(layout, selection, splits, tokenizer, config, out_dir, state, committed,
                      progress)

    stats = _stats(name, selection, state, committed, tokenizer) | {"resume": resume}
    write_json(layout.stats(f"tokenize_{name}"), stats)
    manifest = _manifest(name, recipe, chosen, digest, excluded, selection, selection_sha,
                         tokenizer, external is None, stats, state, config, versions)
    # last: its presence means the output is complete
    write_json(out_dir / MANIFEST_FILE, manifest.to_json())
    (out_dir / STATE_FILE).unlink(missing_ok=True)
    n_docs = len(selection.doc_ids)
    report(progress, Progress("done", n_docs, n_docs, detail=name, extra={
        "tokens": sum(t["tokens"] for t in stats["splits"].values()), "resume": resume}))
    return {**stats, "dir": str(out_dir)}


def _manifest(name: str, recipe: str, chosen: RecipeConfig, digest: str, excluded: list[str],
              selection: R.Selection, selection_sha: str, tokenizer: Tokenizer, trained: bool,
              stats: dict[str, Any], state: dict, config: TokenizeConfig,
              versions: dict[str, str]) -> TokensManifest:
    """The manifest of a finished output (docs/design.md, "Data contracts")."""
    return TokensManifest(
        format=TOKENS_FORMAT,
        name=name,
        recipe={"name": recipe, "digest": digest, "config": chosen.model_dump(mode="json"),
                "exclude": {"count": len(excluded), "sha256": R.ids_sha256(excluded)}},
        tokenizer={"file": TOKENIZER_FILE, "sha256": tokenizer.sha256,
                   "vocab_size": tokenizer.vocab_size, "eod_id": tokenizer.eod_id,
                   "model_type": tokenizer.model_type, "trained": trained},
        dtype=token_dtype(tokenizer.vocab_size),
        splits=stats["splits"],
        shards=state["splits"]["train"]["shards"] + state["splits"]["val"]["shards"],
        selection={"sha256": selection_sha, **selection.funnel()},
        stats=stats["tokenizer"],
        config=config.model_dump(mode="json"),
        versions=versions,
    )


def _finished(layout: BuildLayout, out_dir: Path, name: str, selection_sha: str,
              versions: dict[str, str], redone: Counter[str]) -> dict[str, Any] | None:
    """The stats of a complete output made of the same documents under the same versions, or
    None; a complete output that is stale loses its manifest (and is counted in `redone`)."""
    manifest_path = out_dir / MANIFEST_FILE
    if not manifest_path.is_file():
        return None
    manifest = TokensManifest.model_validate(read_json(manifest_path))
    n_shards = len(manifest.shards)
    stale = ("the build's documents changed"
             if (manifest.selection or {}).get("sha256") != selection_sha
             else version_change(manifest.versions, versions))
    if stale is not None:
        redone[stale] += n_shards
        manifest_path.unlink()  # this output is stale: it is made again
        return None
    stats_path = layout.stats(f"tokenize_{name}")
    stats = read_json(stats_path) if stats_path.is_file() else {"name": name}
    return {**stats, "resume": {"skipped": n_shards, "redone": {}}, "skipped": True,
            "dir": str(out_dir)}


# --- steps ------------------------------------------------------------------------------------


def _selection_sha256(selection: R.Selection) -> str:
    """Fingerprint of the selected documents (ids and lengths), to notice a changed build."""
    h = hashlib.sha256()
    for doc_id, n in zip(selection.doc_ids, selection.n_chars, strict=True):
        h.update(f"{doc_id}\t{n}\n".encode())
    return h.hexdigest()


def _stats(name: str, selection: R.Selection, state: dict, histograms: dict[str, list],
           tokenizer: Tokenizer) -> dict:
    """The selection funnel, the split totals and the tokenizer statistics of one output."""
    splits = {
        s: {k: sum(e[k] for e in state["splits"][s]["shards"]) for k in ("docs", "tokens", "bytes")}
        for s in SPLITS
    }
    n_bytes = sum(t["bytes"] for t in splits.values())
    return {
        "name": name,
        "selection": selection.funnel(),
        "splits": splits,
        "tokenizer": tokenizer_stats(histograms["train"] + histograms["val"], tokenizer, n_bytes),
    }


def _same_file(path: Path, sha256: str) -> bool:
    return path.is_file() and file_sha256(path) == sha256


def _load_state(out_dir: Path, digest: str, selection_sha: str, versions: dict[str, str]
                ) -> tuple[dict, str | None, int]:
    """The in-progress state of an interrupted run with the same inputs and versions, or a
    fresh one; when an interrupted run's state is not taken, why and how many shards it had
    listed (the verify step then removes them)."""
    fresh = {"digest": digest, "selection_sha256": selection_sha, "tokenizer_sha256": None,
             "versions": versions, "splits": {s: {"shards": []} for s in SPLITS}}
    legacy = out_dir / LEGACY_STATE_FILE
    if legacy.is_file():
        n = _listed(read_json(legacy))
        legacy.unlink()
        (out_dir / STATE_FILE).unlink(missing_ok=True)
        return fresh, "interrupted run of an older webtext (state.json), started over", n
    path = out_dir / STATE_FILE
    if not path.is_file():
        return fresh, None, 0
    state = read_json(path)
    if state.get("digest") != digest or state.get("selection_sha256") != selection_sha:
        return fresh, None, 0  # another selection: nothing of it was this output's
    stale = version_change(state.get("versions"), versions)
    if stale is not None:
        return fresh, f"interrupted run {stale}", _listed(state)
    return state, None, 0


def _listed(state: dict) -> int:
    return sum(len(v.get("shards") or []) for v in (state.get("splits") or {}).values())


def _save_state(out_dir: Path, state: dict) -> None:
    write_json(out_dir / STATE_FILE, state)


def _verify_state_shards(out_dir: Path, state: dict, vocab_size: int) -> dict[str, list]:
    """Keep the prefix of each split's listed shards whose files match their sha256; delete
    every other shard file. Returns the verified shards' token histograms per split."""
    histograms: dict[str, list] = {}
    keep: set[str] = set()
    for split in SPLITS:
        verified = []
        for entry in state["splits"][split]["shards"]:
            path = out_dir / entry["file"]
            if not _same_file(path, entry["sha256"]):
                break
            verified.append(entry)
        state["splits"][split]["shards"] = verified
        histograms[split] = [shard_histogram(out_dir / e["file"], vocab_size) for e in verified]
        keep.update(e["file"] for e in verified)
    for split in SPLITS:
        for path in out_dir.glob(f"{split}-*.parquet"):
            if path.name not in keep:
                path.unlink()  # written by a run that did not get to record it, or stale
    _save_state(out_dir, state)
    return histograms


def _trained_tokenizer(
    layout: BuildLayout, selection: R.Selection, cfg: TokenizeConfig, out_dir: Path,
    state: dict, progress: ProgressFn | None,
) -> Tokenizer:
    """Reuse the tokenizer an interrupted run already trained, or train one on a sample."""
    path = out_dir / TOKENIZER_FILE
    if state.get("tokenizer_sha256") and _same_file(path, state["tokenizer_sha256"]):
        return Tokenizer.load(path)
    rows = training_sample(selection, cfg.train_sample_chars, cfg.train_seed)
    report(progress, Progress("train", 0, len(rows),
                              detail=f"{cfg.model_type} vocab {cfg.vocab_size}"))
    texts = (t for batch in read_texts(layout, rows) for t in batch[1])
    try:
        model = train_model(training_sentences(texts), cfg)
    except TokenizerTrainingError as e:
        raise UsageError(f"tokenizer training failed: {e} (lower tokenize.vocab_size or select "
                         "more text; tokenize.train_sample_chars caps the sample)") from None
    write_bytes(path, model)
    return Tokenizer(model)


def training_sample(selection: R.Selection, sample_chars: int, seed: int) -> list[tuple[int, str]]:
    """(row, doc_id) of a deterministic sample of about `sample_chars` characters.

    Bottom-k by a seeded hash of the doc id: the same seed picks the same documents whatever
    their order, and a smaller sample is a subset of a larger one. Returned in build order.
    """
    keyed = sorted(
        (hashlib.blake2b(f"{seed}:{d}".encode(), digest_size=8).digest(), i)
        for i, d in enumerate(selection.doc_ids)
    )
    chosen, total = [], 0
    for _, i in keyed:
        if total >= sample_chars:
            break
        chosen.append(i)
        total += selection.n_chars[i]
    chosen.sort()
    return [(selection.rows[i], selection.doc_ids[i]) for i in chosen]


def training_sentences(texts: Iterator[str]) -> Iterator[str]:
    """SentencePiece trains on lines; newlines become their own piece (see spm.py)."""
    for text in texts:
        for line in text.split("\n"):
            if line:
                yield line


def read_texts(
    layout: BuildLayout, wanted: Sequence[tuple[int, str]], batch_rows: int = 8192
) -> Iterator[tuple[list[str], list[str], list[int]]]:
    """(doc ids, texts, UTF-8 byte lengths) of the wanted (row, doc_id) pairs, in build order.

    Rows are positions among all rows of docs/ (as in `Selection.rows`); each id is checked so
    that docs/ changing under a run is an error, not silently wrong tokens.
    """
    if not wanted:
        return
    want_rows = np.fromiter((r for r, _ in wanted), dtype=np.int64, count=len(wanted))
    pos = 0  # next wanted entry
    base = 0  # global row index of the current batch's first row
    for path in R.doc_shards(layout):
        for batch in pq.ParquetFile(path).iter_batches(columns=[DocsColumn.DOC_ID,
                                                                DocsColumn.TEXT],
                                                       batch_size=batch_rows):
            end = pos + int(np.searchsorted(want_rows[pos:], base + batch.num_rows))
            if end > pos:
                taken = batch.take(want_rows[pos:end] - base)
                ids = taken.column(0).to_pylist()
                expected = [d for _, d in wanted[pos:end]]
                if ids != expected:
                    raise UsageError(f"{path} changed while tokenizing; re-run the stage")
                text = taken.column(1)
                yield ids, text.to_pylist(), pc.binary_length(text).to_pylist()
                pos = end
            base += batch.num_rows
    if pos != len(wanted):
        raise UsageError(f"{layout.docs_dir} changed while tokenizing; re-run the stage")


def _encode_and_write(
    layout: BuildLayout, selection: R.Selection, splits: list[str], tokenizer: Tokenizer,
    cfg: TokenizeConfig, out_dir: Path, state: dict, committed: dict[str, list],
    progress: ProgressFn | None,
) -> None:
    """Encode every selected document not yet in a verified shard and write the shards."""
    done = {s: sum(e["docs"] for e in state["splits"][s]["shards"]) for s in SPLITS}
    # Documents of each split already in verified shards are the first `done[s]` of that split.
    todo, seen = [], dict.fromkeys(SPLITS, 0)
    for i, s in enumerate(splits):
        if seen[s] >= done[s]:
            todo.append(i)
        seen[s] += 1
    total, already = len(selection.doc_ids), len(selection.doc_ids) - len(todo)
    schema = shard_schema(token_dtype(tokenizer.vocab_size), {
        "webtext.format": TOKENS_FORMAT,
        "webtext.tokenizer_sha256": tokenizer.sha256,
        "webtext.eod_id": str(tokenizer.eod_id),
        "webtext.vocab_size": str(tokenizer.vocab_size),
    })
    encoded_docs = 0

    def on_shard(entry: TokensShard, histogram: np.ndarray) -> None:
        # Recorded only after the shard is renamed into place: a killed run never lists a
        # shard it did not finish.
        state["splits"][entry.split]["shards"].append(entry.model_dump())
        committed[entry.split].append(histogram)
        _save_state(out_dir, state)
        report(progress, Progress("shard", already + encoded_docs, total, detail=entry.file))

    writers = {
        s: SplitWriter(out_dir, s, len(state["splits"][s]["shards"]), schema,
                       tokenizer.vocab_size, cfg.shard_tokens, cfg.row_group_tokens,
                       cfg.zstd_level, on_shard)
        for s in SPLITS
    }
    eod = tokenizer.eod_id
    wanted = [(selection.rows[i], selection.doc_ids[i]) for i in todo]
    todo_splits = [splits[i] for i in todo]
    def write(ids: list[str], encoded: list[list[int]], n_bytes: list[int]) -> None:
        nonlocal encoded_docs
        for doc_id, tokens, nb in zip(ids, encoded, n_bytes, strict=True):
            tokens.append(eod)
            writers[todo_splits[encoded_docs]].add(doc_id, tokens, nb)
            encoded_docs += 1
        report(progress, Progress("encode", already + encoded_docs, total))

    # SentencePiece releases the GIL while it encodes, so batch k+1 is encoded in a helper
    # thread while this thread reads texts and writes batch k (measured: the stage otherwise
    # spends ~10% of its time with the encoder idle).
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="encode") as pool:
            pending = None
            for ids, texts, n_bytes in _batched(read_texts(layout, wanted),
                                                cfg.encode_batch_chars):
                future = pool.submit(tokenizer.encode, texts, cfg.encode_threads)
                if pending is not None:
                    write(pending[0], pending[1].result(), pending[2])
                pending = (ids, future, n_bytes)
            if pending is not None:
                write(pending[0], pending[1].result(), pending[2])
        for w in writers.values():
            w.close()
    except BaseException:
        for w in writers.values():
            w.abort()
        raise


def _batched(
    batches: Iterator[tuple[list[str], list[str], list[int]]], max_chars: int
) -> Iterator[tuple[list[str], list[str], list[int]]]:
    """Regroup read batches into encode calls of about `max_chars` characters."""
    ids: list[str] = []
    texts: list[str] = []
    sizes: list[int] = []
    chars = 0
    for b_ids, b_texts, b_bytes in batches:
        for doc_id, text, n_bytes in zip(b_ids, b_texts, b_bytes, strict=True):
            ids.append(doc_id)
            texts.append(text)
            sizes.append(n_bytes)
            chars += len(text)
            if chars >= max_chars:
                yield ids, texts, sizes
                ids, texts, sizes, chars = [], [], [], 0
    if ids:
        yield ids, texts, sizes
