"""The ``ringcast`` command: serve, worker, simulate, db, keys, agents, webhooks, dnc, policy."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from ringcast.clock import SystemClock
from ringcast.config import Settings
from ringcast.core.errors import RingcastError, ValidationFailed
from ringcast.records import AgentType
from ringcast.runtime import Runtime, SchemaOutOfDate, open_runtime
from ringcast.services import accounts

app = typer.Typer(
    help="ringcast: outbound-call campaigns for AI voice agents.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
agents_app = typer.Typer(help="Agents.", no_args_is_help=True)
webhooks_app = typer.Typer(help="Webhooks.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(agents_app, name="agents")
app.add_typer(webhooks_app, name="webhooks")
dnc_app = typer.Typer(help="The organization's do-not-call list.", no_args_is_help=True)
policy_app = typer.Typer(help="Calling-hours policies.", no_args_is_help=True)
app.add_typer(dnc_app, name="dnc")
app.add_typer(policy_app, name="policy")
connections_app = typer.Typer(
    help="Telephone connections: their gateway, caller numbers and shared limits.",
    no_args_is_help=True,
)
app.add_typer(connections_app, name="connections")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        _fail(f"invalid configuration: {exc.errors()[0]['msg']}")


def _runtime() -> Runtime:
    try:
        return open_runtime(_settings())
    except SchemaOutOfDate as exc:
        _fail(str(exc))


@contextmanager
def _opened() -> Iterator[Runtime]:
    """The configured runtime for one command, closed whatever happens; a value a domain
    rule refuses ends the command with exit 2, naming the field and the value."""
    runtime = _runtime()
    try:
        yield runtime
    except ValidationFailed as exc:
        _fail(_field_message(exc), code=2)
    finally:
        runtime.close()


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the configured database (RINGCAST_DATABASE_URL) to this version."""
    from ringcast.db.engine import make_engine
    from ringcast.db.migrate import current_revision, upgrade

    settings = _settings()
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        out.print(f"database at revision {current_revision(engine)}")
    finally:
        engine.dispose()


@keys_app.command("create")
def keys_create(
    org: Annotated[str, typer.Option(help="Organization name (created if new).")],
    workspace: Annotated[
        str | None, typer.Option(help="Workspace name (default: the organization's default).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Create an API key. The key is printed once; only its hash is kept."""
    runtime = _runtime()
    try:
        issued = accounts.issue_key(runtime.store, SystemClock(), org, workspace)
    except RingcastError as exc:
        _fail(str(exc))
    finally:
        runtime.close()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "org_id": issued.organization.id,
                    "workspace_id": issued.workspace.id,
                    "api_key": issued.plaintext,
                    "prefix": issued.key.prefix,
                }
            )
        )
        return
    out.print(f"organization  {issued.organization.name}  [dim]{issued.organization.id}[/dim]")
    out.print(f"workspace     {issued.workspace.name}  [dim]{issued.workspace.id}[/dim]")
    out.print(f"api key       [bold]{issued.plaintext}[/bold]", highlight=False)
    err.print("[yellow]Store this key now: it is not shown again.[/yellow]")


@keys_app.command("revoke")
def keys_revoke(
    prefix: Annotated[str, typer.Argument(help="The key's prefix, e.g. rc_3f9a2b7c.")],
) -> None:
    """Revoke an API key: requests that present it get 401 from now on."""
    runtime = _runtime()
    try:
        if not runtime.store.revoke_api_key(prefix, SystemClock().now()):
            _fail(f"no API key with prefix {prefix}")
    finally:
        runtime.close()
    out.print(f"revoked {prefix}")


