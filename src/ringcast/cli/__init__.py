"""The ``ringcast`` command: serve, worker, simulate, db, keys, agents, campaigns,
webhooks, dnc, policy, connections. Every command but serve and worker takes ``--json``.

    common       the consoles, exit codes, and ``opened``: the one way a command opens,
                 checks and closes the configured runtime
    admin        db, keys, agents, webhooks, dnc, policy
    campaigns    list, show, pause, resume, cancel, watch, export
    connections  telephone connections
    run       serve and worker
    simulate  the forecast on virtual time
    inputs    reading a create body in either vendor's dialect (the API's own schemas)
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Annotated

import typer

from ringcast.cli import admin, campaigns, connections, run, simulate

app = typer.Typer(
    help="ringcast: outbound-call campaigns for AI voice agents.", no_args_is_help=True
)


def _print_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"ringcast {version('ringcast')}")
        raise typer.Exit


@app.callback()
def _options(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version."
        ),
    ] = False,
) -> None:
    """ringcast: outbound-call campaigns for AI voice agents."""


app.add_typer(admin.db_app, name="db")
app.add_typer(admin.keys_app, name="keys")
app.add_typer(admin.agents_app, name="agents")
app.add_typer(admin.webhooks_app, name="webhooks")
app.add_typer(admin.dnc_app, name="dnc")
app.add_typer(admin.policy_app, name="policy")
app.add_typer(connections.connections_app, name="connections")
app.add_typer(campaigns.campaigns_app, name="campaigns")
app.command()(run.serve)
app.command()(run.worker)
app.command()(simulate.simulate)


def main() -> None:
    app()
