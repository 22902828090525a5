"""The rule catalog: it loads, validates, covers the issue's instruments, and fails clearly."""

from __future__ import annotations

import re
import shutil
from importlib import resources
from pathlib import Path

import pytest

from bystander.errors import InputError
from bystander.inspect.profile import DEVICE_TYPES
from bystander.inspect.records import PRIVATE_SPACES, ConsentKindName, ZoneType
from bystander.rules import (
    CHECKS,
    FAMILIES,
    STATUSES,
    CatalogError,
    UnknownFrameworkError,
    load_catalog,
    load_taxonomy,
)

RESEARCH = Path(__file__).resolve().parents[2] / "shared" / "reference" / "rules-research.md"
INSTRUMENTS = {
    "caict-glasses-2026": "voluntary",
    "cn-frm-2025": "in-force",
    "cn-frm-draft-2023": "superseded",
    "cn-pipl": "in-force",
    "cn-app-2019": "guidance",
    "cn-miit164-2020": "guidance",
    "cn-civil-code": "in-force",
    "cn-autorenew": "in-force",
    "eu-gdpr": "in-force",
    "eu-ai-act": "in-force",
    "us-il-bipa": "in-force",
    "etsi-en-303-645": "recommended-standard",
    "cn-psapl": "in-force",
    "cn-xborder-2024": "in-force",
    "cn-gbt35273-2020": "recommended-standard",
    "cn-gbt41819-2022": "recommended-standard",
    "cn-kidswatch-draft-2025": "draft",
}
FRAMEWORKS = {
    "cn-frm-2025",
    "caict-glasses-2026",
    "cn-pipl",
    "cn-miit-2025",
    "eu-gdpr",
    "eu-ai-act",
    "us-il-bipa",
    "etsi-en-303-645",
    "cn-platform",
    "cn-standards",
}
IMPORTER_KEYS = [
    "user.biometric.face.image",
    "user.biometric.face.template",
    "user.biometric.face.embedding",
    "user.biometric.voice",
    "user.sensor.camera",
    "user.sensor.microphone",
    "user.location.precise",
    "user.device.identifier",
    "user.contact.phone",
    "user.contact.email",
]


def articles(instrument: str) -> set[str]:
    return {r.article for r in load_catalog().rules if r.instrument_key == instrument}


def test_catalog_loads_once_with_a_version() -> None:
    cat = load_catalog()
    assert cat is load_catalog()
    assert re.fullmatch(r"[0-9a-f]{12}", cat.version)
    assert len(cat.rules) >= 60
    assert len({r.id for r in cat.rules}) == len(cat.rules)


def test_every_instrument_has_a_file_with_rules_of_its_status() -> None:
    cat = load_catalog()
    assert set(cat.instruments) == set(INSTRUMENTS)
    for key, status in INSTRUMENTS.items():
        rules = [r for r in cat.rules if r.instrument_key == key]
        assert rules, key
        assert {r.status for r in rules} == {status}, key


def test_articles_named_in_the_issue_are_covered() -> None:
    frm = articles("cn-frm-2025")
    for art in (
        "Art 2",
        "Art 4",
        "Art 5",
        "Art 6",
        "Art 7",
        "Art 8",
        "Art 9",
        "Art 10",
        "Art 12",
        "Art 13 para 1",
        "Art 13 para 2",
        "Art 14",
        "Art 15",
    ):
        assert art in frm
    assert articles("cn-frm-draft-2023") == {"Draft Art 11 (2023; not in the 2025 Measures)"}
    pipl = articles("cn-pipl")
    for n in (13, 14, 15, 16, 17, 23, 25, 26, 28, 29, 31, 38, 39, 47, 55, 56):
        assert f"Art {n}" in pipl
    assert {"Art 1019", "Art 1033(2)-(4)", "Art 1195", "Art 1197"} == articles("cn-civil-code")
    assert {"Art 7(2)", "Art 8"} == articles("cn-xborder-2024")
    assert {"Clause 5.4 c)", "Clause 6.3"} == articles("cn-gbt35273-2020")
    assert any(a.startswith("Art 50(1)(6)") for a in articles("cn-psapl"))
    assert {
        "Art 9(1), 9(2)(a)",
        "Art 25(1), 25(2)",
        "Art 35(1), 35(3)(b), 35(7)",
        "Arts 44-49",
    } == articles("eu-gdpr")
    assert {"Art 5(1)(e)", "Art 5(1)(f)", "Art 5(1)(g)", "Art 50(3)"} == articles("eu-ai-act")
    assert {f"Sec 15({x})" for x in "abcde"} == articles("us-il-bipa")
    assert "Provision 5.1-1" in articles("etsi-en-303-645")