@agents_app.command("create")
def agents_create(
    org: Annotated[str, typer.Option(help="Organization name (created if new).")],
    name: Annotated[str, typer.Option(help="Agent name.")],
    prompt_file: Annotated[
        Path,
        typer.Option(
            exists=True,
            dir_okay=False,
            readable=True,
            help="The prompt template; its {{ placeholders }} are the agent's variables.",
        ),
    ],
    agent_type: Annotated[
        AgentType, typer.Option("--type", case_sensitive=False)
    ] = AgentType.OUTBOUND,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Register an agent and print its id."""
    runtime = _runtime()
    try:
        agent = accounts.register_agent(
            runtime.store,
            SystemClock(),
            org,
            name,
            prompt_file.read_text(encoding="utf-8"),
            agent_type,
        )
    except RingcastError as exc:
        _fail(str(exc))
    finally:
        runtime.close()
    if as_json:
        typer.echo(json.dumps({"agent_id": agent.id}))
        return
    variables = ", ".join(agent.variables) or "-"
    out.print(f"agent {agent.name}  [bold]{agent.id}[/bold]  variables: {variables}")


@webhooks_app.command("set")
def webhooks_set(
    org: Annotated[str, typer.Option(help="Organization name.")],
    url: Annotated[
        str, typer.Option(help="Receives the call object when a call completes or fails.")
    ],
    secret: Annotated[
        str | None, typer.Option(help="HMAC-SHA256 key (24+ characters); generated when omitted.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Set the account webhook (Volubile's, signed in X-Webhook-Signature)."""
    from ringcast.services import webhooks

    runtime = _runtime()
    try:
        organization, _ = accounts.ensure_account(runtime.store, SystemClock(), org, None)
        hook = webhooks.set_account_webhook(runtime.store, organization.id, url, secret)
    except RingcastError as exc:
        _fail(str(exc))
    finally:
        runtime.close()
    if as_json:
        typer.echo(json.dumps({"url": hook.url, "secret": hook.secret}))
        return
    out.print(f"webhook  {hook.url}")
    out.print(f"secret   [bold]{hook.secret}[/bold]", highlight=False)
    err.print("[yellow]Store this secret now: it is not shown again.[/yellow]")


OrgOption = Annotated[str, typer.Option(help="Organization name.")]


def _org_id(runtime: Runtime, org: str) -> str:
    organization, _ = accounts.ensure_account(runtime.store, SystemClock(), org, None)
    return organization.id


@dnc_app.command("add")
def dnc_add(
    org: OrgOption,
    phones: Annotated[list[str], typer.Argument(help="E.164 numbers, e.g. +33612345678.")],
) -> None:
    """List numbers: no campaign of the organization dials them again."""
    from ringcast.services import compliance

    with _opened() as runtime:
        added = compliance.add_numbers(
            runtime.store, _org_id(runtime, org), phones, "cli", SystemClock().now()
        )
    out.print(f"added {added}, already listed {len(set(phones)) - added}")


@dnc_app.command("remove")
def dnc_remove(
    org: OrgOption, phone: Annotated[str, typer.Argument(help="An E.164 number.")]
) -> None:
    """Take a number off the list."""
    from ringcast.services import compliance

    with _opened() as runtime:
        number = compliance.e164(phone)
        if not runtime.store.remove_do_not_call(_org_id(runtime, org), number):
            _fail(f"{number} is not on the do-not-call list")
    out.print(f"removed {number}")


@dnc_app.command("list")
def dnc_list(
    org: OrgOption,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """The listed numbers, with where each came from."""
    with _opened() as runtime:
        entries, total = runtime.store.list_do_not_call(_org_id(runtime, org), 0, limit)
    for e in entries:
        if as_json:
            typer.echo(
                json.dumps(
                    {"phone": e.phone, "source": e.source, "created_at": e.created_at.isoformat()}
                )
            )
        else:
            out.print(f"{e.phone}  {e.source}  {e.created_at:%Y-%m-%d %H:%M}")
    if not as_json:
        err.print(f"{total} listed")


@dnc_app.command("import")
def dnc_import(
    org: OrgOption,
    file: Annotated[
        Path,
        typer.Argument(
            help="One number per line, or a CSV whose first column is the number.",
            exists=True,
            dir_okay=False,
        ),
    ],
) -> None:
    """Import a file of numbers, streamed, with a progress bar; bad lines are reported."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeElapsedColumn

    from ringcast.services import compliance

    size = file.stat().st_size
    with _opened() as runtime:
        org_id = _org_id(runtime, org)
        with (
            Progress(
                "[bold]import[/bold]",
                BarColumn(),
                DownloadColumn(),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            ) as bar,
            file.open("rb") as f,
        ):
            task = bar.add_task("import", total=size)

            def chunks() -> Iterator[bytes]:
                while block := f.read(1 << 16):
                    bar.update(task, completed=f.tell())
                    yield block

            report = compliance.import_numbers(
                runtime.store, org_id, compliance.lines_of(chunks()), SystemClock().now()
            )
    out.print(
        f"read {report.read:,} numbers: added {report.added:,}, "
        f"already listed {report.already_listed:,}, rejected {len(report.rejected):,}"
    )
    for line, value, why in report.rejected[:20]:
        err.print(f"  line {line}: {value!r} {why}", highlight=False)


@policy_app.command("set")
def policy_set(
    org: OrgOption,
    policy: Annotated[str, typer.Argument(help="fr, us, in or none.")],
) -> None:
    """Choose the calling-hours policy of the organization's campaigns."""
    from ringcast.services import compliance

    with _opened() as runtime:
        runtime.store.set_calling_policy(_org_id(runtime, org), compliance.policy_name(policy))
    out.print(f"{org}: calling policy {policy}")


@connections_app.command("set")
def connections_set(
    org: OrgOption,
    connection_id: Annotated[str, typer.Argument(help="The id its campaigns route to.")],
    name: Annotated[str | None, typer.Option(help="A name to show.")] = None,
    gateway: Annotated[str, typer.Option(help="simulator or http.")] = "simulator",
    caller: Annotated[
        list[str] | None, typer.Option("--caller", help="A caller number (repeatable).")
    ] = None,
    rate: Annotated[
        float | None, typer.Option("--rate", help="Attempts per second, all campaigns together.")
    ] = None,
    concurrent: Annotated[
        int | None, typer.Option("--concurrent", help="Calls at once, all campaigns together.")
    ] = None,
    outcomes: Annotated[
        str | None, typer.Option(help="simulator: e.g. answered=0.55,no_answer=0.25,busy=0.2")
    ] = None,
    url: Annotated[str | None, typer.Option(help="http: the runtime's base URL.")] = None,
    secret_env: Annotated[
        str | None,
        typer.Option(help="http: the environment variable holding the signing secret."),
    ] = None,
) -> None:
    """Register or replace a connection (as PUT /ringcast/v1/connections/{id})."""
    from ringcast.services import connections

    with _opened() as runtime:
        org_id = _org_id(runtime, org)
        known = runtime.store.get_connection(org_id, connection_id)
        http = None
        if gateway == "http":
            # the secret comes from the environment, never from the command line (shell
            # history, process lists)
            http = {"url": url, "secret": os.environ.get(secret_env or "", "")}
        now = SystemClock().now()
        wanted = connections.ConnectionRequest(
            name=name,
            gateway=gateway,
            caller_numbers=caller or (),
            max_attempts_per_second=rate,
            max_concurrent=concurrent,
            simulator={"outcomes": outcomes} if outcomes else None,
            http=http,
        )
        connection = connections.checked(
            org_id, connection_id, wanted, now, created_at=known.created_at if known else None
        )
        runtime.store.put_connection(connection)
    out.print(f"{'replaced' if known else 'registered'} {connection_id}")


@connections_app.command("list")
def connections_list(
    org: OrgOption,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """The organization's connections (an http secret is never shown)."""
    from ringcast.services import connections

    with _opened() as runtime:
        known = runtime.store.list_connections(_org_id(runtime, org))
    for c in known:
        if as_json:
            typer.echo(json.dumps(connections.public_view(c), default=str))
        else:
            out.print(
                f"{c.id}  {c.gateway}  rate {c.max_attempts_per_second or '-'}/s  "
                f"at once {c.max_concurrent or '-'}  callers {len(c.caller_numbers)}"
            )


@connections_app.command("remove")
def connections_remove(
    org: OrgOption, connection_id: Annotated[str, typer.Argument(help="Its id.")]
) -> None:
    """Forget a connection: its campaigns dial through the default gateway."""
    with _opened() as runtime:
        if not runtime.store.remove_connection(_org_id(runtime, org), connection_id):
            _fail(f"no connection {connection_id}")
    out.print(f"removed {connection_id}")


def _field_message(exc: ValidationFailed) -> str:
    e = exc.errors[0]
    return f"{e.field} {e.rejected_value!r}: {e.message}"


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default RINGCAST_HOST or 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default RINGCAST_PORT or 8000).")] = None,
) -> None:
    """Start the HTTP server. On the embedded SQLite default it sets its database up itself."""
    import uvicorn

    from ringcast import logs
    from ringcast.api.app import create_app

    settings = _settings()
    logs.configure(settings.log_level)
    runtime = _runtime()
    web = create_app(runtime, SystemClock(), dispatch=settings.embedded_dispatcher)
    where = f"http://{host or settings.host}:{port or settings.port}"
    err.print(f"ringcast on {where}  database: {_safe_url(settings.database_url)}")
    try:
        uvicorn.run(
            web,
            host=host or settings.host,
            port=port or settings.port,
            log_level=settings.log_level,
        )
    finally:
        runtime.close()


@app.command()
def worker() -> None:
    """Run a dispatcher without the HTTP server (any number, over one PostgreSQL)."""
    import asyncio
    import signal

    from ringcast import logs
    from ringcast.dispatch.runner import build

    settings = _settings()
    logs.configure(settings.log_level)
    runtime = _runtime()
    dispatcher = build(runtime, SystemClock())

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await dispatcher.run(stop)

    err.print(f"ringcast worker {dispatcher.name}  database: {_safe_url(settings.database_url)}")
    try:
        asyncio.run(main())
    finally:
        runtime.close()


@app.command()
def simulate(
    campaign: Annotated[
        Path,
        typer.Option(
            help="The create body a client would send, Volubile's or Sarvam's (JSON).",
            exists=True,
            dir_okay=False,
        ),
    ],
    start: Annotated[
        str, typer.Option(help="When the campaign is launched: ISO 8601 with an offset.")
    ],
    contacts: Annotated[
        str | None,
        typer.Option(
            help="A number of generated contacts, or a CSV with a 'phone' column "
            "(other columns become context). Default: the body's recipients."
        ),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Stop at this moment (default: when nothing is left).")
    ] = None,
    outcomes: Annotated[
        str | None,
        typer.Option(help="Outcome probabilities, e.g. answered=0.5,no_answer=0.3,busy=0.2."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Same seed, same forecast.")] = 0,
    policy: Annotated[
        str | None,
        typer.Option(help="Calling-hours policy in the contacts' zones: fr, us, in or none."),
    ] = None,
    trace: Annotated[
        Path | None, typer.Option(help="Write one JSON line per attempt to this file.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as one JSON object.")
    ] = False,
) -> None:
    """Forecast a campaign on virtual time: the real engine, a seeded outcome model."""
    from ringcast.forecast import cli as forecast_cli

    try:
        forecast_cli.run(
            campaign=campaign,
            start=start,
            contacts=contacts,
            until=until,
            outcomes=outcomes,
            seed=seed,
            policy=policy,
            trace=trace,
            as_json=as_json,
            out=out,
            err=err,
        )
    except forecast_cli.UsageError as exc:
        _fail(str(exc), code=2)


def _safe_url(url: str) -> str:
    """The database URL without its password, for printing."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main() -> None:
    app()
