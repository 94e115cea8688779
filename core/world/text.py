"""Text for the fixture world, all of it from what ships with every Python install.

English prose comes from the standard library's own documentation: the reference topics in
`pydoc_data.topics` and the docstrings of a fixed list of pure-Python modules. Nothing here is
fetched. Non-English text is built from small word lists written in this file, enough for a
language identifier to recognise the language, not to be read.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import random
import re

# Pure-Python standard library modules whose docstrings are mostly prose.
_DOC_MODULES = (
    "argparse collections json logging email.message http.client urllib.parse decimal "
    "fractions statistics textwrap difflib csv configparser pathlib shutil subprocess "
    "threading socket tarfile zipfile calendar datetime random string dataclasses enum "
    "functools heapq bisect pickle copy pprint inspect ast doctest pdb timeit gettext locale "
    "codecs tempfile glob imaplib smtplib mailbox html.parser wave optparse cmd shlex sched "
    "queue selectors contextlib abc numbers weakref ipaddress uuid base64 hashlib hmac "
    "secrets trace warnings"
).split()


def _prose(text: str) -> list[str]:
    out = []
    for para in re.split(r"\n\s*\n", text):
        if para.startswith((" ", "\t", ">>>")):
            continue  # code samples and grammar rules are indented
        flat = " ".join(para.split())
        if len(flat) < 120 or not flat.endswith("."):
            continue
        symbols = sum(c in "{}[]()<>=*`|_:" for c in flat) / len(flat)
        if symbols > 0.03:  # mostly code or markup
            continue
        out.append(flat)
    return out


@functools.cache
def prose_paragraphs() -> tuple[str, ...]:
    """Unique English prose paragraphs, in a fixed order."""
    from pydoc_data.topics import topics

    seen: dict[str, None] = {}
    for key in sorted(topics):
        for p in _prose(topics[key]):
            seen.setdefault(p, None)
    for name in _DOC_MODULES:
        module = importlib.import_module(name)
        objects = [module] + [
            obj
            for attr, obj in sorted(vars(module).items())
            if not attr.startswith("_")
            and (inspect.isclass(obj) or inspect.isfunction(obj))
            and getattr(obj, "__module__", None) == module.__name__
        ]
        for obj in objects:
            for p in _prose(inspect.getdoc(obj) or ""):
                seen.setdefault(p, None)
    return tuple(seen)


FOREIGN_WORDS = {
    "de": (
        "der die das und ist nicht ein eine mit auf für von dem den zu sich auch es wir sie "
        "werden wurde haben hatte sind war nach bei aus über noch heute jahr stadt menschen "
        "regierung zeit gegen schon immer wieder zwischen unter kinder arbeit leben schule "
        "zeitung bericht deutschland wirtschaft geschichte wichtig neue große kleine gibt"
    ).split(),
    "fr": (
        "le la les et est une un des du dans pour pas que qui sur avec plus par nous vous "
        "sont été avait aussi mais comme tout cette leur entre depuis sans encore toujours "
        "gouvernement ville pays enfants travail histoire aujourd'hui années monde français "
        "nouvelle grande petite économie école journal selon contre très bien faire"
    ).split(),
    "es": (
        "el la los las y es una un del en para no que por con más pero como sobre entre "
        "también sus fue han sido desde hasta todo esta este gobierno ciudad país niños "
        "trabajo historia hoy años mundo español nueva grande pequeña economía escuela "
        "periódico según contra muy bien hacer porque cuando donde"
    ).split(),
}


def foreign_paragraphs(lang: str, rng: random.Random, n: int) -> list[str]:
    """`n` paragraphs of word salad in `lang`, from the word list above."""
    words = FOREIGN_WORDS[lang]
    paras = []
    for _ in range(n):
        sentences = []
        for _ in range(rng.randint(4, 7)):
            s = " ".join(rng.choice(words) for _ in range(rng.randint(8, 16)))
            sentences.append(s[0].upper() + s[1:] + ".")
        paras.append(" ".join(sentences))
    return paras


SPAM_KEYWORDS = (
    "cheap pills online casino bonus free download best price buy now crypto profit "
    "loan approval weight loss miracle discount deal replica watches"
).split()


def spam_paragraphs(rng: random.Random, n: int) -> list[str]:
    """Keyword-stuffed text: a few phrases repeated, as on link-farm pages."""
    phrases = [" ".join(rng.sample(SPAM_KEYWORDS, 4)) for _ in range(4)]
    paras = []
    for _ in range(n):
        paras.append(" ".join(rng.choice(phrases) + "!" for _ in range(rng.randint(10, 16))))
    return paras


def small_edit(paragraph: str, rng: random.Random, n_edits: int = 2) -> str:
    """A paragraph with a few words changed, as a syndicated copy edited by another site."""
    words = paragraph.split()
    for _ in range(n_edits):
        i = rng.randrange(len(words))
        words[i] = rng.choice(["reportedly", "indeed", "notably", "also", "really", "still"])
    return " ".join(words)
