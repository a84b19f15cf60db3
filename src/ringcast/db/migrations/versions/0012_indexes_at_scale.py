"""indexes for pages and figures that stay fast with millions of contacts

What ``bench/scale.py``'s EXPLAINs showed scanning a whole organization or campaign:

* ``attempts (org_id, created_at, id)``: the calls list (``GET /v1/calls``, newest first)
  sorted every call of the organization to show 20; it now reads them in index order.
* ``contacts (campaign_id, created_at, id)``: a campaign's contact page sorted the whole
  campaign to show 100. It takes the place of ``contacts (campaign_id, state)``, so that a
  contact's every move (two per attempt) maintains no more indexes than before: the
  waiting contacts of a campaign are read through ``ix_contacts_due``, and the counts by
  state read the whole campaign through either index.

(The due-contacts figure of ``/metrics`` reads ``ix_contacts_due`` per dialling campaign,
up to a cap: migration 0013 and ``db.sql.calls``.)

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_attempts_org_id_created_at_id", "attempts", ["org_id", "created_at", "id"])
    op.create_index(
        "ix_contacts_campaign_id_created_at_id", "contacts", ["campaign_id", "created_at", "id"]
    )
    op.drop_index("ix_contacts_campaign_id_state", table_name="contacts")


def downgrade() -> None:
    op.create_index("ix_contacts_campaign_id_state", "contacts", ["campaign_id", "state"])
    op.drop_index("ix_contacts_campaign_id_created_at_id", table_name="contacts")
    op.drop_index("ix_attempts_org_id_created_at_id", table_name="attempts")
