"""calls detail and the account webhook

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ringcast.db.types import JSON

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("organizations") as batch:
        batch.add_column(sa.Column("webhook_url", sa.Text(), nullable=True))
        batch.add_column(sa.Column("webhook_secret", sa.String(length=100), nullable=True))
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("transcript", JSON, nullable=True))
        batch.add_column(sa.Column("summary", sa.Text(), nullable=True))
        batch.add_column(sa.Column("extracted", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("extracted")
        batch.drop_column("summary")
        batch.drop_column("transcript")
    with op.batch_alter_table("organizations") as batch:
        batch.drop_column("webhook_secret")
        batch.drop_column("webhook_url")
