"""Administration: the database schema, API keys, agents, the account webhook, calling
policies and the do-not-call list (telephone connections: ``cli.connections``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from ringcast.cli.common import (
    JsonFlag,
    JsonLinesFlag,
    OrgOption,
    PolicyChoice,
    database_shown,
    echo_json,
    err,
    fail,
    load_settings,
    opened,
    org_id,
    organization,
    out,
)
from ringcast.clock import SystemClock
from ringcast.config import Settings
from ringcast.records import AgentType
from ringcast.runtime import CannotOpen, SchemaStatus, schema_status
from ringcast.services import accounts, compliance, webhooks

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
agents_app = typer.Typer(help="Agents.", no_args_is_help=True)
webhooks_app = typer.Typer(help="Webhooks.", no_args_is_help=True)
dnc_app = typer.Typer(help="The organization's do-not-call list.", no_args_is_help=True)
policy_app = typer.Typer(help="Calling-hours policies.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(as_json: JsonFlag = False) -> None:
    """Migrate the configured database (RINGCAST_DATABASE_URL) to this version."""
    from ringcast import logs

    settings = load_settings()
    logs.configure(settings.log_level)  # Alembic's steps, as JSON lines on stderr
    with opened(settings, upgrade_schema=True) as runtime:
        revision = runtime.schema_revision()
    if as_json:
        echo_json({"revision": revision, "database": database_shown(settings)})
        return
    out.print(f"database at revision {revision}")


@db_app.command("current")
def db_current(as_json: JsonFlag = False) -> None:
    """Print the database's revision and whether it is this version's head, and (on
    stderr) where the database is."""
    settings = load_settings()
    status = _schema_status(settings)
    if as_json:
        echo_json(
            {
                "revision": status.revision,
                "head": status.head,
                "is_head": status.is_head,
                "is_newer": status.is_newer,
                "database": database_shown(settings),
            }
        )
        return
    err.print(f"database: {database_shown(settings)}", highlight=False, markup=False)
    if status.is_head:
        note = "(head)"
    elif status.is_newer:
        note = f"(newer than this ringcast, whose head is {status.head})"
    else:
        note = f"(behind: head is {status.head}; run `ringcast db upgrade`)"
    out.print(f"{status.revision or 'none'} {note}", highlight=False)


@db_app.command("history")
def db_history(as_json: JsonLinesFlag = False) -> None:
    """List this version's migrations, newest first, marking the database's current one."""
    from ringcast.db.migrate import history

    current = _schema_status(load_settings()).revision
    for number, migration in enumerate(history()):
        marks = [
            m for m, on in (("head", number == 0), ("current", migration.revision == current)) if on
        ]
        if as_json:
            echo_json(
                {"revision": migration.revision, "summary": migration.summary, "marks": marks}
            )
        else:
            tail = f"  ({', '.join(marks)})" if marks else ""
            out.print(f"{migration.revision}  {migration.summary}{tail}", highlight=False)


def _schema_status(settings: Settings) -> SchemaStatus:
    try:
        return schema_status(settings)
    except CannotOpen as exc:
        fail(str(exc))


@db_app.command("reseal-secrets")
def db_reseal_secrets(as_json: JsonFlag = False) -> None:
    """Seal every stored secret with the first key of RINGCAST_SECRET_KEY.

    To rotate the key: put a new key first in RINGCAST_SECRET_KEY (comma-separated, the old
    ones after it), run this, then drop the old keys. Secrets stored before encryption are
    sealed too. Run it again at any time: it only rewrites what needs it.
    """
    with opened() as runtime:
        sealed = runtime.store.reencrypt_secrets()
    if as_json:
        echo_json({"sealed": sealed})
    else:
        out.print(f"sealed {sealed} secrets again")


@keys_app.command("create")
def keys_create(
    org: Annotated[str, typer.Option(help="Organization name (created if new).")],
    workspace: Annotated[
        str | None, typer.Option(help="Workspace name (default: the organization's default).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an API key. The key is printed once; only its hash is kept."""
    with opened(name_fields=False) as runtime:
        issued = accounts.issue_key(runtime.store, SystemClock(), org, workspace)
    if as_json:
        echo_json(
            {
                "org_id": issued.organization.id,
                "workspace_id": issued.workspace.id,
                "api_key": issued.plaintext,
                "prefix": issued.key.prefix,
            }
        )
        return
    out.print(f"organization  {issued.organization.name}  [dim]{issued.organization.id}[/dim]")
    out.print(f"workspace     {issued.workspace.name}  [dim]{issued.workspace.id}[/dim]")
    out.print(f"api key       [bold]{issued.plaintext}[/bold]", highlight=False)
    err.print("[yellow]Store this key now: it is not shown again.[/yellow]")


