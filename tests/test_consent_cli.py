"""`bystander consent ...` through a fresh Typer app (SQLite file; receipts offline)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from bystander.cli import consent_cmd
from bystander.cli.common import State
from bystander.consent import jsonld, shapes
from bystander.evidence.audit import AuditLog
from bystander.evidence.db import make_engine
from bystander.evidence.events import EventType as AuditType


def make_app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        State.debug = False

    consent_cmd.register(app)
    return app


APP = make_app()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("BYSTANDER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BYSTANDER_DATABASE_URL", f"sqlite:///{tmp_path / 'consent.db'}")
    return CliRunner()


def run(cli: CliRunner, *args: str, code: int = 0) -> str:
    result = cli.invoke(APP, ["consent", *args])
    assert result.exit_code == code, result.output
    return result.output


def run_json(cli: CliRunner, *args: str) -> object:
    return json.loads(run(cli, *args, "--json"))


def test_grant_check_withdraw_show_list(cli: CliRunner) -> None:
    record = run_json(
        cli,
        "grant",
        "--subject",
        "ds-1",
        "--role",
        "enrolled",
        "--scope",
        "face-enrolment",
        "--kind",
        "separate",
        "--purpose",
        "unlock the door",
        "--jurisdiction",
        "CN",
        "--retention",
        "30d",
        "--expires",
        "2099-01-01",
        "--recipient",
        "aliyun,cloud,jurisdiction=CN",
    )
    assert isinstance(record, dict)
    assert record["state"] == "ConsentGiven"
    assert record["processing"]["retention"] == "P30D"
    assert record["expires_at"] == "2099-01-01T00:00:00Z"
    record_id = record["id"]

    out = run(cli, "check", "--subject", "ds-1", "--scope", "face-enrolment", "--kind", "separate")
    assert out.startswith("allowed: separate consent")
    assert record_id in run(cli, "show", record_id)
    assert record_id in run(cli, "list", "--subject", "ds-1")

    withdrawn = run_json(cli, "withdraw", record_id)
    assert isinstance(withdrawn, dict) and withdrawn["record"]["state"] == "ConsentWithdrawn"
    out = run(cli, "check", "--subject", "ds-1", "--scope", "face-enrolment", code=1)
    assert out.startswith("denied: consent withdrawn")
    assert run_json(cli, "list", "--state", "ConsentWithdrawn")
    assert "0 pending deletion task(s)" in run(cli, "deletions")

    # both changes went to the audit log, with ids and scopes only
    engine = make_engine()
    try:
        log = AuditLog(engine)
        logged = [log.event(i) for i in range(log.size())]
    finally:
        engine.dispose()
    assert [e.type for e in logged] == [AuditType.CONSENT_GIVEN, AuditType.CONSENT_WITHDRAWN]
    assert all(e.data["record_id"] == record_id for e in logged)


def test_guardian_consent_for_a_minor(cli: CliRunner) -> None:
    out = run(
        cli,
        "grant",
        "--subject",
        "parent-1",
        "--role",
        "guardian",
        "--guardian-of",
        "kid-1",
        "--scope",
        "record-video",
    )
    assert "guardian consent of kid-1 by guardian parent-1" in out
    run(cli, "check", "--subject", "kid-1", "--scope", "record-video")
    out = run(
        cli, "grant", "--subject", "kid-2", "--age-under-14", "--scope", "live-stream", code=1
    )
    assert out.startswith("error: subject is under 14") and out.count("\n") == 1
    out = run(
        cli, "grant", "--subject", "p", "--role", "guardian", "--scope", "live-stream", code=2
    )
    assert "--guardian-of" in out


def test_bad_options_are_one_line_errors(cli: CliRunner) -> None:
    for args in (
        ["--retention", "a while"],
        ["--expires", "next tuesday"],
        ["--recipient", "x,teleport"],
        ["--jurisdiction", "Narnia"],
    ):
        out = run(cli, "grant", "--subject", "ds-1", "--scope", "record-video", *args, code=1)
        assert out.startswith("error: ") and out.count("\n") == 1, out
    assert run(cli, "show", "nope", code=1) == "error: no consent record nope\n"


def test_receipt_and_offline_verification(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = run_json(cli, "grant", "--subject", "ds-1", "--scope", "record-video")
    assert isinstance(record, dict)
    receipt = tmp_path / "receipt.jws"
    run(cli, "receipt", record["id"], "-o", str(receipt))
    bundle = run_json(cli, "receipt", record["id"])
    assert isinstance(bundle, dict) and bundle["jwk"]["crv"] == "Ed25519"

    # verification needs no database: point the URL somewhere unusable
    monkeypatch.setenv("BYSTANDER_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    out = run(cli, "verify-receipt", str(receipt), "--kid", bundle["kid"])
    assert out.startswith("valid receipt") and record["id"] in out
    pem = tmp_path / "home" / "keys" / "consent.ed25519.pem"
    run(cli, "verify-receipt", str(receipt), "--public-key", str(pem))

    text = receipt.read_text()
    receipt.write_text(text[:40] + ("A" if text[40] != "A" else "B") + text[41:])
    out = run(cli, "verify-receipt", str(receipt), code=1)
    assert out.startswith("error: receipt") and out.count("\n") == 1
    assert run(cli, "verify-receipt", str(tmp_path / "missing.jws"), code=1).startswith(
        "error: no such file"
    )


def test_export_refuses_records_without_the_27560_mandatory_fields(
    cli: CliRunner, tmp_path: Path
) -> None:
    run(cli, "grant", "--subject", "ds-1", "--scope", "record-video")
    out_file = tmp_path / "consent.jsonld"
    out = run(cli, "export", str(out_file), code=1)
    assert "lack ISO/IEC TS 27560 mandatory fields" in out and "privacy notice" in out
    assert not out_file.exists()
    assert "exported 1 record(s)" in run(cli, "export", str(out_file), "--allow-incomplete")
    (node,) = json.loads(out_file.read_text())["@graph"]
    assert node["dct:conformsTo"] == jsonld.PROJECT_SCHEMA  # no false claim of conformance


def set_controller(cli: CliRunner) -> None:
    run(cli, "controller", "set", "--id", "acme", "--name", "Acme Glasses Ltd",
        "--address", "1 Science Road, Shenzhen", "--contact", "privacy@acme.example",
        "--notice", "https://acme.example/privacy/v2", "--language", "zh",
        "--purpose", "record the wearer's surroundings", "--data-category",
        "video of people nearby", "--storage", "dpv:WithinDevice", "--jurisdiction", "CN",
        "--retention", "30d")  # fmt: skip


def test_export_import_and_bad_files_change_nothing(cli: CliRunner, tmp_path: Path) -> None:
    set_controller(cli)
    run(cli, "grant", "--subject", "ds-1", "--scope", "record-video", "--scope", "record-audio")
    run(cli, "grant", "--subject", "ds-2", "--scope", "publication", "--kind", "written")
    out_file = tmp_path / "consent.jsonld"
    assert "exported 2 record(s)" in run(cli, "export", str(out_file))
    exported = json.loads(out_file.read_text())["@graph"]
    assert {n["dct:conformsTo"] for n in exported} == {jsonld.RECORD_SCHEMA}
    assert all(shapes.missing_fields(n) == [] for n in exported)
    assert exported[0]["dpv:hasDataController"]["dpv:hasName"] == "Acme Glasses Ltd"
    assert run(cli, "export", str(out_file), code=1).startswith("error: output exists")
    before = run_json(cli, "list")

    fresh = tmp_path / "fresh.db"
    url = f"sqlite:///{fresh}"
    assert "imported 2 record(s)" in run(cli, "import", str(out_file), "--database", url)
    assert "imported 0 record(s), 2 already present" in run(
        cli, "import", str(out_file), "--database", url
    )
    assert run_json(cli, "list", "--database", url) == before

    doc = json.loads(out_file.read_text())
    bad_docs = {
        "no-context.jsonld": {"@graph": doc["@graph"]},
        "version.jsonld": {
            **doc,
            "@graph": [doc["@graph"][0] | {"dct:conformsTo": "urn:other:v2"}],
        },
        "truncated.jsonld": None,
    }
    for name, content in bad_docs.items():
        path = tmp_path / name
        if content is None:
            path.write_text(out_file.read_text()[:200])
        else:
            path.write_text(json.dumps(content))
        out = run(cli, "import", str(path), code=1)
        assert out.startswith("error: ") and out.count("\n") == 1, out
    assert run_json(cli, "list") == before


def test_an_auditor_trusts_a_devices_receipt_key(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = run_json(cli, "grant", "--subject", "ds-1", "--scope", "record-video", "--json")
    assert isinstance(record, dict)
    receipt = tmp_path / "receipt.jws"
    run(cli, "receipt", record["id"], "-o", str(receipt))
    jwk = tmp_path / "device.jwk"
    jwk.write_text(run(cli, "key"))
    # the auditor's machine: another home, no device key, so the receipt is not trusted yet
    monkeypatch.setenv("BYSTANDER_HOME", str(tmp_path / "auditor"))
    out = run(cli, "verify-receipt", str(receipt), code=3)
    assert "untrusted key" in out and out.count("\n") == 1
    assert "trusted" in run(cli, "trust-key", "add", str(jwk), "--name", "glasses-0001")
    assert "(glasses-0001)" in run(cli, "verify-receipt", str(receipt))
    kid = json.loads(jwk.read_text())["kid"]
    assert kid in run(cli, "trust-key", "list")
    run(cli, "trust-key", "remove", "--", kid)
    run(cli, "verify-receipt", str(receipt), code=3)
