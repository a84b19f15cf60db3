"""one hidden direct-calls campaign per agent: a unique key instead of a look-up race

The hidden campaign behind an agent's direct calls was found by its ``extra`` marker and
created when missing, so two first calls at once could each create one. Its agent now
has a column of its own under a unique index, and the second insert fails instead.

Existing hidden campaigns get the key; where the old race made two for one agent, the
oldest (the one every later call has used) gets it, and the others keep their marker
without the key: still hidden, their calls still readable.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ringcast.db.types import JSON, UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

MARKER = "direct_calls_of_agent"  # records.HIDDEN_MARKER, as it was when this was written


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column(MARKER, sa.String(length=36), nullable=True))
    _key_existing_campaigns()
    op.create_index(
        op.f("ix_campaigns_org_id_direct_calls_of_agent"),
        "campaigns",
        ["org_id", MARKER],
        unique=True,
    )


def _key_existing_campaigns() -> None:
    campaigns = sa.table(
        "campaigns",
        sa.column("id", sa.String),
        sa.column("org_id", sa.String),
        sa.column("extra", JSON),
        sa.column("created_at", UTCDateTime()),
        sa.column(MARKER, sa.String),
    )
    agent = campaigns.c.extra[MARKER].as_string()
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(campaigns.c.id, campaigns.c.org_id, agent.label("agent_id"))
        .where(agent.is_not(None))
        .order_by(campaigns.c.created_at, campaigns.c.id)
    ).all()
    keyed: set[tuple[str, str]] = set()
    for row in rows:
        if (row.org_id, row.agent_id) in keyed:
            continue  # a younger duplicate: hidden still, but not the agent's campaign
        keyed.add((row.org_id, row.agent_id))
        conn.execute(
            campaigns.update().where(campaigns.c.id == row.id).values({MARKER: row.agent_id})
        )


def downgrade() -> None:
    op.drop_index(op.f("ix_campaigns_org_id_direct_calls_of_agent"), table_name="campaigns")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column(MARKER)
