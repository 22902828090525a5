"""`bystander keys`, `bystander sign` and `bystander verify`: C2PA provenance.

``verify`` exit codes: 0 every file is trusted and carries the required assertions;
3 a file is invalid (altered, bad signature, expired certificate without a timestamp) or
unsigned; 4 otherwise: a file is valid but not trusted (no ``--trust`` root given, or
another signer) or misses a required assertion (``--allow-untrusted`` accepts valid files);
1 a file or trust root cannot be read. Nothing is trusted by default: pass the roots you
trust with ``--trust`` (for the local test identity, ``$BYSTANDER_HOME/provenance/root-ca.pem``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from bystander.cli.common import out_console, print_json, user_errors
from bystander.errors import InputError
from bystander.provenance.assertions import (
    ACTIONS,
    AUDIT_CHECKPOINT,
    CAPTURE_GUARD,
    CONSENT,
    PROTECTION,
    ProtectionAssertion,
    input_ingredient,
    opened_action,
)
from bystander.provenance.pki import (
    DEFAULT_DEVICE_DAYS,
    init_identity,
    leaf_problems,
    load_identity,
)
from bystander.provenance.sign import ProvenanceManifest, protection_from_report, sign_file
from bystander.provenance.signer import KeyFileSigner
from bystander.provenance.verify import Verification, mime_type, verify_file

EXIT_INVALID = 3
EXIT_NOT_PROVEN = 4
_REQUIRE_NAMES = {
    "capture-guard": CAPTURE_GUARD,
    "consent": CONSENT,
    "protection": PROTECTION,
    "audit-checkpoint": AUDIT_CHECKPOINT,
}
_STATE_STYLE = {"trusted": "bold green", "valid": "bold yellow", "invalid": "bold red"}

keys_app = typer.Typer(
    help="The device identity that signs C2PA manifests (a TEST chain for development).",
    no_args_is_help=True,
)
_DIR_OPTION = typer.Option(
    None, "--dir", help="Identity folder (default: $BYSTANDER_HOME/provenance).", show_default=False
)


def register(app: typer.Typer) -> None:
    """Add ``keys``, ``sign`` and ``verify`` to ``app``."""
    app.add_typer(keys_app, name="keys")
    app.command("sign")(sign_command)
    app.command("verify")(verify_command)


@keys_app.command("init")
def keys_init(
    directory: Path | None = _DIR_OPTION,
    days: int = typer.Option(DEFAULT_DEVICE_DAYS, "--days", min=1, help="Device cert validity."),
    name: str | None = typer.Option(
        None, "--name", help="Device certificate name (a device, never a person)."
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing identity."),
) -> None:
    """Create a TEST root CA -> intermediate CA -> device certificate chain (ES256)."""
    with user_errors():
        identity = init_identity(directory, common_name=name, days=days, force=force)
        out_console.print(f"created test identity in {identity.directory}", highlight=False)
        out_console.print(f"  device: {identity.subject}", highlight=False)
        out_console.print(f"  valid until {identity.not_after:%Y-%m-%d} UTC", highlight=False)
        out_console.print(f"  verify with: --trust {identity.root_path}", highlight=False)


@keys_app.command("show")
def keys_show(
    directory: Path | None = _DIR_OPTION,
    json_out: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
) -> None:
    """Show the device certificate, its validity and any C2PA profile problem."""
    with user_errors():
        identity = load_identity(directory)
        cert = identity.device
        data = {
            "directory": str(identity.directory),
            "subject": identity.subject,
            "issuer": cert.issuer.rfc4514_string(),
            "not_before": cert.not_valid_before_utc.isoformat(),
            "not_after": cert.not_valid_after_utc.isoformat(),
            "sha256": identity.fingerprint,
            "trust_root": str(identity.root_path),
            "problems": leaf_problems(cert),
        }
        if json_out:
            print_json(data)
            return
        for key, value in data.items():
            if key != "problems":
                out_console.print(f"{key}: {value}", highlight=False)
        problems = data["problems"]
        assert isinstance(problems, list)
        out_console.print("problems: " + ("; ".join(problems) or "none"), highlight=False)


def sign_command(
    file: Path = typer.Argument(..., help="A JPEG, PNG, WebP, MP4 or MOV file."),
    output: Path = typer.Option(..., "--output", "-o", help="Signed copy (may equal FILE)."),
    directory: Path | None = _DIR_OPTION,
    report: Path | None = typer.Option(
        None, "--report", help="A `bystander protect --report` JSON: add its protection facts."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
) -> None:
    """Sign a file with the device identity (e.g. a file protected elsewhere)."""
    with user_errors():
        identity = load_identity(directory)
        # the file existed before: it is an opened input, never a capture we witnessed
        actions = [opened_action()]
        protection: ProtectionAssertion | None = None
        if report is not None:
            protection, edited = _protection_from_report_file(report, file)
            actions.append(edited)
        manifest = ProvenanceManifest(
            actions=actions,
            protection=protection,
            ingredients=[input_ingredient("input", mime_type(file))],
        )
        trust = [identity.root_path] if identity.root_path.is_file() else None
        result = sign_file(
            file, output, manifest, KeyFileSigner.for_identity(identity),
            trust=trust, overwrite=overwrite,
        )  # fmt: skip
        out_console.print(
            f"signed {result.path} ({result.manifest_bytes} byte manifest, "
            f"{result.seconds * 1000:.0f} ms)",
            highlight=False,
        )


def _protection_from_report_file(
    report: Path, file: Path
) -> tuple[ProtectionAssertion, dict[str, Any]]:
    from bystander.vision.report import ProtectReport  # heavy: only when asked

    try:
        parsed = ProtectReport.model_validate_json(report.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read report {report}: {str(exc).splitlines()[0]}") from None
    items = [item for item in parsed.items if Path(item.output).name == file.name]
    if not items and len(parsed.items) == 1:
        items = parsed.items
    if not items:
        raise InputError(f"{report} has no item for {file.name}")
    return protection_from_report(items[0], dict(parsed.settings), dict(parsed.detector))


def verify_command(
    files: list[Path] = typer.Argument(..., help="Files to verify."),
    trust: list[Path] | None = typer.Option(
        None, "--trust", help="A trusted root certificate (PEM). Repeatable."
    ),
    require: list[str] | None = typer.Option(
        None,
        "--require",
        help="Also require an assertion: capture-guard, consent, protection, audit-checkpoint. "
        "Repeatable (protection is always required).",
    ),
    allow_untrusted: bool = typer.Option(
        False, "--allow-untrusted", help="Exit 0 for valid files whose signer is not trusted."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Validate C2PA manifests offline and say what they prove, in plain words."""
    with user_errors():
        required = [ACTIONS, PROTECTION]
        for name in require or []:
            if name not in _REQUIRE_NAMES:
                raise InputError(f"unknown --require {name!r} (one of {', '.join(_REQUIRE_NAMES)})")
            if _REQUIRE_NAMES[name] not in required:
                required.append(_REQUIRE_NAMES[name])
        results = [verify_file(path, trust or None, require=required) for path in files]
        if json_out:
            print_json([json.loads(json.dumps(r.to_dict(), default=str)) for r in results])
        else:
            for result in results:
                _print_verification(result)
        code = exit_code(results, allow_untrusted)
    if code:
        raise typer.Exit(code)


def exit_code(results: list[Verification], allow_untrusted: bool = False) -> int:
    """0 all proven; 3 any invalid or unsigned; 4 untrusted or missing assertions."""
    if any(r.state in ("invalid", "unsigned") for r in results):
        return EXIT_INVALID
    accepted = ("trusted", "valid") if allow_untrusted else ("trusted",)
    if any(r.state not in accepted or r.missing for r in results):
        return EXIT_NOT_PROVEN
    return 0


def _print_verification(v: Verification) -> None:
    style = _STATE_STYLE.get(v.state, "bold")
    out_console.print(f"{v.path}: [{style}]{v.state.upper()}[/]", highlight=False)
    for line in v.statements:
        out_console.print(f"  {line}", highlight=False, markup=False)
    for failure in v.failures:
        out_console.print(
            f"  x {failure.code}: {failure.explanation}", highlight=False, markup=False
        )
