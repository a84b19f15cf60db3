"""calling policies, do-not-call lists, refusals, and the frequency-cap index

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ringcast.db.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("organizations") as batch:
        batch.add_column(sa.Column("calling_policy", sa.String(length=16), nullable=True))
    op.create_index(
        op.f("ix_attempts_org_id_phone_dialed_at"),
        "attempts",
        ["org_id", "phone", "dialed_at"],
    )
    op.create_table(
        "do_not_call",
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_do_not_call_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("org_id", "phone", name=op.f("pk_do_not_call")),
    )
    op.create_table(
        "refusals",
        sa.Column("attempt_id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("refused_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_refusals_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("attempt_id", name=op.f("pk_refusals")),
    )
    op.create_index(
        op.f("ix_refusals_org_id_phone_refused_at"), "refusals", ["org_id", "phone", "refused_at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_refusals_org_id_phone_refused_at"), table_name="refusals")
    op.drop_table("refusals")
    op.drop_table("do_not_call")
    op.drop_index(op.f("ix_attempts_org_id_phone_dialed_at"), table_name="attempts")
    with op.batch_alter_table("organizations") as batch:
        batch.drop_column("calling_policy")