@keys_app.command("list")
def keys_list(org: OrgOption, as_json: JsonLinesFlag = False) -> None:
    """The organization's API keys, revoked ones included: prefix, workspace, when made
    and when revoked. A key's secret is never shown (only its hash is kept)."""
    with opened(name_fields=False) as runtime:
        listed = accounts.list_keys(runtime.store, org_id(runtime, org))
    for k in listed:
        if as_json:
            echo_json(
                {
                    "prefix": k.prefix,
                    "workspace": k.workspace,
                    "workspace_id": k.workspace_id,
                    "created_at": k.created_at.isoformat(),
                    "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
                }
            )
        else:
            revoked = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "live"
            out.print(
                f"{k.prefix}  {k.workspace}  {k.created_at:%Y-%m-%d %H:%M}  {revoked}",
                highlight=False,
                markup=False,
            )
    if not as_json:
        err.print(f"{len(listed)} keys")


@keys_app.command("revoke")
def keys_revoke(
    prefix: Annotated[str, typer.Argument(help="The key's prefix, e.g. rc_3f9a2b7c.")],
    as_json: JsonFlag = False,
) -> None:
    """Revoke an API key: requests that present it get 401 from now on."""
    with opened(name_fields=False) as runtime:
        if not runtime.store.revoke_api_key(prefix, SystemClock().now()):
            fail(f"no API key with prefix {prefix}")
    if as_json:
        echo_json({"revoked": prefix})
    else:
        out.print(f"revoked {prefix}")


@agents_app.command("create")
def agents_create(
    org: OrgOption,
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
    as_json: JsonFlag = False,
) -> None:
    """Register an agent and print its id."""
    with opened(name_fields=False) as runtime:
        prompt = prompt_file.read_text(encoding="utf-8")
        owner = organization(runtime, org).name
        agent = accounts.register_agent(
            runtime.store, SystemClock(), owner, name, prompt, agent_type
        )
    if as_json:
        echo_json({"agent_id": agent.id})
        return
    variables = ", ".join(agent.variables) or "-"
    out.print(f"agent {agent.name}  [bold]{agent.id}[/bold]  variables: {variables}")


@agents_app.command("list")
def agents_list(
    org: OrgOption,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 100,
    as_json: JsonLinesFlag = False,
) -> None:
    """The organization's agents, oldest first: id, name, type, variables, state."""
    with opened(name_fields=False) as runtime:
        agents, total = accounts.list_agents(runtime.store, org_id(runtime, org), limit)
    for a in agents:
        if as_json:
            echo_json(
                {
                    "agent_id": a.id,
                    "name": a.name,
                    "type": a.type.value,
                    "version": a.version,
                    "variables": list(a.variables),
                    "active": a.active,
                    "recordable": a.recordable,
                    "archived": a.archived,
                    "created_at": a.created_at.isoformat(),
                }
            )
        else:
            state = "archived" if a.archived else "active" if a.active else "inactive"
            variables = ", ".join(a.variables) or "-"
            out.print(
                f"{a.id}  {a.name}  {a.type.value}  {state}  variables: {variables}",
                highlight=False,
                markup=False,
            )
    if not as_json:
        err.print(f"{total} agents")


