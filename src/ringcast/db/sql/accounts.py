"""Organizations, workspaces, API keys and agents."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ringcast.core.errors import NotFound
from ringcast.db import mapping
from ringcast.db import tables as t
from ringcast.db.sql.base import SqlBase
from ringcast.records import Agent, ApiKey, Organization, Workspace


class AccountsSql(SqlBase):
    def ensure_organization(self, org_id: str, name: str, now: datetime) -> Organization:
        with self._tx() as conn:
            row = conn.execute(
                sa.select(t.organizations).where(t.organizations.c.name == name)
            ).first()
            if row is None:
                conn.execute(t.organizations.insert().values(id=org_id, name=name, created_at=now))
                return Organization(org_id, name, now)
            return mapping.organization(row, self.secrets)

    def ensure_workspace(self, ws_id: str, org_id: str, name: str, now: datetime) -> Workspace:
        w = t.workspaces
        with self._tx() as conn:
            row = conn.execute(sa.select(w).where(w.c.org_id == org_id, w.c.name == name)).first()
            if row is not None:
                return mapping.workspace(row)
            has_default = conn.execute(
                sa.select(sa.func.count()).where(w.c.org_id == org_id, w.c.is_default)
            ).scalar_one()
            values = {"id": ws_id, "org_id": org_id, "name": name, "is_default": not has_default}
            conn.execute(w.insert().values(**values, created_at=now))
            return Workspace(ws_id, org_id, name, not has_default, now)

    def get_organization(self, org_id: str) -> Organization | None:
        return self._one(
            t.organizations,
            t.organizations.c.id == org_id,
            lambda row: mapping.organization(row, self.secrets),
        )

    def find_organization(self, name: str) -> Organization | None:
        return self._one(
            t.organizations,
            t.organizations.c.name == name,
            lambda row: mapping.organization(row, self.secrets),
        )

    def organization_names(self) -> list[str]:
        o = t.organizations
        return self._all(sa.select(o.c.name).order_by(o.c.name), lambda row: str(row.name))

    def get_workspace(self, workspace_id: str) -> Workspace | None:
        return self._one(t.workspaces, t.workspaces.c.id == workspace_id, mapping.workspace)

    def default_workspace(self, org_id: str) -> Workspace | None:
        w = t.workspaces
        return self._one(w, sa.and_(w.c.org_id == org_id, w.c.is_default), mapping.workspace)

    def add_api_key(self, key: ApiKey) -> None:
        with self._tx() as conn:
            conn.execute(t.api_keys.insert().values(**mapping.fields(key)))

    def find_api_key(self, prefix: str) -> ApiKey | None:
        return self._one(t.api_keys, t.api_keys.c.prefix == prefix, mapping.api_key)

    def list_api_keys(self, org_id: str) -> list[ApiKey]:
        k = t.api_keys
        return self._all(
            sa.select(k).where(k.c.org_id == org_id).order_by(k.c.created_at, k.c.id),
            mapping.api_key,
        )

    def revoke_api_key(self, prefix: str, at: datetime) -> bool:
        k = t.api_keys
        with self._tx() as conn:
            exists = conn.execute(sa.select(k.c.id).where(k.c.prefix == prefix)).first()
            conn.execute(
                k.update()
                .where(k.c.prefix == prefix, k.c.revoked_at.is_(None))
                .values(revoked_at=at)
            )
            return exists is not None

    def add_agent(self, agent: Agent) -> None:
        with self._tx() as conn:
            conn.execute(t.agents.insert().values(**mapping.agent_values(agent)))
            conn.execute(
                t.agent_versions.insert().values(
                    **mapping.agent_version_values(str(uuid.uuid4()), agent)
                )
            )

    def get_agent(self, agent_id: str) -> Agent | None:
        with self.engine.connect() as conn:
            row = conn.execute(_agent_query().where(t.agents.c.id == agent_id)).first()
        return None if row is None else mapping.agent(row)

    def list_agents(self, org_id: str, offset: int, limit: int) -> tuple[list[Agent], int]:
        a = t.agents
        return self._page(
            _agent_query(),
            [a.c.org_id == org_id],
            [a.c.created_at, a.c.id],
            offset,
            limit,
            mapping.agent,
        )

    def update_agent(self, agent: Agent) -> None:
        a = t.agents
        with self._tx() as conn:
            done = conn.execute(
                a.update()
                .where(a.c.id == agent.id)
                .values(
                    name=agent.name,
                    active=agent.active,
                    recordable=agent.recordable,
                    archived=agent.archived,
                )
            )
            if done.rowcount == 0:
                raise NotFound("agent", agent.id)

    def set_account_webhook(self, org_id: str, url: str | None, secret: str | None) -> None:
        o = t.organizations
        with self._tx() as conn:
            conn.execute(
                o.update()
                .where(o.c.id == org_id)
                .values(webhook_url=url, webhook_secret=mapping.sealed(self.secrets, secret))
            )


def _agent_query() -> sa.Select[Any]:
    """Agents joined with their latest version (its prompt and variables)."""
    a, v = t.agents, t.agent_versions
    newer = v.alias("newer")
    latest = (
        sa.select(sa.func.max(newer.c.version))
        .where(newer.c.agent_id == a.c.id)
        .correlate(a)
        .scalar_subquery()
    )
    return sa.select(a, v.c.version, v.c.prompt_template, v.c.variables).select_from(
        a.join(v, sa.and_(v.c.agent_id == a.c.id, v.c.version == latest))
    )
