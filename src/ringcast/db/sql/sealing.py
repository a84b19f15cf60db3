"""Secrets at rest, as a whole: does the key open what is stored, and sealing every stored
secret again with the first key (after a rotation, or over plaintext written before
secrets were encrypted). Each secret is sealed and opened in ``mapping``; see
``ringcast.crypto`` for the key and the format.

Each row is rewritten in a transaction of its own, which takes that one row's lock and
nothing else: it can wait for a planning or call-end transaction, never deadlock with
one, and a secret written meanwhile is read again before it is sealed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from ringcast.crypto import MARK
from ringcast.db import mapping
from ringcast.db import tables as t
from ringcast.db.sql.base import SqlBase, for_update

#: The organization's secret columns.
_ORG_SECRETS = ("webhook_secret", "signing_secret")


class SealingSql(SqlBase):
    def check_secret_key(self) -> None:
        """Open one stored secret, if any is sealed: ``SecretKeyError`` when the key does
        not open it, so that a wrong key stops a process at its start, not at its first
        delivery or dial."""
        o, k = t.organizations, t.connections
        with self.engine.connect() as conn:
            for column in _ORG_SECRETS:
                found = conn.execute(
                    sa.select(o.c[column]).where(o.c[column].startswith(MARK)).limit(1)
                ).scalar_one_or_none()
                if found is not None:
                    self.secrets.open(found)
                    return
            for row in conn.execute(sa.select(k.c.settings)):
                for stored in _stored_secrets(row.settings or {}):
                    if stored.startswith(MARK):
                        self.secrets.open(stored)
                        return

    def reencrypt_secrets(self) -> int:
        """Seal every stored secret that is not sealed with the first key (plaintext from
        before encryption, or sealed with an older key); how many were sealed again."""
        o, k = t.organizations, t.connections
        done = 0
        with self.engine.connect() as conn:
            org_ids = conn.execute(sa.select(o.c.id).order_by(o.c.id)).scalars().all()
            connection_keys = conn.execute(
                sa.select(k.c.org_id, k.c.id).order_by(k.c.org_id, k.c.id)
            ).all()
        for org_id in org_ids:
            with self._tx() as conn:
                query = sa.select(*(o.c[c] for c in _ORG_SECRETS)).where(o.c.id == org_id)
                row = conn.execute(for_update(conn, query)).first()
                if row is None:
                    continue
                stale = {
                    c: self.secrets.reseal(v)
                    for c, v in row._mapping.items()
                    if v is not None and not self.secrets.current(v)
                }
                if stale:
                    conn.execute(o.update().where(o.c.id == org_id).values(**stale))
                    done += len(stale)
        for org_id, connection_id in connection_keys:
            with self._tx() as conn:
                mine = sa.and_(k.c.org_id == org_id, k.c.id == connection_id)
                found = conn.execute(for_update(conn, sa.select(k.c.settings).where(mine))).first()
                if found is None:
                    continue
                settings = found.settings or {}
                stale_count = sum(not self.secrets.current(v) for v in _stored_secrets(settings))
                if stale_count:
                    resealed = mapping.settings_secrets(
                        settings,
                        lambda v: v if self.secrets.current(v) else self.secrets.reseal(v),
                    )
                    conn.execute(k.update().where(mine).values(settings=resealed))
                    done += stale_count
        return done


def _stored_secrets(settings: Mapping[str, Any]) -> list[str]:
    """The stored values of a connection's secret settings (``mapping.settings_secrets``
    decides which they are)."""
    found: list[str] = []

    def keep(value: str) -> str:
        found.append(value)
        return value

    mapping.settings_secrets(settings, keep)
    return found