def test_rule_fields_are_valid() -> None:
    tax = load_taxonomy()
    for r in load_catalog().rules:
        assert r.status in STATUSES and r.family in FAMILIES
        assert r.remediation.strip() and r.title
        assert all(c in CHECKS for c in r.checks)
        assert all(tax.has_category(c) for c in r.data_categories)
        assert all(t == "any" or t in DEVICE_TYPES for t in r.applies_to.device_types)
        assert all(u.startswith(("http://", "https://")) for u in r.sources)
        assert r.id.startswith(
            {"CN": "CN-", "EU": "EU-", "ETSI": "ETSI-", "US-IL": "US-IL-"}[r.jurisdiction]
        )


def test_every_rule_states_its_text_scope_and_addressee() -> None:
    for r in load_catalog().rules:
        assert len(r.text.split()) >= 5, r.id
        assert len(r.scope.split()) >= 5, r.id
        assert r.addressee and set(r.addressee) <= {"manufacturer", "deployer", "platform", "user"}


def test_scopes_and_addressees_the_issue_names() -> None:
    cat = load_catalog()
    worn = {"smart-glasses", "kids-watch"}
    for rid in ("CN-PIPL-26-PUBLIC-CAMERA", "CN-FRM-13A-PUBLIC"):
        assert not worn & set(cat.rule(rid).applies_to.device_types), rid  # installed only
    assert cat.rule("EU-AIA-50-3").addressee == ["deployer"]
    assert cat.rule("CN-CIVIL-1197").addressee == ["platform"]
    assert "user" in cat.rule("CN-CIVIL-1033").addressee
    assert "Art 19" in cat.rule("CN-FRM-06-SEPARATE-CONSENT").scope


def test_superseded_draft_and_unverified_articles_are_flagged() -> None:
    cat = load_catalog()
    d11 = cat.rule("CN-FRM-D11-SENSITIVE-INFERENCE")
    assert d11.status == "superseded" and d11.verify and not d11.in_force
    assert all("gov.cn" not in s for s in d11.sources)  # news reports, not an official text
    for rid in ("CN-PSAPL-PEEP", "CN-XB-ASSESS", "CN-GBT41819-PROFILING"):
        assert cat.rule(rid).verify, rid
    statuses = {r.status for r in cat.rules}
    assert statuses == set(STATUSES)


def test_in_force_china_rules_cite_official_sources() -> None:
    for r in load_catalog().rules:
        if r.instrument_key in ("cn-frm-2025", "cn-pipl"):
            assert any("gov.cn" in s for s in r.sources), r.id


@pytest.mark.skipif(not RESEARCH.is_file(), reason="../shared/reference is not available")
def test_every_source_url_comes_from_the_research_notes() -> None:
    text = RESEARCH.read_text("utf-8")
    for r in load_catalog().rules:
        for url in r.sources:
            assert url in text, (r.id, url)


def test_taxonomy_matches_the_record_enums() -> None:
    tax = load_taxonomy()
    assert set(tax.zone_types) == {z.value for z in ZoneType}
    assert set(tax.consent_kinds) == {k.value for k in ConsentKindName}
    assert set(tax.private_spaces) == {z.value for z in PRIVATE_SPACES}
    assert {"user", "bystander", "child_under_14", "employee"} <= set(tax.data_subjects)
    for key in IMPORTER_KEYS:
        assert tax.has_category(key), key


def test_taxonomy_sensitivity_is_inherited() -> None:
    tax = load_taxonomy()
    assert tax.is_sensitive("user.biometric.face.template")
    assert tax.is_sensitive("user.biometric.face.template.v2")  # unknown child of a sensitive key
    assert tax.is_sensitive("user.location.precise")
    assert not tax.is_sensitive("user.device.identifier")
    assert not tax.is_sensitive("user.sensor.camera")
    assert tax.covers("user.biometric", "user.biometric.voice")
    assert not tax.covers("user.bio", "user.biometric")


def test_frameworks_exist_and_select_their_instruments() -> None:
    cat = load_catalog()
    assert set(cat.frameworks) >= FRAMEWORKS
    assert cat.framework_ids[0] == "all"
    assert len(cat.rules_for(["all"])) == len(cat.rules)
    for fid, keys in (
        ("cn-frm-2025", {"cn-frm-2025"}),
        ("caict-glasses-2026", {"caict-glasses-2026"}),
        ("cn-pipl", {"cn-pipl", "cn-xborder-2024"}),
        ("eu-gdpr", {"eu-gdpr"}),
        ("eu-ai-act", {"eu-ai-act"}),
        ("us-il-bipa", {"us-il-bipa"}),
        ("etsi-en-303-645", {"etsi-en-303-645"}),
    ):
        chosen = {r.id for r in cat.rules_for([fid])}
        assert chosen == {r.id for r in cat.rules if r.instrument_key in keys}, fid


