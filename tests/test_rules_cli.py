"""`bystander rules`: the list stays readable at 80 columns and grep-able when piped (a rule
id is never split), it shows the instrument and the verify flag, and `--json` and `show`."""

from __future__ import annotations

import json
import re

from bystander.cli.app import app
from bystander.cli.rules_cmd import format_rules
from bystander.rules import load_catalog
from tests.helpers import runner

IDS = {r.id for r in load_catalog().rules}


def test_piped_list_is_one_line_per_rule() -> None:
    result = runner.invoke(app, ["rules", "list"])  # CliRunner's stdout is not a terminal
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["RULE", "STATUS", "VERIFY", "INSTRUMENT", "TITLE"]
    assert len(lines) == len(IDS) + 1
    for line in lines[1:]:
        assert line.split()[0] in IDS  # `grep`/`cut -d' ' -f1` find whole ids
    fr08 = next(line for line in lines if line.startswith("CN-FRM-08-LOCAL-STORE "))
    assert "cn-frm-2025" in fr08 and "Face information stays on the device" in fr08
    psapl = next(line for line in lines if line.startswith("CN-PSAPL-PEEP "))
    assert re.search(r"\bin-force\s+verify\s+cn-psapl\b", psapl)


def test_list_fits_80_columns_without_splitting_ids() -> None:
    rules = load_catalog().rules
    text = format_rules(rules, 80)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    first_words = {line.split()[0] for line in lines if line and not line.startswith(" ")}
    assert first_words >= IDS  # every id whole, at the start of its own line
    assert "superseded" in text and "standard" in text


def test_wide_terminal_truncates_titles_only() -> None:
    lines = format_rules(load_catalog().rules, 120).splitlines()
    assert max(len(line) for line in lines) <= 120
    assert {line.split()[0] for line in lines[1:]} == IDS


def test_width_option_and_framework_filter() -> None:
    result = runner.invoke(app, ["rules", "list", "--width", "80", "-F", "cn-standards"])
    assert result.exit_code == 0, result.output
    assert "CN-GBT41819-PROFILING" in result.output and "CN-PIPL-17" not in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80


def test_list_json() -> None:
    result = runner.invoke(app, ["rules", "list", "--json"])
    data = json.loads(result.output)
    assert {d["id"] for d in data} == IDS
    d11 = next(d for d in data if d["id"] == "CN-FRM-D11-SENSITIVE-INFERENCE")
    assert d11["status"] == "superseded" and d11["verify"] is True
    assert d11["instrument"] == "cn-frm-draft-2023"
    aia = next(d for d in data if d["id"] == "EU-AIA-50-3")
    assert aia["addressee"] == ["deployer"] and aia["scope"] and aia["text"]


def test_show_in_plain_words() -> None:
    result = runner.invoke(app, ["rules", "show", "CN-PIPL-26-PUBLIC-CAMERA"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert not out.lstrip().startswith("{")  # words, not raw JSON
    for label in ("Says:", "Source:", "Status:", "Binds:", "Applies when:", "Checked by:",
                  "To fix:", "Sources:"):  # fmt: skip
        assert label in out
    assert "installed" in out and "not glasses" in out and "legally binding" in out
    assert max(len(line) for line in out.splitlines()) <= 100
    verify = runner.invoke(app, ["rules", "show", "CN-PSAPL-PEEP"]).output
    assert "Verify:" in verify and "secondary sources" in verify
    data = json.loads(runner.invoke(app, ["rules", "show", "CN-XB-ASSESS", "--json"]).output)
    assert data["article"] == "Art 7(2)" and "10,000" in data["text"]


def test_show_unknown_rule_is_one_line() -> None:
    result = runner.invoke(app, ["rules", "show", "CN-NOPE"])
    assert result.exit_code == 1
    assert [line for line in result.output.splitlines() if line.strip()] == [
        "error: no rule 'CN-NOPE' in the catalog (see `bystander rules list`)"
    ]
