"""cohorts, and the attempt id on webhook outbox rows

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ringcast.db.types import JSON, UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cohorts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("campaign_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source_type", sa.String(length=16), nullable=False),
        sa.Column("total_records", sa.Integer(), server_default="0", nullable=False),
        sa.Column("valid_records", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rejected_records", sa.Integer(), server_default="0", nullable=False),
        sa.Column("transformation", JSON, nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_cohorts_campaign_id_campaigns")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cohorts")),
    )
    with op.batch_alter_table("cohorts") as batch:
        batch.create_index(
            batch.f("ix_cohorts_campaign_id_created_at"), ["campaign_id", "created_at"]
        )
    with op.batch_alter_table("webhook_outbox") as batch:
        batch.add_column(sa.Column("attempt_id", sa.String(length=36), nullable=True))
        batch.create_index(batch.f("ix_webhook_outbox_attempt_id"), ["attempt_id"])
        batch.create_index(
            batch.f("ix_webhook_outbox_campaign_id_created_at"), ["campaign_id", "created_at"]
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_outbox") as batch:
        batch.drop_index(batch.f("ix_webhook_outbox_campaign_id_created_at"))
        batch.drop_index(batch.f("ix_webhook_outbox_attempt_id"))
        batch.drop_column("attempt_id")
    with op.batch_alter_table("cohorts") as batch:
        batch.drop_index(batch.f("ix_cohorts_campaign_id_created_at"))
    op.drop_table("cohorts")
