"""`bystander consent receipt | verify-receipt | export | import`: signed receipts and JSON-LD
(ISO/IEC TS 27560, W3C DPV) records in and out."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from bystander.cli.common import out_console, print_json, user_errors
from bystander.cli.consent_common import (
    DATABASE_OPTION,
    JSON_OPTION,
    consent_app,
    consent_store,
    describe_record,
    record_json,
)
from bystander.consent import jsonld
from bystander.consent.models import (
    iso,
)
from bystander.consent.receipts import issue_receipt, verify_receipt
from bystander.consent.trust import load_public_key
from bystander.errors import InputError
from bystander.fsutil import atomic_output, write_text_atomic


@consent_app.command("receipt")
def receipt_command(
    record_id: str = typer.Argument(..., help="The consent record."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the receipt here (default: stdout)."
    ),
    database: str | None = DATABASE_OPTION,
    json_out: bool = JSON_OPTION,
) -> None:
    """Issue a signed receipt (JWS, Ed25519) the data subject can keep and anyone can verify."""
    with user_errors():
        with consent_store(database) as store:
            record = store.get(record_id)
        token = issue_receipt(record)
        if output is not None:
            write_text_atomic(output, token + "\n")
        if json_out:
            verified = verify_receipt(token)
            print_json(
                {
                    "receipt_id": verified.receipt_id,
                    "record_id": record.id,
                    "kid": verified.kid,
                    "jwk": verified.jwk,
                    "receipt": token,
                }
            )
        elif output is None:
            sys.stdout.write(token + "\n")
        else:
            out_console.print(f"receipt for {record.id} written to {output}", highlight=False)


@consent_app.command("verify-receipt")
def verify_receipt_command(
    receipt: Path = typer.Argument(..., help="The receipt file ('-' for stdin)."),
    public_key: Path | None = typer.Option(
        None, "--public-key", help="Expect this signer (a JWK, or a PEM public/private key)."
    ),
    kid: str | None = typer.Option(None, "--kid", help="Expect this signer (RFC 7638 kid)."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Verify a receipt offline (no database): exit 0 only if intact and signed by a trusted
    key (this device's own, an imported one, or the one pinned); 3 if forged or untrusted."""
    with user_errors():
        token = _read_input(receipt)
        expected = load_public_key(public_key) if public_key else None
        verified = verify_receipt(token, expected, kid=kid)
        record = verified.record
        if json_out:
            print_json(
                {
                    "valid": True,
                    "receipt_id": verified.receipt_id,
                    "kid": verified.kid,
                    "trusted_as": verified.trusted_as,
                    "issued_at": iso(verified.issued_at),
                    "record": record_json(record),
                }
            )
        else:
            out_console.print(
                f"valid receipt {verified.receipt_id} signed by {verified.kid} "
                f"({verified.trusted_as}) at {iso(verified.issued_at)}\n"
                f"  {describe_record(record)}",
                highlight=False,
            )


def _read_input(path: Path) -> str:
    if str(path) == "-":
        return sys.stdin.read()
    try:
        return path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise InputError(f"no such file: {path}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path} is not a receipt (not ASCII text)") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


# --- JSON-LD ---------------------------------------------------------------------------------


@consent_app.command("export")
def export_command(
    output: Path = typer.Argument(..., help="The JSON-LD file to write."),
    subject: str | None = typer.Option(None, "--subject", help="Only this subject."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing file."),
    allow_incomplete: bool = typer.Option(
        False,
        "--allow-incomplete",
        help="Also export records that lack ISO/IEC TS 27560 mandatory fields (they do not "
        "claim the DPV 27560 profile).",
    ),
    database: str | None = DATABASE_OPTION,
) -> None:
    """Export records as JSON-LD (DPV's ISO/IEC TS 27560 profile); refuses records that lack
    a mandatory field unless --allow-incomplete."""
    with user_errors():
        with consent_store(database) as store:
            found = store.list(subject_id=subject)
        incomplete = [(r.id, jsonld.missing_27560(r)) for r in found]
        incomplete = [(rid, missing) for rid, missing in incomplete if missing]
        if incomplete and not allow_incomplete:
            rid, missing = incomplete[0]
            raise InputError(
                f"{len(incomplete)} record(s) lack ISO/IEC TS 27560 mandatory fields, e.g. {rid}: "
                f"{', '.join(missing)} (set them with `bystander consent controller set`, or "
                "export with --allow-incomplete)"
            )
        with atomic_output(output, overwrite=overwrite) as temp:
            temp.write_text(jsonld.dumps(found), encoding="utf-8")
        out_console.print(f"exported {len(found)} record(s) to {output}", highlight=False)


@consent_app.command("import")
def import_command(
    source: Path = typer.Argument(..., help="A JSON-LD file written by export."),
    database: str | None = DATABASE_OPTION,
    json_out: bool = JSON_OPTION,
) -> None:
    """Import records from JSON-LD: all or nothing; identical records are skipped."""
    with user_errors():
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read {source}: {exc.strerror or exc}") from None
        parsed = jsonld.loads(data)
        with consent_store(database) as store:
            result = store.import_records(parsed)
        if json_out:
            print_json(result.model_dump())
        else:
            out_console.print(
                f"imported {result.added} record(s), {result.unchanged} already present",
                highlight=False,
            )


def register(group: typer.Typer) -> None:
    """Nothing to add: importing this module attaches its commands to ``consent_app``."""
