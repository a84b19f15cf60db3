"""The webhook outbox: deliveries queued in the transaction of the change they announce
(which ones, ``webhooks.outbox`` decides), claimed by deliverers, and their tries recorded.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa

from ringcast.db import mapping
from ringcast.db import tables as t
from ringcast.db.sql.base import SqlBase, for_update
from ringcast.records import OutboxEntry, PendingDelivery
from ringcast.webhooks.outbox import NewDelivery


def queue(conn: sa.Connection, deliveries: Iterable[NewDelivery]) -> None:
    """Write these deliveries, pending, in the caller's transaction."""
    rows = [mapping.new_delivery_values(str(uuid.uuid4()), d) for d in deliveries]
    if rows:
        conn.execute(t.webhook_outbox.insert(), rows)


def account_url(conn: sa.Connection, org_id: str) -> str | None:
    """The organization's account webhook (Volubile's), if it set one."""
    o = t.organizations
    url = conn.execute(sa.select(o.c.webhook_url).where(o.c.id == org_id)).scalar_one_or_none()
    return None if url is None else str(url)


def account_urls(conn: sa.Connection, org_ids: Iterable[str]) -> dict[str, str | None]:
    """``account_url`` of each of these organizations."""
    o = t.organizations
    rows = conn.execute(sa.select(o.c.id, o.c.webhook_url).where(o.c.id.in_(set(org_ids)))).all()
    return {r.id: r.webhook_url for r in rows}


class OutboxSql(SqlBase):
    def claim_webhooks(self, now: datetime, limit: int, lease: timedelta) -> list[PendingDelivery]:
        """Pending deliveries that are due, hidden from other workers for ``lease``."""
        o = t.webhook_outbox
        with self._tx() as conn:
            query = (
                sa.select(o)
                .where(o.c.status == "pending", o.c.next_attempt_at <= now)
                .order_by(o.c.next_attempt_at)
                .limit(limit)
            )
            claimed = [
                mapping.pending_delivery(r)
                for r in conn.execute(for_update(conn, query, skip_locked=True)).all()
            ]
            if claimed:
                conn.execute(
                    o.update()
                    .where(o.c.id.in_([d.id for d in claimed]))
                    .values(next_attempt_at=now + lease)
                )
        return claimed

    def record_delivery(
        self,
        outbox_id: str,
        *,
        status: str,
        code: int | None,
        error: str | None,
        next_attempt_at: datetime | None,
        at: datetime,
    ) -> None:
        o = t.webhook_outbox
        with self._tx() as conn:
            conn.execute(
                o.update()
                .where(o.c.id == outbox_id)
                .values(
                    status=status,
                    deliveries=o.c.deliveries + 1,
                    last_status_code=code,
                    last_error=error,
                    next_attempt_at=next_attempt_at,
                    delivered_at=at if status == "delivered" else None,
                )
            )

    def signing_secret(self, org_id: str, make: Callable[[], str]) -> str:
        """The organization's webhook signing secret, made on first use (stored sealed)."""
        o = t.organizations
        with self._tx() as conn:
            current = conn.execute(
                sa.select(o.c.signing_secret).where(o.c.id == org_id)
            ).scalar_one()
            if current:
                return self.secrets.open(str(current))
            secret = make()
            conn.execute(
                o.update().where(o.c.id == org_id).values(signing_secret=self.secrets.seal(secret))
            )
            return secret

    def list_outbox(self, campaign_id: str, limit: int) -> list[OutboxEntry]:
        o = t.webhook_outbox
        return self._all(
            sa.select(o)
            .where(o.c.campaign_id == campaign_id)
            .order_by(o.c.created_at.desc(), o.c.id)
            .limit(limit),
            mapping.outbox_entry,
        )

    def requeue_outbox(self, campaign_id: str, attempt_ids: Sequence[str], at: datetime) -> int:
        o = t.webhook_outbox
        if not attempt_ids:
            return 0
        with self._tx() as conn:
            # A delivery still pending is already on its way; only settled ones go again.
            done = conn.execute(
                o.update()
                .where(
                    o.c.campaign_id == campaign_id,
                    o.c.attempt_id.in_(list(attempt_ids)),
                    o.c.status != "pending",
                )
                .values(status="pending", next_attempt_at=at)
            )
            return done.rowcount

    def list_deliveries(
        self, org_id: str, status: str | None, offset: int, limit: int
    ) -> tuple[list[OutboxEntry], int]:
        """A page of the organization's deliveries, newest first; with ``status``, only
        those in it (``pending``, ``delivered``, ``failed``)."""
        o = t.webhook_outbox
        where = [o.c.org_id == org_id]
        if status is not None:
            where.append(o.c.status == status)
        return self._page(
            sa.select(o),
            where,
            [o.c.created_at.desc(), o.c.id],
            offset,
            limit,
            mapping.outbox_entry,
        )

    def get_delivery(self, org_id: str, outbox_id: str) -> OutboxEntry | None:
        o = t.webhook_outbox
        return self._one(
            o, sa.and_(o.c.org_id == org_id, o.c.id == outbox_id), mapping.outbox_entry
        )

    def retry_delivery(self, org_id: str, outbox_id: str, at: datetime) -> bool:
        """Send a failed delivery again from ``at`` (tried once more, as Sarvam's requeue
        does); False when the organization has no failed delivery with this id."""
        o = t.webhook_outbox
        with self._tx() as conn:
            done = conn.execute(
                o.update()
                .where(o.c.org_id == org_id, o.c.id == outbox_id, o.c.status == "failed")
                .values(status="pending", next_attempt_at=at)
            )
            return bool(done.rowcount)
