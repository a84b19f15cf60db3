"""a number once per campaign; cohort uploads as durable jobs

* ``contacts.repeatable`` and the unique index ``ux_contacts_campaign_phone`` on
  ``(campaign_id, phone) WHERE NOT repeatable``: a number is a contact of a campaign once,
  enforced by the database, whatever races to add it. The contacts of hidden direct-calls
  campaigns (one per call placed, the same number as often as it is called) are
  ``repeatable``.
* Existing duplicates, before the index is built. Of the contacts sharing a campaign and
  a number, the one kept is the one that was dialled (has attempts), else the oldest
  (``created_at``, then ``id``). Each other one is deleted if it has no attempt; one with
  attempts keeps its history (its attempts, calls and webhooks point at it) and becomes
  ``repeatable``, outside the index, and if it was still waiting it is cancelled with
  the reason ``duplicate_number``: nobody is dialled twice again.
* ``cohorts.lease_owner`` / ``lease_expires_at``: the upload job's lease; and
  ``cohort_files``: the uploaded CSV and the rejected rows, in the database, where every
  server and worker can read them.
* A cohort still ``processing`` from before this revision had its file in
  ``RINGCAST_DATA_DIR`` and no job to resume: it is marked ``failed`` with a reason, and
  its ``valid_records`` is set to the contacts it did add (those stay).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ringcast.db.types import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_contacts = sa.table(
    "contacts",
    sa.column("id", sa.String),
    sa.column("campaign_id", sa.String),
    sa.column("phone", sa.String),
    sa.column("state", sa.String),
    sa.column("reason", sa.String),
    sa.column("next_due_at", UTCDateTime()),
    sa.column("cohort_id", sa.String),
    sa.column("repeatable", sa.Boolean),
    sa.column("created_at", UTCDateTime()),
)
_attempts = sa.table("attempts", sa.column("contact_id", sa.String))
_campaigns = sa.table(
    "campaigns", sa.column("id", sa.String), sa.column("direct_calls_of_agent", sa.String)
)
_cohorts = sa.table(
    "cohorts",
    sa.column("id", sa.String),
    sa.column("status", sa.String),
    sa.column("valid_records", sa.Integer),
    sa.column("failure_reason", sa.Text),
)


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(
            sa.Column("repeatable", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    conn = op.get_bind()
    k = _contacts
    conn.execute(
        k.update()
        .where(
            k.c.campaign_id.in_(
                sa.select(_campaigns.c.id).where(_campaigns.c.direct_calls_of_agent.is_not(None))
            )
        )
        .values(repeatable=True)
    )
    _settle_duplicates(conn)
    with op.batch_alter_table("contacts") as batch:
        batch.create_index(
            "ux_contacts_campaign_phone",
            ["campaign_id", "phone"],
            unique=True,
            postgresql_where=sa.text("NOT repeatable"),
            sqlite_where=sa.text("NOT repeatable"),
        )

    with op.batch_alter_table("cohorts") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("lease_expires_at", UTCDateTime(), nullable=True))
        batch.create_index(
            batch.f("ix_cohorts_status_lease_expires_at"), ["status", "lease_expires_at"]
        )
    op.create_table(
        "cohort_files",
        sa.Column("cohort_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cohort_id"], ["cohorts.id"], name=op.f("fk_cohort_files_cohort_id_cohorts")
        ),
        sa.PrimaryKeyConstraint("cohort_id", "kind", "part", name=op.f("pk_cohort_files")),
    )
    h = _cohorts
    added = sa.select(sa.func.count()).where(k.c.cohort_id == h.c.id).scalar_subquery()
    conn.execute(
        h.update()
        .where(h.c.status == "processing")
        .values(
            status="failed",
            valid_records=added,
            failure_reason="interrupted by an upgrade of ringcast before it completed; "
            "the contacts it had added stay: upload the rest again",
        )
    )


def _settle_duplicates(conn: sa.Connection) -> None:
    """Keep one contact per campaign and number (see the module docstring)."""
    k = _contacts
    dialled = sa.exists().where(_attempts.c.contact_id == k.c.id)
    ranked = (
        sa.select(
            k.c.id,
            k.c.state,
            dialled.label("dialled"),
            sa.func.row_number()
            .over(
                partition_by=(k.c.campaign_id, k.c.phone),
                order_by=(sa.case((dialled, 0), else_=1), k.c.created_at, k.c.id),
            )
            .label("rank"),
        )
        .where(sa.not_(k.c.repeatable))
        .subquery()
    )
    extra = conn.execute(
        sa.select(ranked.c.id, ranked.c.state, ranked.c.dialled).where(ranked.c.rank > 1)
    ).all()
    unused = [r.id for r in extra if not r.dialled]
    kept = [r.id for r in extra if r.dialled]
    for start in range(0, len(unused), 500):
        conn.execute(k.delete().where(k.c.id.in_(unused[start : start + 500])))
    for start in range(0, len(kept), 500):
        ids = kept[start : start + 500]
        conn.execute(k.update().where(k.c.id.in_(ids)).values(repeatable=True))
        conn.execute(
            k.update()
            .where(k.c.id.in_(ids), k.c.state == "waiting")
            .values(state="cancelled", reason="duplicate_number", next_due_at=None)
        )


def downgrade() -> None:
    op.drop_table("cohort_files")
    with op.batch_alter_table("cohorts") as batch:
        batch.drop_index(batch.f("ix_cohorts_status_lease_expires_at"))
        batch.drop_column("lease_expires_at")
        batch.drop_column("lease_owner")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_index("ux_contacts_campaign_phone")
        batch.drop_column("repeatable")