def test_miit_framework_covers_the_six_findings() -> None:
    cat = load_catalog()
    fw = cat.framework("cn-miit-2025")
    assert len(fw.requirements) == 6
    chosen = {r.id for r in cat.rules_for(["cn-miit-2025"])}
    assert {
        "CN-APP19-1.1",
        "CN-PIPL-17-NOTICE",
        "CN-FRM-14-SECURITY",
        "CN-FRM-05-NOTICE",
        "CN-FRM-08-LOCAL-STORE",
        "CN-PIPL-06-MIN",
        "CN-AUTORENEW-OPT-IN",
    } <= chosen
    assert all(cat.rule(r).jurisdiction == "CN" for r in chosen)
    assert "CN-CIVIL-1195" not in chosen


def test_two_frameworks_union() -> None:
    cat = load_catalog()
    both = {r.id for r in cat.rules_for(["eu-gdpr", "us-il-bipa"])}
    assert both == {r.id for r in cat.rules if r.instrument_key in ("eu-gdpr", "us-il-bipa")}


def test_unknown_framework() -> None:
    with pytest.raises(UnknownFrameworkError, match=r"unknown framework 'x'; known: all, "):
        load_catalog().rules_for(["x"])


@pytest.fixture()
def copy(tmp_path: Path) -> Path:
    src = resources.files("bystander.rules").joinpath("data")
    dst = tmp_path / "data"
    with resources.as_file(src) as folder:
        shutil.copytree(folder, dst)
    return dst


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), "utf-8")


def test_copy_loads_with_the_same_version(copy: Path) -> None:
    assert load_catalog(copy).version == load_catalog().version


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        (
            "catalog/cn-pipl.yaml",
            "checks: [undisclosed_recipient]",
            "checks: [nope]",
            "catalog/cn-pipl.yaml: rule CN-PIPL-23-PROVIDE: field checks[0]: unknown check 'nope'",
        ),
        (
            "catalog/cn-autorenew.yaml",
            "status: in-force",
            "status: law",
            "catalog/cn-autorenew.yaml: field status: ",
        ),
        (
            "catalog/eu-gdpr.yaml",
            "id: EU-GDPR-25",
            "id: EU-GDPR-9",
            "catalog/eu-gdpr.yaml: field id: duplicate rule id EU-GDPR-9",
        ),
        (
            "catalog/us-il-bipa.yaml",
            "data_categories: [user.biometric]\n    checks: [biometric_without_written_release]",
            "data_categories: [user.faces]\n    checks: [biometric_without_written_release]",
            "catalog/us-il-bipa.yaml: rule US-IL-BIPA-15B: field data_categories[0]: "
            "unknown data category 'user.faces'",
        ),
        (
            "catalog/caict-glasses-2026.yaml",
            "applies_to: {device_types: [smart-glasses], capabilities: [camera]}",
            "applies_to: {device_types: [glasses], capabilities: [camera]}",
            "field applies_to.device_types[0]: unknown device type 'glasses'",
        ),
        (
            "catalog/eu-ai-act.yaml",
            "severity: critical",
            "severity: huge",
            "catalog/eu-ai-act.yaml: rules[0] (EU-AIA-5-1-E): field severity: ",
        ),
        (
            "frameworks/eu-gdpr.yaml",
            "checks: [undeclared_data_collected]",
            "checks: [gone]",
            "frameworks/eu-gdpr.yaml: field requirements[1].checks[0]: unknown check 'gone'",
        ),
        ("catalog/cn-pipl.yaml", "rules:\n", "rules: [\n", "catalog/cn-pipl.yaml: line "),
        (
            "taxonomy.yaml",
            "    parent: user.biometric.face\n",
            "    parent: user.face\n",
            "taxonomy.yaml: field data_categories.user.biometric.face.image.parent: unknown ",
        ),
    ],
)
def test_broken_copy_gives_one_line_naming_file_and_field(
    copy: Path, file: str, old: str, new: str, message: str
) -> None:
    edit(copy / file, old, new)
    with pytest.raises(CatalogError) as err:
        load_catalog(copy)
    text = str(err.value)
    assert isinstance(err.value, InputError)
    assert "\n" not in text
    assert message in text


def test_missing_folder_is_reported(copy: Path) -> None:
    shutil.rmtree(copy / "frameworks")
    with pytest.raises(CatalogError, match="frameworks/: missing folder"):
        load_catalog(copy)
