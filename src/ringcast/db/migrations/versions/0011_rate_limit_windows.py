"""rate-limit windows shared by every API process

* ``rate_limit_windows``: the request count of each (surface, account) in its current
  fixed window, counted with one upsert per request (``api.ratelimit``). UNLOGGED on
  PostgreSQL: a crash forgets a few seconds of counts, which is harmless. SQLite has the
  table for a uniform schema; a SQLite deployment (one process) counts in memory.

Revision ID: 0011
Revises: 0009 (until 0010, written alongside, lands: then 0010)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "rate_limit_windows",
        sa.Column("bucket", sa.String(length=200), nullable=False),
        sa.Column("window_no", sa.BigInteger(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bucket"),
        prefixes=["UNLOGGED"] if postgres else [],
    )


def downgrade() -> None:
    op.drop_table("rate_limit_windows")
