"""What every command shares: the two consoles, how a command fails, reading the
configuration, and the one way to open the configured runtime.

Exit codes: 0 done; 1 the command could not do its work (bad configuration, a database
that needs ``ringcast db upgrade``, something that does not exist); 2 a value the user
gave is refused (Typer's own usage errors use 2 as well).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import sqlalchemy as sa
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from ringcast.config import Settings
from ringcast.core.errors import RingcastError, ValidationFailed
from ringcast.records import Organization
from ringcast.runtime import CannotOpen, Runtime, open_runtime, unreachable
from ringcast.services import accounts

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

OrgOption = Annotated[str, typer.Option(help="Organization name (one that exists).")]
#: ``--json`` on a command that prints one object, and on one that prints a list
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
JsonLinesFlag = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]

#: The choices ``--help`` and shell completion list, and Typer enforces (exit 2 naming
#: them). Literals because Typer needs them spelled out; tests/cli checks they are still
#: ``services.connections.GATEWAYS`` and ``core.compliance.POLICIES``.
GatewayChoice = Literal["simulator", "http", "twilio", "livekit", "retell"]
PolicyChoice = Literal["fr", "us", "in", "none"]


def fail(message: str, code: int = 1) -> NoReturn:
    """End the command: one ``error:`` line on stderr (whether or not ``--json`` was
    given: machine-readable output is stdout's, and stays empty), exit ``code``."""
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    raise typer.Exit(code)


#: Where a command also reads ``RINGCAST_*`` settings, below the environment's own.
ENV_FILE = ".env"


def load_settings() -> Settings:
    """The ``RINGCAST_*`` configuration, from the environment and then a ``.env`` file in
    the current directory; a value it refuses ends the command with exit 1, naming the
    variable and the value (a secret's value is never printed)."""
    try:
        return Settings(_env_file=ENV_FILE)
    except ValidationError as exc:
        fail("invalid configuration: " + "; ".join(_setting_problem(e) for e in exc.errors()))


def _setting_problem(error: Any) -> str:
    """One refused setting as ``RINGCAST_PORT='abc': <why>``."""
    if not error.get("loc"):  # a rule over several settings names them itself
        return str(error["msg"])
    name = str(error["loc"][0])
    field = Settings.model_fields.get(name)
    secret = field is not None and not field.repr
    shown = "(hidden)" if secret else repr(error.get("input"))[:100]
    return f"RINGCAST_{name.upper()}={shown}: {error['msg']}"


@contextmanager
def opened(
    settings: Settings | None = None, *, upgrade_schema: bool = False, name_fields: bool = True
) -> Iterator[Runtime]:
    """The configured runtime for one command: opened, its schema checked, and closed
    whatever happens.

    A value a domain rule refuses ends the command with exit 2, naming the field and the
    value; with ``name_fields=False`` (the account commands, which have always answered
    so) with exit 1 and the rule's own message. Any other refusal ends it with exit 1.
    """
    try:
        runtime = open_runtime(settings or load_settings(), upgrade_schema=upgrade_schema)
    except CannotOpen as exc:  # an old schema, an unusable secret key
        fail(str(exc))
    except sa.exc.OperationalError as exc:  # nothing answers, or it refuses us
        fail(str(unreachable(exc)))
    try:
        yield runtime
    except ValidationFailed as exc:
        if name_fields:
            fail(field_message(exc), code=2)
        fail(str(exc))
    except RingcastError as exc:
        fail(str(exc))
    except sa.exc.OperationalError as exc:  # the database went away mid-command
        fail(str(unreachable(exc)))
    finally:
        runtime.close()


def field_message(exc: ValidationFailed) -> str:
    e = exc.errors[0]
    return f"{e.field} {e.rejected_value!r}: {e.message}"


def organization(runtime: Runtime, org: str) -> Organization:
    """The organization called ``org``. A name no organization has ends the command with
    exit 2, naming those that exist: a typo must not become a new, empty organization
    (only ``keys create`` makes one)."""
    try:
        return accounts.find_organization(runtime.store, org)
    except accounts.UnknownOrganization as exc:
        fail(str(exc), code=2)


def org_id(runtime: Runtime, org: str) -> str:
    """The id of the organization called ``org``, which must exist (see ``organization``)."""
    return organization(runtime, org).id


def echo_json(value: object) -> None:
    """One JSON object on one line of standard output (``--json``)."""
    typer.echo(json.dumps(value, default=str))


def database_shown(settings: Settings) -> str:
    """The configured database as ``serve``, ``worker`` and ``db current`` print it: a
    SQLite file as an absolute path (whatever directory the command ran in), any other
    URL without its password."""
    url = sa.engine.make_url(settings.database_url)
    if settings.is_sqlite and url.database and url.database != ":memory:":
        return str(Path(url.database).resolve())
    return url.render_as_string(hide_password=True)
