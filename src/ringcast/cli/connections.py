"""``ringcast connections``: telephone connections, their gateway, caller numbers and
shared limits (as ``PUT /ringcast/v1/connections/{id}``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from ringcast.cli.common import (
    GatewayChoice,
    JsonFlag,
    JsonLinesFlag,
    OrgOption,
    echo_json,
    fail,
    opened,
    org_id,
    out,
)
from ringcast.clock import SystemClock
from ringcast.services import connections

connections_app = typer.Typer(
    help="Telephone connections: their gateway, caller numbers and shared limits.",
    no_args_is_help=True,
)


#: The environment-variable options that carry each secret, by setting name: a secret is
#: never taken from the command line (shell history, process lists) nor from the file.
SECRET_OPTIONS = {
    "secret": "--secret-env",
    "auth_token": "--auth-token-env",
    "api_key": "--api-key-env",
    "api_secret": "--api-secret-env",
}


@connections_app.command("set")
def connections_set(
    org: OrgOption,
    connection_id: Annotated[str, typer.Argument(help="The id its campaigns route to.")],
    name: Annotated[str | None, typer.Option(help="A name to show.")] = None,
    gateway: Annotated[GatewayChoice, typer.Option(help="How its calls are placed.")] = "simulator",
    caller: Annotated[
        list[str] | None, typer.Option("--caller", help="A caller number (repeatable).")
    ] = None,
    rate: Annotated[
        float | None, typer.Option("--rate", help="Attempts per second, all campaigns together.")
    ] = None,
    concurrent: Annotated[
        int | None, typer.Option("--concurrent", help="Calls at once, all campaigns together.")
    ] = None,
    caller_max_per_hour: Annotated[
        int | None,
        typer.Option("--caller-max-per-hour", help="Calls each caller number may place per hour."),
    ] = None,
    caller_max_per_day: Annotated[
        int | None,
        typer.Option("--caller-max-per-day", help="Calls each caller number may place per day."),
    ] = None,
    settings_json: Annotated[
        Path | None,
        typer.Option(
            "--settings-json",
            metavar="FILE",
            help="The gateway's block as a JSON object, named as in the API body, e.g. for "
            'twilio {"account_sid": "AC...", "answer_url": "https://...", '
            '"machine_detection": "Enable"}; for livekit {"url", "sip_trunk_id", '
            '"agent_name", ...}; for retell {"agent_id", ...}. Secrets are not read from '
            "it: give them with the --*-env options.",
        ),
    ] = None,
    outcomes: Annotated[
        str | None, typer.Option(help="simulator: e.g. answered=0.55,no_answer=0.25,busy=0.2")
    ] = None,
    url: Annotated[str | None, typer.Option(help="http: the runtime's base URL.")] = None,
    secret_env: Annotated[
        str | None,
        typer.Option(
            "--secret-env",
            metavar="VAR",
            help="The environment variable holding the http runtime's signing secret.",
        ),
    ] = None,
    auth_token_env: Annotated[
        str | None,
        typer.Option(
            "--auth-token-env",
            metavar="VAR",
            help="The environment variable holding twilio's auth token.",
        ),
    ] = None,
    api_key_env: Annotated[
        str | None,
        typer.Option(
            "--api-key-env",
            metavar="VAR",
            help="The environment variable holding the livekit or retell API key.",
        ),
    ] = None,
    api_secret_env: Annotated[
        str | None,
        typer.Option(
            "--api-secret-env",
            metavar="VAR",
            help="The environment variable holding the livekit API secret.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Register or replace a connection (as PUT /ringcast/v1/connections/{id}).

    A provider's block comes from --settings-json and its secrets from environment
    variables named with --auth-token-env (twilio), --api-key-env (livekit, retell) and
    --api-secret-env (livekit).
    """
    block = _settings_file(settings_json, gateway) if settings_json else {}
    secrets = {
        "secret": secret_env,
        "auth_token": auth_token_env,
        "api_key": api_key_env,
        "api_secret": api_secret_env,
    }
    for setting, variable in secrets.items():
        if variable:
            block[setting] = os.environ.get(variable, "")
    if outcomes:
        block["outcomes"] = outcomes
    if url:
        block["url"] = url
    if gateway == "http":
        # as before: a secret left out is refused as missing, naming http.secret
        block.setdefault("secret", "")
    wanted = connections.ConnectionRequest(
        name=name,
        gateway=gateway,
        caller_numbers=caller or (),
        max_attempts_per_second=rate,
        max_concurrent=concurrent,
        caller_number_max_per_hour=caller_max_per_hour,
        caller_number_max_per_day=caller_max_per_day,
        **{gateway: block or None} if gateway in connections.GATEWAYS else {},
    )
    with opened() as runtime:
        registered = connections.register(
            runtime.store,
            org_id(runtime, org),
            connection_id,
            wanted,
            SystemClock().now(),
            allow_private=runtime.settings.webhooks_allow_private,
        )
    if as_json:
        echo_json({"created": registered.created, **connections.public_view(registered.connection)})
    else:
        out.print(f"{'registered' if registered.created else 'replaced'} {connection_id}")


def _settings_file(path: Path, gateway: str) -> dict[str, object]:
    """The gateway's block from a JSON file; a secret in it is refused (exit 2)."""
    try:
        block = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        fail(f"--settings-json {path}: {exc}", code=2)
    if not isinstance(block, dict):
        fail(f"--settings-json {path}: must hold one JSON object", code=2)
    for setting, option in SECRET_OPTIONS.items():
        if setting in block:
            fail(
                f"{gateway}.{setting}: a secret is not read from a file; "
                f"name its environment variable with {option}",
                code=2,
            )
    return block


@connections_app.command("list")
def connections_list(org: OrgOption, as_json: JsonLinesFlag = False) -> None:
    """The organization's connections (a secret is never shown)."""
    with opened() as runtime:
        known = runtime.store.list_connections(org_id(runtime, org))
    for c in known:
        if as_json:
            echo_json(connections.public_view(c))
        else:
            out.print(
                f"{c.id}  {c.gateway}  rate {c.max_attempts_per_second or '-'}/s  "
                f"at once {c.max_concurrent or '-'}  callers {len(c.caller_numbers)}"
            )


@connections_app.command("remove")
def connections_remove(
    org: OrgOption,
    connection_id: Annotated[str, typer.Argument(help="Its id.")],
    as_json: JsonFlag = False,
) -> None:
    """Forget a connection: its campaigns dial through the default gateway."""
    with opened() as runtime:
        if not runtime.store.remove_connection(org_id(runtime, org), connection_id):
            fail(f"no connection {connection_id}")
    if as_json:
        echo_json({"removed": connection_id})
    else:
        out.print(f"removed {connection_id}")
