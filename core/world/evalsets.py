"""Offline evaluation sets for the fixture world, in the released formats the suites read.

In:  nothing fetched: prose from the docstrings of standard-library modules that the world's
     pages never use (world/text.py takes its prose from other modules and the pydoc topics),
     with every paragraph sharing a word 13-gram with the world's prose dropped, so no page of
     the crawl holds suite text whatever the world's seed.
Out: `OUT/evalsets/`: reference corpora as plain text (`reference.txt`), JSONL
     (`reference.jsonl`, field "text") and Parquet (`reference.parquet`, column "text");
     LAMBADA-style `lambada.jsonl` ({"text"}: the last word is the target and occurs earlier in
     the passage where possible); CBT-style cloze as JSONL (`cbt.jsonl`: context, query,
     candidates, answer) and in the released 21-line text format (`cbt.txt`); HellaSwag-style
     `hellaswag.jsonl` (ctx, endings, label); and `suites.toml`, an `[eval.suites]` table
     naming all of them (absolute paths) for `webtext eval --config`.
The formats are those evals/suites.py documents.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import random
import re
import warnings
from pathlib import Path
from typing import Any

import pyarrow as pa

from webtext.io import write_bytes, write_parquet
from webtext.world.text import _prose, prose_paragraphs

# Pure-Python standard-library modules (none of world/text.py's), documented in prose.
_EVAL_MODULES = (
    "typing asyncio.tasks asyncio.events asyncio.streams unittest.case unittest.mock "
    "xml.etree.ElementTree email.utils email.headerregistry importlib.metadata "
    "concurrent.futures._base multiprocessing.pool zoneinfo graphlib os posixpath _pyio "
    "tracemalloc sysconfig platform pkgutil runpy traceback linecache code codeop dis pyclbr "
    "filecmp fnmatch netrc plistlib mimetypes quopri ftplib poplib xmlrpc.client http.server "
    "http.cookiejar http.cookies urllib.request wsgiref.handlers gzip bz2 lzma shelve ssl "
    "reprlib types getopt colorsys"
).split()
NGRAM = 13  # the decontamination n-gram of the dedup stage and the suites
SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
WORD = re.compile(r"^[A-Za-z]{4,}$")


def _docstrings(module_name: str) -> list[str]:
    # typing's deprecated aliases (typing.io, typing.re) warn when their docs are read.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return _read_docstrings(importlib.import_module(module_name))


def _read_docstrings(module: Any) -> list[str]:
    docs = [inspect.getdoc(module) or ""]
    for attr, obj in sorted(vars(module).items()):
        if attr.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(obj) or inspect.isclass(obj):
            docs.append(inspect.getdoc(obj) or "")
        if inspect.isclass(obj):
            docs += [inspect.getdoc(f) or "" for name, f in sorted(vars(obj).items())
                     if inspect.isfunction(f) and not name.startswith("_")]
    return docs


@functools.cache
def eval_paragraphs() -> tuple[str, ...]:
    """Prose paragraphs for evaluation only, in a fixed order, none sharing a word 13-gram
    with the world's prose."""
    from webtext.dedup.shingles import ngram_hashes, normalize_words

    world = set(prose_paragraphs())
    served = set()
    for p in world:
        served.update(ngram_hashes(normalize_words(p), NGRAM, short=False).tolist())
    seen: dict[str, None] = {}
    for name in _EVAL_MODULES:
        for doc in _docstrings(name):
            for p in _prose(doc):
                if p in world or p in seen:
                    continue
                grams = ngram_hashes(normalize_words(p), NGRAM, short=False).tolist()
                if not served.intersection(grams):
                    seen[p] = None
    return tuple(seen)


def _sentences(paragraph: str) -> list[str]:
    return [s for s in SENTENCE.split(paragraph) if len(s.split()) >= 4]


def _lambada(paras: list[str], rng: random.Random) -> list[dict]:
    out = []
    for p in paras:
        words = p.split()
        # the last word: a plain word that occurred earlier, as LAMBADA's targets do
        ends = [i for i in range(12, len(words)) if WORD.match(words[i].rstrip(".,;:"))]
        earlier = [i for i in ends if words[i].rstrip(".,;:").lower()
                   in {w.lower().strip(".,;:()\"'") for w in words[:i]}]
        pick = earlier or ends
        if not pick:
            continue
        i = rng.choice(pick)
        out.append({"text": " ".join(words[:i] + [words[i].rstrip(".,;:")])})
    return out


