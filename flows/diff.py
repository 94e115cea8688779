"""What changed between two builds: funnel steps, rules, domains and token counts.

In:  the stats dicts (`compute_stats`) of this build and of an earlier or other build.
Out: `diff_stats(now, before)` -> {"against": the other build, "sections": {name: rows}},
     each row {"what", "now", "before", "change"} (None where one build lacks it), in the
     order the page and the terminal show them. Rows that did not change are left out of
     the rules and domains sections (the long ones), kept in the funnel and tokens sections.
     A scheduled snapshot is compared with the previous one (flows/statsflow.py), so that a
     nightly build's drift shows up in its page.
"""

from __future__ import annotations

from typing import Any


def _row(what: str, now: Any, before: Any) -> dict[str, Any]:
    change = (now - before if isinstance(now, int | float) and isinstance(before, int | float)
              else None)
    if isinstance(change, float):
        change = round(change, 4)
    return {"what": what, "now": now, "before": before, "change": change}


def _funnel_rows(now: dict[str, Any], before: dict[str, Any]) -> list[dict[str, Any]]:
    steps_before = {s["step"]: s for s in before.get("funnel") or []}
    rows = []
    for step in now.get("funnel") or []:
        old = steps_before.get(step["step"], {})
        rows.append(_row(f"{step['step']}: in", step["in"], old.get("in")))
        rows.append(_row(f"{step['step']}: continues", step["out"], old.get("out")))
        old_reasons = old.get("reasons") or {}
        for code in dict.fromkeys([*step["reasons"], *old_reasons]):
            rows.append(_row(f"{step['step']}: {code}", step["reasons"].get(code, 0),
                             old_reasons.get(code, 0)))
    return rows


def _changed(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["now"] != r["before"]]


def _rule_rows(now: dict[str, Any], before: dict[str, Any]) -> list[dict[str, Any]]:
    a, b = now.get("rules_failed_any") or {}, before.get("rules_failed_any") or {}
    return _changed([_row(code, a.get(code, 0), b.get(code, 0))
                     for code in sorted(set(a) | set(b))])


def _domain_rows(now: dict[str, Any], before: dict[str, Any]) -> list[dict[str, Any]]:
    a = {d["domain"]: d for d in now.get("domains") or []}
    b = {d["domain"]: d for d in before.get("domains") or []}
    rows = []
    for domain in dict.fromkeys([*a, *b]):
        rows.append(_row(f"{domain}: URLs", a.get(domain, {}).get("urls"),
                         b.get(domain, {}).get("urls")))
        rows.append(_row(f"{domain}: kept", a.get(domain, {}).get("kept"),
                         b.get(domain, {}).get("kept")))
    return _changed(rows)


def _by_recipe(stats: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The build's own token sets by recipe name (token dir names carry a config digest, which
    differs between builds; an ablation's sets hold documents out and are not compared)."""
    return {t["recipe"]: t for t in (stats.get("tokens") or {}).values()
            if t.get("role", "build") == "build"}


def _token_rows(now: dict[str, Any], before: dict[str, Any]) -> list[dict[str, Any]]:
    a, b = _by_recipe(now), _by_recipe(before)
    rows = []
    for recipe in dict.fromkeys([*a, *b]):
        for key in ("tokens", "docs"):
            rows.append(_row(f"{recipe}: {key}", a.get(recipe, {}).get(key),
                             b.get(recipe, {}).get(key)))
    return rows


def diff_stats(now: dict[str, Any], before: dict[str, Any], against: str | None = None
               ) -> dict[str, Any]:
    """The changes from `before` (the stats of build `against`) to `now` (see module
    docstring); `against` defaults to the build that `before` names."""
    return {
        "against": against or before.get("build"),
        "against_name": (before.get("header") or {}).get("name"),
        "sections": {
            "funnel": _funnel_rows(now, before),
            "rules": _rule_rows(now, before),
            "domains": _domain_rows(now, before),
            "tokens": _token_rows(now, before),
        },
    }
