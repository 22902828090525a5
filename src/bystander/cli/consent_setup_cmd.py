"""`bystander consent key | trust-key | controller`: who signs receipts, whose receipts are
trusted, and the controller terms every consent record of this device shares.

    bystander consent key > device.jwk                  # give it to auditors
    bystander consent trust-key add device.jwk --name glasses-0001
    bystander consent controller set --name "Acme Glasses Ltd" --address "1 Road, Shenzhen" \\
        --contact privacy@acme.example --notice https://acme.example/privacy --language zh \\
        --purpose "record the wearer's surroundings" --data-category "video of people nearby" \\
        --storage dpv:WithinDevice \\
        --jurisdiction CN --retention 30d
"""

from __future__ import annotations

from pathlib import Path

import typer

from bystander.cli.common import out_console, print_json, user_errors
from bystander.consent.controller import ControllerProfile
from bystander.consent.models import Controller
from bystander.consent.trust import DEVICE_KEY_NAME, KeyRegistry, load_public_key, public_jwk
from bystander.errors import InputError
from bystander.evidence.keys import load_or_create_signing_key

_JSON = typer.Option(False, "--json", help="Print JSON on stdout.")
trust_app = typer.Typer(
    help="Receipt signers this machine trusts (besides its own receipt key).",
    no_args_is_help=True,
)
controller_app = typer.Typer(
    help="The controller and processing terms every consent record shares (ISO/IEC TS 27560).",
    no_args_is_help=True,
)


def register(consent_app: typer.Typer) -> None:
    """Add ``key``, ``trust-key`` and ``controller`` to the ``consent`` group."""
    consent_app.command("key")(key_command)
    consent_app.add_typer(trust_app, name="trust-key")
    consent_app.add_typer(controller_app, name="controller")


def key_command() -> None:
    """Print this device's receipt public key as a JWK (created on first use); auditors
    import it with `bystander consent trust-key add`."""
    with user_errors():
        key = load_or_create_signing_key(DEVICE_KEY_NAME)
        print_json(public_jwk(key))


@trust_app.command("add")
def trust_add_command(
    key: Path = typer.Argument(..., help="A JWK (bystander consent key) or a PEM public key."),
    name: str = typer.Option(..., "--name", help="Whose key this is, e.g. glasses-0001."),
) -> None:
    """Trust receipts signed by KEY."""
    with user_errors():
        entry = KeyRegistry().add(load_public_key(key), name)
        out_console.print(f"trusted {entry.kid} ({entry.name})", highlight=False)


@trust_app.command("list")
def trust_list_command(json_out: bool = _JSON) -> None:
    """List the trusted receipt keys (this device's own and imported ones)."""
    with user_errors():
        trusted = KeyRegistry().trusted()
    if json_out:
        print_json(
            [{"kid": t.kid, "name": t.name, "jwk": public_jwk(t.key)} for t in trusted.values()]
        )
        return
    out_console.print(f"{len(trusted)} trusted receipt key(s)", highlight=False)
    for entry in trusted.values():
        out_console.print(f"  {entry.kid}  {entry.name}", highlight=False)


@trust_app.command("remove")
def trust_remove_command(kid: str = typer.Argument(..., help="The key's RFC 7638 kid.")) -> None:
    """Stop trusting an imported key (a kid may start with '-': put ``--`` before it)."""
    with user_errors():
        if not KeyRegistry().remove(kid):
            raise InputError(f"no imported receipt key {kid}")
        out_console.print(f"no longer trusted: {kid}", highlight=False)


@controller_app.command("set")
def controller_set_command(
    controller_id: str | None = typer.Option(None, "--id", help="Controller id."),
    name: str | None = typer.Option(None, "--name", help="Controller's legal name."),
    address: str | None = typer.Option(None, "--address", help="Controller's postal address."),
    contact: str | None = typer.Option(None, "--contact", help="Privacy contact (e-mail, URL)."),
    notice: str | None = typer.Option(None, "--notice", help="Privacy notice URL."),
    language: str | None = typer.Option(None, "--language", help="Notice language, e.g. zh."),
    purpose: list[str] = typer.Option([], "--purpose", help="Default purpose (repeat)."),
    data_category: list[str] = typer.Option(
        [], "--data-category", help="Default personal data category (repeat)."
    ),
    storage: list[str] = typer.Option([], "--storage", help="Storage location (repeat)."),
    jurisdiction: list[str] = typer.Option([], "--jurisdiction", help="E.g. CN (repeat)."),
    retention: str | None = typer.Option(None, "--retention", help="E.g. 30d, 1y or P30D."),
) -> None:
    """Set (merge) the shared terms; options not given keep their saved value."""
    from bystander.cli.consent_common import parse_retention

    with user_errors():
        profile = ControllerProfile.load()
        old = profile.controller or Controller()
        person = old.model_dump() | {
            k: v
            for k, v in {"id": controller_id, "name": name, "address": address,
                         "contact": contact}.items()
            if v is not None
        }  # fmt: skip
        changes: dict[str, object] = {"controller": person}
        for key, value in (("notice", notice), ("language", language)):
            if value is not None:
                changes[key] = value
        for key, values in (
            ("purposes", purpose),
            ("data_categories", data_category),
            ("storage_locations", storage),
            ("jurisdictions", jurisdiction),
        ):
            if values:
                changes[key] = tuple(values)
        if retention is not None:
            changes["retention"] = parse_retention(retention)
        try:
            updated = ControllerProfile.model_validate(profile.model_dump() | changes)
        except ValueError as exc:
            raise InputError(f"invalid controller terms: {str(exc).splitlines()[0]}") from None
        path = updated.save()
        out_console.print(f"saved {path}", highlight=False)


@controller_app.command("show")
def controller_show_command() -> None:
    """Print the shared terms (JSON)."""
    with user_errors():
        print_json(ControllerProfile.load().model_dump(mode="json", exclude_defaults=True))
