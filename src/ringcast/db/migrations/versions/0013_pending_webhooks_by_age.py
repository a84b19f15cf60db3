"""pending webhook deliveries by age

* ``ix_webhook_outbox_pending_age``: ``webhook_outbox (created_at)`` for the pending rows
  only. ``/metrics`` reads the oldest undelivered webhook's age from its first entry,
  whatever the size of the outbox (every delivered row stays in the table, so a scan of
  it would grow with every call ever placed). Partial, so it holds only the backlog.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_webhook_outbox_pending_age",
        "webhook_outbox",
        ["created_at"],
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_outbox_pending_age", table_name="webhook_outbox")
