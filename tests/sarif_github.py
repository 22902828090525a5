"""GitHub code scanning's upload requirements for SARIF, as a checker the tests can always run.

Written from GitHub's documentation ("SARIF support for code scanning": required properties,
upload limits) and the rule list of the SARIF multitool's GitHub validation (``validate
--rule-kind Gh``: GH1001 locations present, GH1003/GH1017 region and artifactLocation.uri,
GH1004 array limits, GH1005 relative URIs, GH1007 formatted messages, GH1013/GH1014/GH1018
log, run and tool properties, GH2012 rule metadata). CI also runs the real multitool
(``.ci/sarif-multitool``); this checker keeps the suite honest where npm is not at hand.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

MAX_RUNS = 20
MAX_RESULTS = 25_000
MAX_RULES = 25_000
MAX_LOCATIONS = 1_000
MAX_TAGS = 20


def _text(obj: Any) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("text"), str) and bool(obj["text"])


def _relative_or_file(uri: str) -> bool:
    scheme = urlsplit(uri).scheme
    return scheme in ("", "file") and not uri.startswith("/")


def _location(loc: Any, where: str, base_ids: dict[str, Any]) -> list[str]:
    out: list[str] = []
    phys = loc.get("physicalLocation") if isinstance(loc, dict) else None
    if not isinstance(phys, dict):
        return [f"{where}: no physicalLocation (GH1001)"]
    art = phys.get("artifactLocation")
    uri = art.get("uri") if isinstance(art, dict) else None
    if not isinstance(uri, str) or not uri:
        out.append(f"{where}: no physicalLocation.artifactLocation.uri (GH1017)")
    elif not _relative_or_file(uri):
        out.append(f"{where}: uri {uri!r} is neither relative nor a file path (GH1005)")
    base = art.get("uriBaseId") if isinstance(art, dict) else None
    if base is not None and base not in base_ids:
        out.append(f"{where}: uriBaseId {base!r} not in run.originalUriBaseIds")
    region = phys.get("region")
    line = region.get("startLine") if isinstance(region, dict) else None
    if not isinstance(line, int) or isinstance(line, bool) or line < 1:
        out.append(f"{where}: no region.startLine >= 1 (GH1003)")
    if "message" in loc and not _text(loc["message"]):
        out.append(f"{where}: location message without text (GH1007)")
    return out


def _rule(rule: Any, where: str) -> list[str]:
    if not isinstance(rule, dict) or not isinstance(rule.get("id"), str) or not rule["id"]:
        return [f"{where}: rule without an id (GH2012)"]
    out = [
        f"{where} ({rule['id']}): no {name}.text (GH2012)"
        for name in ("shortDescription", "fullDescription", "help")
        if not _text(rule.get(name))
    ]
    tags = (rule.get("properties") or {}).get("tags", [])
    if len(tags) > MAX_TAGS:
        out.append(f"{where}: {len(tags)} tags (limit {MAX_TAGS}, GH1004)")
    return out


def check_github(log: Any) -> list[str]:
    """Every reason GitHub code scanning would reject (or truncate) ``log``; [] when none."""
    if not isinstance(log, dict):
        return ["the log is not a JSON object"]
    out: list[str] = []
    if log.get("version") != "2.1.0":
        out.append("version is not 2.1.0 (GH1013)")
    if not isinstance(log.get("$schema"), str):
        out.append("no $schema (GH1013)")
    runs = log.get("runs")
    if not isinstance(runs, list) or not runs:
        return [*out, "no runs (GH1014)"]
    if len(runs) > MAX_RUNS:
        out.append(f"{len(runs)} runs (limit {MAX_RUNS}, GH1004)")
    for r, run in enumerate(runs):
        driver = ((run or {}).get("tool") or {}).get("driver")
        if not isinstance(driver, dict) or not driver.get("name"):
            out.append(f"runs[{r}]: no tool.driver.name (GH1018)")
            continue
        rules = driver.get("rules") or []
        if len(rules) > MAX_RULES:
            out.append(f"runs[{r}]: {len(rules)} rules (limit {MAX_RULES}, GH1004)")
        for i, rule in enumerate(rules):
            out += _rule(rule, f"runs[{r}].tool.driver.rules[{i}]")
        ids = {rule.get("id") for rule in rules if isinstance(rule, dict)}
        base_ids = run.get("originalUriBaseIds") or {}
        results = run.get("results")
        if not isinstance(results, list):
            out.append(f"runs[{r}]: no results array (GH1014)")
            continue
        if len(results) > MAX_RESULTS:
            out.append(f"runs[{r}]: {len(results)} results (limit {MAX_RESULTS}, GH1004)")
        for i, res in enumerate(results):
            where = f"runs[{r}].results[{i}]"
            if not isinstance(res, dict):
                out.append(f"{where}: not an object")
                continue
            if res.get("ruleId") not in ids:
                out.append(f"{where}: ruleId {res.get('ruleId')!r} not among the rules (GH1015)")
            if not _text(res.get("message")):
                out.append(f"{where}: no message.text (GH1007/GH1015)")
            locs = res.get("locations")
            if not isinstance(locs, list) or not locs:
                out.append(f"{where}: expected at least one location (GH1001/GH1015)")
                continue
            if len(locs) > MAX_LOCATIONS:
                out.append(f"{where}: {len(locs)} locations (limit {MAX_LOCATIONS}, GH1004)")
            for j, loc in enumerate(locs):
                out += _location(loc, f"{where}.locations[{j}]", base_ids)
    return out
