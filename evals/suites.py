"""Evaluation suites: read the released file formats into items, draw the heldout documents.

In:  local files or globs (a `SuiteConfig`), or a build (`heldout`).
Out: a `Suite`: its kind, its items in a fixed order, the files read, and a digest (sha256 of
     the items) that the lineage registry records, so that two scores are comparable only when
     their suites' digests are equal.

Formats read (one item per line, row or block; any malformed one is a `UsageError` naming the
file and the line):
- reference corpora (`text`): plain text (one item per file, or cut at line ends into items
  of about `item_chars` characters), JSONL with a text field (`field`, default "text"),
  Parquet with a text column (`field`). Empty texts are skipped: they have nothing to score.
- LAMBADA (`lambada`, the `lambada_test.jsonl` of OpenAI's release as lm-evaluation-harness
  reads it): `{"text": "..."}`; the last space-separated word is the target, its context
  everything before that space (lm-eval's `lambada_openai`).
- CBT-style cloze (`cloze`), JSONL: `{"context": str, "query": str, "candidates": [str, ...],
  "answer": str}`, where the query holds the blank "XXXXX" exactly once and the answer is one
  of the candidates; or the released CBT text files (`cbt_test_*.txt`, format "cbt" or a
  .txt suffix): items of 21 numbered lines, lines 1-20 the context sentences and line 21
  "21 query-with-XXXXX<TAB>answer<TAB><TAB>cand|cand|...", items separated by a blank line.
  Each candidate is scored as the GPT-2 paper did, with the rest of the query after it.
- HellaSwag (`hellaswag`, the released `hellaswag_val.jsonl`): `{"ctx": str, "endings":
  [str, ...], "label": int}` (a digit string is accepted, as the Hugging Face copy stores it);
  each ending is a continuation of ctx after one space.
"""

from __future__ import annotations

import glob
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webtext.errors import UsageError
from webtext.evals.config import SuiteConfig

BLANK = "XXXXX"  # CBT's placeholder for the missing word
CBT_LINES = 21  # 20 context sentences and the query line


@dataclass(frozen=True)
class Item:
    """One evaluation item. Language-model suites use `text`; tasks score each of `choices`
    as a continuation of `context`, `label` indexing the right one."""

    item_id: str
    text: str = ""
    context: str = ""
    choices: tuple[str, ...] = ()
    label: int = 0
    # The length-normalisation denominator of each choice (acc_norm): its text without the
    # delimiter that joins it to the context.
    norm_texts: tuple[str, ...] = ()

    def overlap_text(self) -> str:
        """The text whose n-grams must not occur in training data (decontamination)."""
        if self.text:
            return self.text
        return " ".join([self.context, *self.choices])