def _cloze(paras: list[str], rng: random.Random, n: int) -> list[tuple[dict, list[str]]]:
    """(JSONL item, its 20 context sentences) of up to n cloze items."""
    stream = [s for p in paras for s in _sentences(p)]
    out: list[tuple[dict, list[str]]] = []
    for start in range(0, len(stream) - 21, 21):
        if len(out) == n:
            break
        context, query = stream[start : start + 20], stream[start + 20]
        context_words = {w.strip(".,;:()\"'") for s in context for w in s.split()}
        context_words = {w for w in context_words if WORD.match(w)}
        qwords = query.split()
        slots = [i for i, w in enumerate(qwords) if w in context_words
                 and qwords.count(w) == 1]
        others = sorted(context_words)
        if not slots or len(others) < 10:
            continue
        i = rng.choice(slots)
        answer = qwords[i]
        candidates = sorted(rng.sample([w for w in others if w != answer], 9) + [answer])
        qwords[i] = "XXXXX"
        out.append(({"context": " ".join(context), "query": " ".join(qwords),
                     "candidates": candidates, "answer": answer}, context))
    return out


def _cbt_text(items: list[tuple[dict, list[str]]]) -> str:
    """The released CBT layout: 20 numbered context lines, line 21 with query, answer and
    candidates, a blank line after each item."""
    blocks = []
    for it, sentences in items:
        lines = [f"{k} {s}" for k, s in enumerate(sentences, 1)]
        lines.append(f"21 {it['query']}\t{it['answer']}\t\t{'|'.join(it['candidates'])}")
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def _hellaswag(paras: list[str], rng: random.Random) -> list[dict]:
    pairs = [(s[0], s[1]) for s in map(_sentences, paras) if len(s) >= 2]
    out = []
    for k, (ctx, ending) in enumerate(pairs):
        pool = [e for j, (_, e) in enumerate(pairs) if j != k]
        if len(pool) < 3:
            break
        endings = rng.sample(pool, 3)
        label = rng.randrange(4)
        endings.insert(label, ending)
        out.append({"ctx": ctx, "endings": endings, "label": label})
    return out


def _jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


def _toml_str(path: Path) -> str:
    return json.dumps(str(path.resolve()))  # a JSON string is a valid TOML basic string


def write_evalsets(out_dir: Path, seed: int = 0, n_items: int = 24) -> list[Path]:
    """Write every evaluation set into `out_dir` (up to `n_items` items each); the paths."""
    out_dir = Path(out_dir)
    rng = random.Random(seed)
    paras = list(eval_paragraphs())
    rng.shuffle(paras)
    # Disjoint slices: no two suites share a paragraph.
    need = {"txt": n_items, "jsonl": 2 * n_items, "parquet": 2 * n_items,
            "lambada": 2 * n_items, "hellaswag": 2 * n_items}
    slices, at = {}, 0
    for name, k in need.items():
        slices[name], at = paras[at : at + k], at + k
    slices["cloze"] = paras[at:]
    files = {
        "reference.txt": "\n\n".join(slices["txt"]).encode("utf-8") + b"\n",
        "reference.jsonl": _jsonl([{"text": "\n\n".join(slices["jsonl"][i : i + 2])}
                                   for i in range(0, len(slices["jsonl"]), 2)]),
        "lambada.jsonl": _jsonl(_lambada(slices["lambada"], rng)[:n_items]),
        "hellaswag.jsonl": _jsonl(_hellaswag(slices["hellaswag"], rng)[:n_items]),
    }
    cloze = _cloze(slices["cloze"], rng, n_items)
    files["cbt.jsonl"] = _jsonl([it for it, _ in cloze])
    files["cbt.txt"] = _cbt_text(cloze).encode("utf-8")
    written = []
    for name, data in files.items():
        write_bytes(out_dir / name, data)
        written.append(out_dir / name)
    parquet = [("\n\n".join(slices["parquet"][i : i + 2]))
               for i in range(0, len(slices["parquet"]), 2)]
    write_parquet(out_dir / "reference.parquet", pa.table({"text": parquet}))
    written.append(out_dir / "reference.parquet")
    suites = [
        ("reference_txt", "text", "reference.txt", 'item_chars = 1500\n'),
        ("reference_jsonl", "text", "reference.jsonl", ""),
        ("reference_parquet", "text", "reference.parquet", ""),
        ("lambada", "lambada", "lambada.jsonl", ""),
        ("cbt", "cloze", "cbt.jsonl", ""),
        ("cbt_txt", "cloze", "cbt.txt", ""),
        ("hellaswag", "hellaswag", "hellaswag.jsonl", ""),
    ]
    toml = "".join(f'[eval.suites.{name}]\nkind = "{kind}"\npaths = [{_toml_str(out_dir / f)}]\n'
                   f"{extra}\n" for name, kind, f, extra in suites)
    write_bytes(out_dir / "suites.toml", toml.encode("utf-8"))
    written.append(out_dir / "suites.toml")
    return written
