"""caller-number usage, the provider's evidence on attempts, room for encrypted secrets

* ``caller_number_usage``: what each caller number of a connection dialled in its latest
  UTC hour and day, so that the caps per number hold across campaigns and workers.
* ``attempts.answered_by`` (human, machine, fax, unknown) and ``attempts.provider_code``
  (the provider's own code for the call's end), both null when the provider said nothing.
* ``organizations.webhook_secret`` and ``signing_secret`` become text: they now hold
  encrypted tokens (``ringcast.crypto``), longer than the secrets. Rows written before
  keep their plaintext, which still reads and is encrypted on its next write or by
  ``SqlStore.reencrypt_secrets``: nothing here needs the key.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ringcast.db.types import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "caller_number_usage",
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("connection_id", sa.String(length=100), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("hour_start", UTCDateTime(), nullable=False),
        sa.Column("in_hour", sa.Integer(), nullable=False),
        sa.Column("in_day", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id", "connection_id"],
            ["connections.org_id", "connections.id"],
            name=op.f("fk_caller_number_usage_org_id_connections"),
        ),
        sa.PrimaryKeyConstraint(
            "org_id", "connection_id", "number", name=op.f("pk_caller_number_usage")
        ),
    )
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("answered_by", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("provider_code", sa.String(length=64), nullable=True))
    with op.batch_alter_table("organizations") as batch:
        for column in ("webhook_secret", "signing_secret"):
            batch.alter_column(
                column,
                existing_type=sa.String(length=100),
                type_=sa.Text(),
                existing_nullable=True,
            )


def downgrade() -> None:
    # An encrypted secret (over 100 characters) does not fit the old columns, and this
    # migration cannot decrypt it without the key: on PostgreSQL, going back fails while
    # one is stored.
    with op.batch_alter_table("organizations") as batch:
        for column in ("webhook_secret", "signing_secret"):
            batch.alter_column(
                column,
                existing_type=sa.Text(),
                type_=sa.String(length=100),
                existing_nullable=True,
            )
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("provider_code")
        batch.drop_column("answered_by")
    op.drop_table("caller_number_usage")