@dataclass
class Suite:
    name: str
    kind: str
    items: list[Item]
    files: list[str] = field(default_factory=list)

    @property
    def digest(self) -> str:
        """sha256 of the kind and the items, in order: equal digests, equal suites."""
        h = hashlib.sha256(self.kind.encode())
        for it in self.items:
            row = [it.item_id, it.text, it.context, list(it.choices), it.label,
                   list(it.norm_texts)]
            h.update(json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n")
        return h.hexdigest()


# --- files -------------------------------------------------------------------------------------


def expand_paths(patterns: list[str], suite: str) -> list[Path]:
    """Files named by paths or globs, sorted within each pattern; a pattern matching nothing
    is an error (a typo must not silently shrink a suite)."""
    out: list[Path] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            found = sorted(Path(p) for p in glob.glob(pattern, recursive=True))
            found = [p for p in found if p.is_file()]
        else:
            found = [Path(pattern)] if Path(pattern).is_file() else []
        if not found:
            raise UsageError(f"suite {suite}: {pattern} matches no file")
        out += [p for p in found if p not in out]
    return out


def _format(path: Path, cfg: SuiteConfig) -> str:
    if cfg.format != "auto":
        return cfg.format
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        return "jsonl"
    if suffix == ".parquet":
        return "parquet"
    if suffix == ".txt":
        return "cbt" if cfg.kind == "cloze" else "text"
    raise UsageError(f"{path}: cannot tell the format from the suffix {path.suffix!r}; set "
                     "format = \"text\", \"jsonl\", \"parquet\" or \"cbt\" in the suite")


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) of each non-blank line."""
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise UsageError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
            if not isinstance(obj, dict):
                raise UsageError(f"{path}:{lineno}: expected a JSON object, got "
                                 f"{type(obj).__name__}")
            yield lineno, obj


def _get(obj: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in obj:
        raise UsageError(f"{where}: no {key!r} field")
    value = obj[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise UsageError(f"{where}: {key!r} must be a {kind.__name__}, got "
                         f"{type(value).__name__}")
    return value


def _chunks(text: str, item_chars: int | None) -> list[str]:
    """The text cut at line ends into pieces of at least `item_chars` characters (the last
    may be shorter); the whole text when `item_chars` is None."""
    if item_chars is None:
        return [text]
    out, cur, size = [], [], 0
    for line in text.splitlines(keepends=True):
        cur.append(line)
        size += len(line)
        if size >= item_chars:
            out.append("".join(cur))
            cur, size = [], 0
    if cur:
        out.append("".join(cur))
    return out


def read_reference(path: Path, cfg: SuiteConfig) -> Iterator[Item]:
    """Items of one reference-corpus file (plain text, JSONL or Parquet)."""
    fmt = _format(path, cfg)
    if fmt == "text":
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise UsageError(f"{path}: not UTF-8 text (byte {e.start})") from None
        for i, chunk in enumerate(_chunks(text, cfg.item_chars)):
            if chunk.strip():
                yield Item(f"{path.name}#{i}", text=chunk)
    elif fmt == "jsonl":
        for lineno, obj in _jsonl(path):
            text = _get(obj, cfg.field, str, f"{path}:{lineno}")
            if text.strip():
                yield Item(f"{path.name}:{lineno}", text=text)
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as e:  # pyarrow raises several types for a file that is not Parquet
            raise UsageError(f"{path}: not a readable Parquet file ({e})") from None
        if cfg.field not in table.column_names:
            raise UsageError(f"{path}: no column {cfg.field!r} (columns: "
                             f"{', '.join(table.column_names)})")
        for row, text in enumerate(table.column(cfg.field).to_pylist()):
            if text is not None and not isinstance(text, str):
                raise UsageError(f"{path}: row {row}: {cfg.field!r} is not a string")
            if text and text.strip():
                yield Item(f"{path.name}:{row}", text=text)
    else:
        raise UsageError(f"{path}: format {fmt!r} is not one of a text suite's")


def read_lambada(path: Path, cfg: SuiteConfig) -> Iterator[Item]:
    for lineno, obj in _jsonl(path):
        where = f"{path}:{lineno}"
        text = _get(obj, cfg.field, str, where).rstrip()
        context, sep, word = text.rpartition(" ")
        if not sep or not context.strip() or not word:
            raise UsageError(f"{where}: {cfg.field!r} needs a context and a last word")
        yield Item(f"{path.name}:{lineno}", context=context, choices=(" " + word,),
                   norm_texts=(word,))


def _cloze_item(item_id: str, context: str, query: str, candidates: list[str], answer: str,
                where: str) -> Item:
    if query.count(BLANK) != 1:
        raise UsageError(f"{where}: the query must hold {BLANK} exactly once")
    if len(candidates) < 2 or not all(isinstance(c, str) and c for c in candidates):
        raise UsageError(f"{where}: candidates must be 2 or more non-empty strings")
    if answer not in candidates:
        raise UsageError(f"{where}: the answer {answer!r} is not among the candidates")
    before, after = query.split(BLANK)
    # GPT-2 (section 3.2): score each choice together with the rest of the sentence after it.
    prompt = (context.rstrip() + "\n" + before) if context.strip() else before
    return Item(item_id, context=prompt, choices=tuple(c + after for c in candidates),
                label=candidates.index(answer), norm_texts=tuple(c + after for c in candidates))


def read_cloze_jsonl(path: Path) -> Iterator[Item]:
    for lineno, obj in _jsonl(path):
        where = f"{path}:{lineno}"
        candidates = _get(obj, "candidates", list, where)
        yield _cloze_item(f"{path.name}:{lineno}", _get(obj, "context", str, where),
                          _get(obj, "query", str, where), candidates,
                          _get(obj, "answer", str, where), where)


def read_cbt(path: Path) -> Iterator[Item]:
    """The released CBT format (see the module docstring)."""
    block: list[tuple[int, str]] = []
    with open(path, encoding="utf-8") as f:
        lines = list(enumerate(f, 1))
    for lineno, raw in [*lines, (len(lines) + 1, "")]:
        line = raw.rstrip("\n")
        if line.strip():
            block.append((lineno, line))
            continue
        if not block:
            continue
        start = block[0][0]
        if len(block) != CBT_LINES:
            raise UsageError(f"{path}:{start}: an item has {len(block)} lines, not {CBT_LINES}")
        sentences = []
        for k, (n, text) in enumerate(block, 1):
            num, _, rest = text.partition(" ")
            if num != str(k):
                raise UsageError(f"{path}:{n}: expected line number {k}, got {num!r}")
            sentences.append(rest)
        qline = block[-1][0]
        fields = sentences[-1].split("\t")
        if len(fields) != 4 or fields[2] != "":
            raise UsageError(f"{path}:{qline}: expected 'query<TAB>answer<TAB><TAB>cand|cand"
                             "|...'")
        query, answer, _, cands = fields
        yield _cloze_item(f"{path.name}:{start}", " ".join(sentences[:-1]), query,
                          cands.split("|"), answer, f"{path}:{qline}")
        block = []


def read_hellaswag(path: Path) -> Iterator[Item]:
    for lineno, obj in _jsonl(path):
        where = f"{path}:{lineno}"
        ctx = _get(obj, "ctx", str, where)
        endings = _get(obj, "endings", list, where)
        if len(endings) < 2 or not all(isinstance(e, str) and e for e in endings):
            raise UsageError(f"{where}: endings must be 2 or more non-empty strings")
        label = obj.get("label")
        if isinstance(label, str) and label.isdigit():
            label = int(label)
        if not isinstance(label, int) or isinstance(label, bool) or not (
                0 <= label < len(endings)):
            raise UsageError(f"{where}: label must be an index into endings (0.."
                             f"{len(endings) - 1}), got {obj.get('label')!r}")
        yield Item(f"{path.name}:{lineno}", context=ctx,
                   choices=tuple(" " + e for e in endings), label=label,
                   norm_texts=tuple(endings))


def read_suite(name: str, cfg: SuiteConfig) -> Suite:
    """A file-based suite (every kind but `heldout`, which `heldout_suite` draws)."""
    if cfg.kind == "heldout":
        raise UsageError(f"suite {name}: a heldout suite is drawn from a build "
                         "(heldout_suite), not read from files")
    files = expand_paths(cfg.paths, name)
    items: list[Item] = []
    for path in files:
        if cfg.kind == "text":
            items += read_reference(path, cfg)
        elif cfg.kind == "lambada":
            items += read_lambada(path, cfg)
        elif cfg.kind == "cloze":
            fmt = _format(path, cfg)
            items += read_cbt(path) if fmt == "cbt" else read_cloze_jsonl(path)
        elif cfg.kind == "hellaswag":
            items += read_hellaswag(path)
    if cfg.max_items is not None:
        items = items[: cfg.max_items]
    if not items:
        raise UsageError(f"suite {name}: {', '.join(map(str, files))} hold no items")
    return Suite(name, cfg.kind, items, [str(p) for p in files])


# --- heldout -----------------------------------------------------------------------------------


def _rank(seed: int, doc_id: str) -> str:
    return hashlib.blake2b(f"{seed}:{doc_id}".encode(), digest_size=8).hexdigest()


def draw_heldout(layout: Any, size: int, seed: int = 0) -> list[tuple[str, str]]:
    """(doc_id, text) of `size` documents drawn, seeded, from the build's deduplicated and
    unfiltered pool: every docs/ row with text whose dedup.parquet row has keep == True,
    whatever its quality reasons, language or karma. No recipe decides the pool, so no
    variant matches it by construction (docs/design.md, "Ablations"). The draw depends only
    on the pool and the seed: the same documents for every variant. `layout` is a
    `webtext.layout.BuildLayout`."""
    import pyarrow.parquet as pq

    from webtext.dedup.decontam import doc_texts
    from webtext.records import DedupColumn
    from webtext.records import DocsColumn as D

    shards = layout.require_docs_shards()
    if not layout.dedup.is_file():
        raise UsageError(f"{layout.dedup} not found: the heldout pool is the deduplicated "
                         "documents; run `webtext dedup` on this build first")
    dedup = pq.read_table(layout.dedup, columns=[DedupColumn.DOC_ID, DedupColumn.KEEP])
    kept = {d for d, k in zip(dedup.column(DedupColumn.DOC_ID).to_pylist(),
                              dedup.column(DedupColumn.KEEP).to_pylist(), strict=True) if k}
    pool: set[str] = set()
    for shard in shards:
        t = pq.read_table(shard, columns=[D.DOC_ID, D.N_CHARS])
        for d, n in zip(t.column(D.DOC_ID).to_pylist(), t.column(D.N_CHARS).to_pylist(),
                        strict=True):
            if d in kept and (n or 0) > 0:
                pool.add(d)
    if len(pool) < size:
        raise UsageError(f"{layout.root}: the deduplicated pool holds {len(pool)} documents, "
                         f"fewer than the heldout size {size}")
    chosen = sorted(pool, key=lambda d: _rank(seed, d))[:size]
    texts: dict[str, str] = {}
    for d, t in doc_texts(layout, set(chosen)):
        texts.setdefault(d, t)  # a repeated doc_id keeps its first row
    return [(d, texts[d]) for d in chosen]


def heldout_suite(name: str, layout: Any, size: int, seed: int = 0) -> Suite:
    """The heldout documents as a language-model suite (item ids are doc_ids)."""
    docs = draw_heldout(layout, size, seed)
    return Suite(name, "heldout", [Item(d, text=t) for d, t in docs], [str(layout.root)])