@webhooks_app.command("set")
def webhooks_set(
    org: OrgOption,
    url: Annotated[
        str, typer.Option(help="Receives the call object when a call completes or fails.")
    ],
    secret: Annotated[
        str | None, typer.Option(help="HMAC-SHA256 key (24+ characters); generated when omitted.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Set the account webhook (Volubile's, signed in X-Webhook-Signature)."""
    with opened(name_fields=False) as runtime:
        hook = webhooks.set_account_webhook(
            runtime.store,
            org_id(runtime, org),
            url,
            secret,
            allow_private=runtime.settings.webhooks_allow_private,
        )
    if as_json:
        echo_json({"url": hook.url, "secret": hook.secret})
        return
    out.print(f"webhook  {hook.url}")
    out.print(f"secret   [bold]{hook.secret}[/bold]", highlight=False)
    err.print("[yellow]Store this secret now: it is not shown again.[/yellow]")


@dnc_app.command("add")
def dnc_add(
    org: OrgOption,
    phones: Annotated[list[str], typer.Argument(help="E.164 numbers, e.g. +33612345678.")],
    as_json: JsonFlag = False,
) -> None:
    """List numbers: no campaign of the organization dials them again."""
    with opened() as runtime:
        added = compliance.add_numbers(
            runtime.store, org_id(runtime, org), phones, "cli", SystemClock().now()
        )
    if as_json:
        echo_json({"added": added, "already_listed": len(set(phones)) - added})
    else:
        out.print(f"added {added}, already listed {len(set(phones)) - added}")


@dnc_app.command("remove")
def dnc_remove(
    org: OrgOption,
    phone: Annotated[str, typer.Argument(help="An E.164 number.")],
    as_json: JsonFlag = False,
) -> None:
    """Take a number off the list."""
    with opened() as runtime:
        number = compliance.e164(phone)
        if not runtime.store.remove_do_not_call(org_id(runtime, org), number):
            fail(f"{number} is not on the do-not-call list")
    if as_json:
        echo_json({"removed": number})
    else:
        out.print(f"removed {number}")


@dnc_app.command("list")
def dnc_list(
    org: OrgOption,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
    as_json: JsonLinesFlag = False,
) -> None:
    """The listed numbers, with where each came from."""
    with opened() as runtime:
        entries, total = runtime.store.list_do_not_call(org_id(runtime, org), 0, limit)
    for e in entries:
        if as_json:
            echo_json(
                {"phone": e.phone, "source": e.source, "created_at": e.created_at.isoformat()}
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
    as_json: JsonFlag = False,
) -> None:
    """Import a file of numbers, streamed, with a progress bar; bad lines are reported."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeElapsedColumn

    size = file.stat().st_size
    with opened() as runtime:
        organization = org_id(runtime, org)
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
                runtime.store, organization, compliance.lines_of(chunks()), SystemClock().now()
            )
    if as_json:
        echo_json(
            {
                "read": report.read,
                "added": report.added,
                "already_listed": report.already_listed,
                "rejected": [
                    {"line": line, "value": value, "reason": why}
                    for line, value, why in report.rejected[:1000]
                ],
            }
        )
        return
    out.print(
        f"read {report.read:,} numbers: added {report.added:,}, "
        f"already listed {report.already_listed:,}, rejected {len(report.rejected):,}"
    )
    for line, value, why in report.rejected[:20]:
        err.print(f"  line {line}: {value!r} {why}", highlight=False)


@policy_app.command("set")
def policy_set(
    org: OrgOption,
    policy: Annotated[PolicyChoice, typer.Argument(help="The policy's name.")],
    as_json: JsonFlag = False,
) -> None:
    """Choose the calling-hours policy of the organization's campaigns."""
    with opened() as runtime:
        runtime.store.set_calling_policy(org_id(runtime, org), compliance.policy_name(policy))
    if as_json:
        echo_json({"org": org, "policy": policy})
    else:
        out.print(f"{org}: calling policy {policy}")
