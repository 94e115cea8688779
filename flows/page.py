"""The build page (report.html) and the ablation page: one self-contained HTML file each.

In:  the dict of `webtext.flows.corpusstats.compute_stats` (with `diff` when compared against
     another build) and its plots; an ablation's results.json and its plots.
Out: HTML text. Everything is inline (style, plots as data: URLs, document texts in
     <details>): the page makes no request, so it reads the same offline, mailed, or archived.
     Every section has an id; every key number is a <span data-key="path/in/stats.json"
     data-value="its JSON value" data-kind="int|pct|float|signed">, so that a test can check
     the page against stats.json (the ablation page: against its results.json).
     The build page links to each ablation page (ablations/<name>/report.html) and back.
"""

from __future__ import annotations

import base64
import html
import json
from typing import Any

from webtext.flows.report import by_count

esc = html.escape
SECTIONS = (  # (id, title) of the build page, in order
    ("header", "Build"), ("funnel", "Funnel"), ("rules", "Quality rules"),
    ("lengths", "Document length"), ("languages", "Languages"),
    ("karma", "Karma and subreddits"), ("domains", "Domains"), ("linkrot", "Link rot"),
    ("dedup", "Duplicates"), ("tokens", "Token sets"), ("ablations", "Ablations"),
    ("samples", "Samples"), ("diff", "Changes against another build"),
)
STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:1.5em auto;padding:0 1em;
color:#222;line-height:1.4}
h1{font-size:1.6em}h2{border-bottom:2px solid #4c72b0;padding-bottom:2px;margin-top:2em}
nav a{margin-right:.8em}table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ddd;padding:2px 8px;vertical-align:top}th{background:#f3f5f9}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr.reason td{color:#555;font-size:.92em}tr.step td{font-weight:600}
.plots img{margin:4px;border:1px solid #eee;max-width:100%}.muted{color:#777}
details pre{white-space:pre-wrap;background:#f8f8f8;padding:.5em;max-height:30em;overflow:auto}
code{background:#f3f3f3;padding:0 3px}.up{color:#2a7a2a}.down{color:#b03030}
"""


# ---------------------------------------------------------------- small pieces


def fmt(value: Any, kind: str = "int") -> str:
    """A number as the page shows it: int with thousands separators, pct as a percentage
    with one decimal, float with up to four significant digits; None as a dash."""
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if kind == "pct":
        return f"{100 * value:.1f}%"
    if kind == "float":
        return f"{value:.4g}"
    if kind == "signed":
        return f"{value:+,}" if isinstance(value, int) else f"{value:+.4g}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def part(key: Any) -> str:
    """One part of a data-key, escaped as in a JSON Pointer (RFC 6901): `~` and `/`."""
    return str(key).replace("~", "~0").replace("/", "~1")


def num(key: str, value: Any, kind: str = "int") -> str:
    """A key number, tagged with where it is in stats.json (`data-key`, a JSON Pointer
    without its leading slash), its JSON value, and how it is shown (`data-kind`)."""
    return (f"<span data-key='{esc(key)}' data-value='{esc(json.dumps(value))}' "
            f"data-kind='{kind}'>{esc(fmt(value, kind))}</span>")


def table(headers: list[str], rows: list[list[str]], numeric: set[int] = frozenset(),
          row_class: list[str] | None = None, table_id: str = "") -> str:
    """A table of already-escaped cells; columns in `numeric` align right."""
    def cls(i: int) -> str:
        return " class='n'" if i in numeric else ""

    head = "".join(f"<th{cls(i)}>{esc(h)}</th>" for i, h in enumerate(headers))
    body = "".join(
        f"<tr{f' class={chr(39)}{row_class[j]}{chr(39)}' if row_class else ''}>"
        + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(r)) + "</tr>"
        for j, r in enumerate(rows))
    ident = f" id='{table_id}'" if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def img(name: str, images: dict[str, bytes], alt: str) -> str:
    if name not in images:
        return ""
    data = base64.b64encode(images[name]).decode()
    return f"<img id='plot-{esc(name)}' alt='{esc(alt)}' src='data:image/png;base64,{data}'>"


def section(ident: str, title: str, body: str) -> str:
    return f"<section id='{ident}'><h2>{esc(title)}</h2>{body}</section>"


def missing(what: str) -> str:
    return f"<p class='muted'>{esc(what)}</p>"


def generic(value: Any) -> str:
    """Any JSON value as nested tables (results.json keys this page does not know)."""
    if isinstance(value, dict):
        return table(["key", "value"], [[esc(str(k)), generic(v)] for k, v in value.items()])
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        keys = list(dict.fromkeys(k for v in value for k in v))
        return table(keys, [[generic(v.get(k)) for k in keys] for v in value])
    if isinstance(value, list):
        return esc(", ".join(json.dumps(v) if not isinstance(v, str) else v for v in value))
    if isinstance(value, float):
        return esc(f"{value:.6g}")
    return esc("–" if value is None else str(value))


def page(title: str, nav: list[tuple[str, str]], body: str) -> str:
    links = "".join(f"<a href='#{i}'>{esc(t)}</a>" for i, t in nav)
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<link rel='icon' href='data:,'><title>{esc(title)}</title>"
            f"<style>{STYLE}</style></head><body>"
            f"<nav>{links}</nav>{body}</body></html>\n")


# ---------------------------------------------------------------- sections of the build page


def header_section(stats: dict[str, Any], config_text: str | None) -> str:
    h = stats.get("header") or {}
    config = "no resolved config was found in configs/"
    if h.get("config_file"):
        config = (f"<a href='{esc(h['config_file'])}'>{esc(h['config_file'])}</a>, digest "
                  f"<code data-key='header/config_digest' "
                  f"data-value='{esc(json.dumps(h['config_digest']))}'>"
                  f"{esc(h['config_digest'])}</code>")
        if config_text:
            config += (f"<details><summary>show the resolved config</summary>"
                       f"<pre>{esc(config_text)}</pre></details>")
    dumps = "".join(f"<li><code>{esc(d)}</code></li>" for d in h.get("dumps") or [])
    files = [[f"<code>{esc(f)}</code>",
              num(f"header/dump_files/{part(f)}/read", r.get("read"))]
             for f, r in (h.get("dump_files") or {}).items()]
    stages = [[esc(s["stage"]), num(f"header/stages/{i}/seconds", s["seconds"], "float"),
               esc("recorded by the stage" if s["measured"] else "from file times"),
               esc(s["finished"])] for i, s in enumerate(h.get("stages") or [])]
    body = (f"<h1>webtext build report: <span id='build-name'>{esc(h.get('name', ''))}</span>"
            f"</h1><table><tbody>"
            f"<tr><th>build</th><td><code>{esc(stats.get('build', ''))}</code></td></tr>"
            f"<tr><th>generated</th><td>{esc(h.get('generated', ''))}</td></tr>"
            f"<tr><th>webtext version</th><td>{esc(h.get('webtext_version', ''))}</td></tr>"
            f"<tr><th>resolved config</th><td>{config}</td></tr>"
            f"<tr><th>input dumps</th><td><ul>{dumps}</ul></td></tr></tbody></table>")
    if files:
        body += "<h3>Submissions read per dump file</h3>" + table(["file", "read"], files, {1})
    if stages:
        body += ("<h3>Time per stage</h3>"
                 + table(["stage", "seconds", "how measured", "finished (UTC)"], stages, {1}))
    return body


def funnel_section(stats: dict[str, Any], images: dict[str, bytes]) -> str:
    funnel = stats.get("funnel") or []
    if not funnel:
        return missing("No stage has finished on this build yet.")
    rows, classes = [], []
    for i, s in enumerate(funnel):
        rows.append([esc(s["step"]), num(f"funnel/{i}/in", s["in"]),
                     num(f"funnel/{i}/out", s["out"]),
                     num(f"funnel/{i}/share_of_previous", s.get("share_of_previous"), "pct"),
                     num(f"funnel/{i}/share_of_start", s.get("share_of_start"), "pct"),
                     "" if s["adds_up"] else "<b>does not add up</b>"])
        classes.append("step")
        for code, n in by_count(s["reasons"]):
            words = (s.get("explained") or {}).get(code, {})
            setting = words.get("setting")
            rows.append([f"&nbsp;&nbsp;− <code>{esc(code)}</code>",
                         num(f"funnel/{i}/reasons/{part(code)}", n), "",
                         fmt(n / s["in"], "pct"), "",
                         esc(words.get("text", "")) + (f" (setting <code>{esc(setting)}"
                                                       "</code>)" if setting else "")])
            classes.append("reason")
        if s["step"] == "submissions" and (stats.get("submissions") or {}).get("merged"):
            sub = stats["submissions"]
            rows.append(["&nbsp;&nbsp;→ unique URLs", num("submissions/unique_urls",
                                                        sub["unique_urls"]), "", "", "",
                         f"{num('submissions/merged', sub['merged'])} kept submissions link "
                         "to a URL another kept submission links to: each URL is crawled "
                         "once, its karma is the highest score of its submissions"])
            classes.append("reason")
    intro = ("<p>Each step lists what goes in, what continues, and why the rest stops "
             "(every input ends in exactly one state: in = continues + the sum of its "
             "reasons; " + ("all steps add up" if stats.get("adds_up") else
                            "<b>some steps do not add up</b>") + "). "
             "“% of step” is continues / in; “% of start” is continues / submissions read. "
             "A document that fails several quality rules is counted under the first.</p>")
    return (intro + table(["step", "in", "continues", "% of step", "% of start", "note"],
                          rows, {1, 2, 3, 4}, classes, "funnel-table")
            + f"<div class='plots'>{img('funnel', images, 'funnel: input of every step')}</div>")


def rules_section(stats: dict[str, Any], images: dict[str, bytes]) -> str:
    rules = stats.get("rules")
    if not rules:
        return missing("No documents yet (the clean stage has not run).")
    # most removing first; a rule keeps its index in stats.json for its data-key
    order = sorted(range(len(rules)), key=lambda i: (-rules[i]["removes"], i))
    rows = [[f"<code>{esc(rules[i]['reason'])}</code>",
             esc(rules[i].get("text", "")) + ("" if rules[i]["enabled"] else " (switched off)")
             + f"<br><span class='muted'>setting <code>{esc(rules[i]['setting'])}</code></span>",
             num(f"rules/{i}/removes", rules[i]["removes"]),
             num(f"rules/{i}/removes_share", rules[i]["removes_share"], "pct"),
             num(f"rules/{i}/alone", rules[i]["alone"])] for i in order]
    plots = "".join(img(f"signal-{sig}", images, f"histogram of {sig} with its thresholds")
                    for sig in (stats.get("signal_hists") or {}))
    return (f"<p>Over the {num('rules_base', stats.get('rules_base'))} extracted documents "
            "(those with text): the share each rule removes (documents failing it, whatever "
            "else they fail) and how many it alone removes (documents failing no other rule). "
            "The histograms draw each rule's threshold on its signal.</p>"
            + table(["rule", "fails when", "removes", "removes %", "alone"], rows, {2, 3, 4},
                    table_id="rules-table")
            + f"<div class='plots'>{plots}</div>")


def lengths_section(stats: dict[str, Any], images: dict[str, bytes]) -> str:
    rows = [[esc(b["bin"]), num(f"doc_words_hist/{i}/count", b["count"])]
            for i, b in enumerate(stats.get("doc_words_hist") or [])]
    plots = img("doc-words", images, "document length in words") + "".join(
        img(f"doc-tokens-{name}", images, f"document length in tokens, {name}")
        for name in stats.get("tokens") or {})
    if not rows:
        return missing("No documents yet.")
    return ("<p>Extracted documents by length in words; documents of each token set by "
            "length in tokens.</p>" + table(["words", "documents"], rows, {1})
            + f"<div class='plots'>{plots}</div>")


def languages_section(stats: dict[str, Any], images: dict[str, bytes]) -> str:
    shares = stats.get("language_shares") or {}
    if not shares:
        return missing("No documents yet.")
    rows = [[esc(str(k)), num(f"languages/{part(k)}", stats["languages"][k]),
             num(f"language_shares/{part(k)}", v, "pct")] for k, v in by_count(shares)]
    return (table(["language", "documents", "share"], rows, {1, 2})
            + f"<div class='plots'>{img('languages', images, 'language mix')}</div>")


def karma_section(stats: dict[str, Any], images: dict[str, bytes]) -> str:
    if not stats.get("karma_hist"):
        return missing("No URLs yet (the source stage has not run).")
    karma = [[esc(b["bin"]), num(f"karma_hist/{i}/count", b["count"])]
             for i, b in enumerate(stats["karma_hist"])]
    subs = [[f"r/{esc(s)}", num(f"subreddits/{i}/1", n)]
            for i, (s, n) in enumerate(stats.get("subreddits") or [])]
    return ("<div style='display:flex;gap:2em;flex-wrap:wrap'><div>"
            + table(["karma", "URLs"], karma, {1}) + "</div><div>"
            + table(["subreddit", "URLs"], subs, {1}) + "</div></div><div class='plots'>"
            + img("karma", images, "karma histogram") + img("subreddits", images, "subreddits")
            + "</div>")


def domains_section(stats: dict[str, Any], images: dict[str, bytes]) -> str:
    doms = stats.get("domains") or []
    if not doms:
        return missing("No documents yet.")
    rows = [[esc(d["domain"]), num(f"domains/{i}/urls", d["urls"]),
             num(f"domains/{i}/docs", d["docs"]), num(f"domains/{i}/kept", d["kept"]),
             num(f"domains/{i}/kept_share", d["kept_share"], "pct")]
            for i, d in enumerate(doms)]
    return ("<p>The domains with the most URLs; of their fetched pages, the documents kept in "
            "the end (passing every rule, not a duplicate).</p>"
            + table(["domain", "URLs", "documents", "kept", "kept share"], rows, {1, 2, 3, 4})
            + f"<div class='plots'>{img('domains', images, 'top domains')}</div>")


def linkrot_section(stats: dict[str, Any], images: dict[str, bytes]) -> str:
    from webtext.flows.report import linkrot_recovery_rows  # the terminal's rows

    rows = linkrot_recovery_rows(stats)
    if not rows:
        return missing("No link-rot report (linkrot.json) in this build.")
    share = (stats.get("linkrot") or {}).get("fetched_share")
    return (f"<p>Of every URL, {num('linkrot/fetched_share', share, 'pct')} answered live; "
            "dead ones were looked up in web archives (Common Crawl, the Wayback Machine) "
            "when the crawl was configured to. By submission year, then by every domain "
            "with a dead URL.</p>"
            + table(["URLs of", "URLs", "alive", "Common Crawl", "Wayback", "lost"],
                    [[esc(c) for c in r] for r in rows], {1, 2, 3, 4, 5}, table_id="linkrot-table")
            + f"<div class='plots'>{img('linkrot-years', images, 'link rot by year')}</div>")


def dedup_section(stats: dict[str, Any], images: dict[str, bytes]) -> str:
    d = stats.get("dedup")
    if not d:
        return missing("No dedup.parquet in this build yet.")
    kinds = ", ".join(f"{num(f'dedup/by_kind/{part(k)}', n)} {esc(k)}"
                      for k, n in d["by_kind"].items())
    curve = [[num(f"dedup/threshold_curve/{i}/threshold", c["threshold"], "float"),
              num(f"dedup/threshold_curve/{i}/duplicates", c["duplicates"]),
              num(f"dedup/threshold_curve/{i}/dup_rate", c["dup_rate"], "pct")]
             for i, c in enumerate(d.get("threshold_curve") or [])]
    clusters = "".join(
        f"<details><summary>cluster <code>{esc(c['cluster_id'])}</code>: "
        f"{num(f'dedup/largest_clusters/{i}/size', c['size'])} documents</summary><ul>"
        + "".join(f"<li><code>{esc(m['url'] or m['doc_id'])}</code>"
                  f"{' (kept)' if m['keep'] else ''}</li>" for m in c["members"])
        + "</ul></details>" for i, c in enumerate(d.get("largest_clusters") or []))
    return (f"<p>{num('dedup/duplicates', d['duplicates'])} of "
            f"{num('dedup/docs', d['docs'])} documents are duplicates "
            f"({num('dedup/dup_rate', d['dup_rate'], 'pct')}): {kinds or 'none'}. "
            f"Configured Jaccard threshold: {num('dedup/threshold', d.get('threshold'), 'float')}"
            f"; {num('contaminated', stats.get('contaminated'))} documents overlap the "
            "evaluation texts.</p><h3>Duplicate rate by threshold</h3><p>Computed from the "
            "stored MinHash signatures (dedup/), without hashing the texts again.</p>"
            + table(["threshold", "duplicates", "duplicate rate"], curve, {0, 1, 2})
            + "<h3>Largest clusters</h3>" + (clusters or missing("No cluster has two members."))
            + "<div class='plots'>" + img("cluster-sizes", images, "cluster sizes")
            + img("dedup-thresholds", images, "duplicate rate by threshold") + "</div>")


def recipe_words(config: dict[str, Any]) -> str:
    """A recipe's selection in words, from its RecipeConfig as the manifest records it."""
    parts = []
    if config.get("min_karma") is not None:
        parts.append(f"karma ≥ {config['min_karma']}")
    if config.get("langs"):
        parts.append("language " + "/".join(config["langs"]))
    if config.get("rules") not in (None, "none"):
        parts.append(f"quality rules: {config['rules']}")
    if config.get("dedup"):
        parts.append("deduplicated")
    if config.get("decontaminate"):
        parts.append("decontaminated")
    return ", ".join(parts) or "every document with text (no filter)"


def tokens_section(stats: dict[str, Any]) -> str:
    tokens = stats.get("tokens") or {}
    if not tokens:
        return missing("No token sets yet (the tokenize stage has not run).")
    rows = [[f"<b>{esc(t['recipe'])}</b><br><span class='muted'>{esc(name)}</span>",
             esc(recipe_words(t.get("recipe_config") or {})), esc(t.get("role", "")),
             num(f"tokens/{part(name)}/docs", t["docs"]),
             num(f"tokens/{part(name)}/tokens", t["tokens"]),
             num(f"tokens/{part(name)}/bytes_per_token", t["bytes_per_token"], "float"),
             num(f"tokens/{part(name)}/epochs_at_budget", t.get("epochs_at_budget"), "float")]
            # the build's own token sets first, then the ablations'
            for name, t in sorted(tokens.items(), key=lambda nt: nt[1].get("role") != "build")]
    budget = next((t.get("budget") for t in tokens.values() if t.get("budget")), None)
    return (f"<p>Epochs at the configured budget (train.max_tokens = "
            f"{fmt(budget)} tokens): how many times training would see the train split.</p>"
            + table(["recipe", "selection", "role", "documents", "tokens", "bytes/token",
                     "epochs at budget"], rows, {3, 4, 5, 6}, table_id="tokens-table"))


def ablations_section(stats: dict[str, Any]) -> str:
    found = stats.get("ablations") or []
    if not found:
        return missing("No ablation has been run on this build (`webtext ablate`).")
    return "".join(f"<h3><a href='{esc(a['page'])}'>ablation {esc(a['name'])}</a></h3>"
                   f"<p>variants: {esc(', '.join(a['variants']))}</p>"
                   f"<p>{esc(a.get('verdict') or '')}</p>" for a in found)


def samples_section(stats: dict[str, Any]) -> str:
    samples = stats.get("samples") or {}
    if not samples:
        return missing("No document fails a rule.")
    rules = {r["reason"]: r for r in stats.get("rules") or []}
    parts = ["<p>For each code, a few documents it removed (the same selection as "
             "<code>webtext inspect</code>: smallest hash of doc_id first), with the values "
             "the rule reads. Open a document to read its extracted text.</p>"]
    for code, docs in samples.items():
        rule = rules.get(code)
        parts.append(f"<h3 id='sample-{esc(code)}'><code>{esc(code)}</code>"
                     + (f": {esc(rule['text'])}" if rule else "") + "</h3>")
        for doc in docs:
            values = " ".join(f"<code>{esc(k)}={esc(fmt(v, 'float'))}</code>"
                              for k, v in doc["values"].items())
            more = (f" (first {len(doc['text']):,} of {doc['text_chars']:,} characters)"
                    if doc["text_chars"] > len(doc["text"]) else "")
            parts.append(
                f"<div class='sample'><code>{esc(doc['url'])}</code> {esc(doc['title'])}<br>"
                f"{values} reasons: {esc(', '.join(doc['reasons']))}"
                f"<details><summary>open the text{esc(more)}</summary>"
                f"<pre>{esc(doc['text']) or '(no text)'}</pre></details></div>")
    return "".join(parts)


def diff_section(stats: dict[str, Any]) -> str:
    diff = stats.get("diff")
    if not diff:
        return missing("Not compared with another build (`webtext stats BUILD --against "
                       "OTHER_BUILD`; a scheduled snapshot is compared with the one before).")
    parts = [f"<p>Against <code id='diff-against'>{esc(str(diff['against']))}</code>: "
             "now, before, and the change (rules and domains: only what changed).</p>"]
    for name, rows in diff["sections"].items():
        cells = [[esc(r["what"]), num(f"diff/sections/{name}/{i}/now", r["now"]),
                  num(f"diff/sections/{name}/{i}/before", r["before"]),
                  f"<span class='{'up' if (r['change'] or 0) > 0 else 'down'}'>"
                  f"{num(f'diff/sections/{name}/{i}/change', r['change'], 'signed')}</span>"
                  if r["change"] else num(f"diff/sections/{name}/{i}/change", r["change"])]
                 for i, r in enumerate(rows)]
        parts.append(f"<h3>{esc(name)}</h3>" + (table(["what", "now", "before", "change"],
                                                      cells, {1, 2, 3})
                                                if cells else missing("no change")))
    return "".join(parts)


def build_page(stats: dict[str, Any], images: dict[str, bytes],
               config_text: str | None = None) -> str:
    """report.html of a build: every section of SECTIONS, in order."""
    bodies = {
        "header": header_section(stats, config_text),
        "funnel": funnel_section(stats, images),
        "rules": rules_section(stats, images),
        "lengths": lengths_section(stats, images),
        "languages": languages_section(stats, images),
        "karma": karma_section(stats, images),
        "domains": domains_section(stats, images),
        "linkrot": linkrot_section(stats, images),
        "dedup": dedup_section(stats, images),
        "tokens": tokens_section(stats),
        "ablations": ablations_section(stats),
        "samples": samples_section(stats),
        "diff": diff_section(stats),
    }
    body = "".join(section(i, t, bodies[i]) if i != "header" else
                   f"<section id='header'>{bodies[i]}</section>" for i, t in SECTIONS)
    name = (stats.get("header") or {}).get("name", "")
    return page(f"webtext build report: {name}", list(SECTIONS), body)


# ---------------------------------------------------------------- the ablation page

ABLATION_SECTIONS = (("ablation-header", "Ablation"), ("ablation-table", "Variants"),
                     ("ablation-curves", "Loss curves"), ("ablation-verdict", "Verdict"),
                     ("ablation-suites", "Evaluation suites and the rest of results.json"))


# The variants' columns this page knows, in order, with how each is shown; any other scalar
# a variant row holds follows them (results.json grows with the evaluation suites).
VARIANT_COLUMNS = {
    "docs": ("documents", "int"), "train_tokens": ("train tokens", "int"),
    "unique_tokens": ("unique tokens", "int"), "epochs": ("epochs at budget", "float"),
    "val_loss_mean": ("val loss (nats/token)", "float"), "val_loss_sd": ("± sd", "float"),
    "val_bpb_mean": ("val bits/byte", "float"), "val_bpb_sd": ("± sd", "float"),
    "d_loss_vs_baseline": ("Δ loss vs baseline", "signed"),
    "d_bpb_vs_baseline": ("Δ bits/byte", "signed"),
}


def _variants_table(results: dict[str, Any]) -> str:
    variants = results.get("variants") or {}
    present = list(dict.fromkeys(k for r in variants.values() for k, v in r.items()
                                 if isinstance(v, int | float) and not isinstance(v, bool)))
    keys = [k for k in VARIANT_COLUMNS if k in present] + [k for k in present
                                                            if k not in VARIANT_COLUMNS]
    rows = [[f"<b>{esc(name)}</b>" + (" (baseline)" if name == results.get("baseline") else "")]
            + [num(f"variants/{part(name)}/{part(k)}", r.get(k),
                   VARIANT_COLUMNS.get(k, ("", "float"))[1]) for k in keys]
            for name, r in variants.items()]
    return table(["variant"] + [VARIANT_COLUMNS.get(k, (k, ""))[0] for k in keys], rows,
                 set(range(1, len(keys) + 1)), table_id="ablation-results")


def ablation_page(name: str, results: dict[str, Any], images: dict[str, bytes],
                  build_page_href: str = "../../report.html") -> str:
    """ablations/<name>/report.html from its results.json: the table, the loss curves, the
    verdict in words, and any further keys (evaluation suites) as generic tables."""
    shown = {"name", "baseline", "seeds", "variants", "max_tokens", "model", "verdict",
             "curves", "sentences", "variant_order", "suite_order"}
    setup = (f"Same model (<code>{esc(str(results.get('model')))}</code>), same budget "
             f"({num('max_tokens', results.get('max_tokens'))} tokens seen per run), seeds "
             f"{esc(', '.join(map(str, results.get('seeds') or [])))}, baseline "
             f"<code>{esc(str(results.get('baseline')))}</code>.")
    if not isinstance(results.get("held_out"), dict | list):  # the first results.json format
        shown |= {"eval_docs", "held_out", "contaminated", "cluster_mates"}
        setup += (f" {num('eval_docs', results.get('eval_docs'))} held-out evaluation "
                  f"documents ({num('held_out', results.get('held_out'))} ids held out of "
                  f"training, {num('contaminated', results.get('contaminated'))} by 13-gram "
                  f"overlap, {num('cluster_mates', results.get('cluster_mates'))} as "
                  "duplicate-cluster mates).")
    extra = {k: v for k, v in results.items() if k not in shown}
    words = results.get("sentences") or [results.get("verdict") or ""]
    bodies = {
        "ablation-header": (f"<h1>webtext ablation: <span id='ablation-name'>{esc(name)}"
                            f"</span></h1><p><a id='build-link' href='{esc(build_page_href)}'>"
                            f"back to the build report</a></p><p>{setup}</p>"),
        "ablation-table": _variants_table(results),
        "ablation-curves": (img("loss-curves", images, "validation loss curves")
                            or missing("No loss curves in results.json.")),
        "ablation-verdict": "<div id='verdict'>" + "".join(f"<p>{esc(w)}</p>" for w in words)
                            + "</div>",
        "ablation-suites": (generic(extra) if extra else missing(
            "results.json holds nothing beyond the table above.")),
    }
    body = "".join(f"<section id='{i}'>{bodies[i]}</section>" if i == "ablation-header"
                   else section(i, t, bodies[i]) for i, t in ABLATION_SECTIONS)
    return page(f"webtext ablation: {name}", list(ABLATION_SECTIONS), body)
