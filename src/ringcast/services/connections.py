"""Telephone connections: checking what a customer registers, and turning a registered
connection into the gateway its calls go out through."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from ringcast.core.errors import ValidationFailed
from ringcast.core.pacing import MAX_ATTEMPTS_PER_SECOND, MIN_ATTEMPTS_PER_SECOND
from ringcast.gateways.simulator import DEFAULT_MIX, DURATION_LAWS, OutcomeModel
from ringcast.ports import ConnectionRegistry
from ringcast.records import Connection
from ringcast.services.compliance import e164

GATEWAYS = ("simulator", "http")


@dataclass(frozen=True)
class ConnectionRequest:
    """What a customer sends to register a connection, before checking."""

    name: str | None = None
    gateway: str = "simulator"
    caller_numbers: Sequence[str] = ()
    max_attempts_per_second: float | None = None
    max_concurrent: int | None = None
    simulator: Mapping[str, Any] | None = None
    http: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Registered:
    connection: Connection
    created: bool  #: False when it replaced a connection with the same id


def register(
    store: ConnectionRegistry,
    org_id: str,
    connection_id: str,
    wanted: ConnectionRequest,
    now: datetime,
) -> Registered:
    """Check ``wanted`` and register it, or replace the organization's connection with this
    id (the CLI's ``connections set`` and the API's ``PUT`` both come here).

    A replaced connection keeps its creation time and the counts of its running calls:
    the store's replace never writes either, so a concurrent replace cannot lose them.
    """
    known = store.get_connection(org_id, connection_id)
    connection = checked(
        org_id, connection_id, wanted, now, created_at=known.created_at if known else None
    )
    return Registered(connection, created=store.put_connection(connection))


def checked(
    org_id: str,
    connection_id: str,
    wanted: ConnectionRequest,
    now: datetime,
    created_at: datetime | None = None,
) -> Connection:
    """The connection to store, or ``ValidationFailed`` naming the field and value."""
    if not connection_id or len(connection_id) > 100:
        raise ValidationFailed.single("connection_id", connection_id, "must be 1 to 100 characters")
    if wanted.gateway not in GATEWAYS:
        raise ValidationFailed.single(
            "gateway", wanted.gateway, f"must be one of {', '.join(GATEWAYS)}"
        )
    aps = wanted.max_attempts_per_second
    if aps is not None and not MIN_ATTEMPTS_PER_SECOND <= aps <= MAX_ATTEMPTS_PER_SECOND:
        raise ValidationFailed.single(
            "max_attempts_per_second",
            aps,
            f"must be between {MIN_ATTEMPTS_PER_SECOND:g} and {MAX_ATTEMPTS_PER_SECOND:g}",
        )
    if wanted.max_concurrent is not None and wanted.max_concurrent < 1:
        raise ValidationFailed.single("max_concurrent", wanted.max_concurrent, "must be at least 1")
    numbers = tuple(e164(n, f"caller_numbers[{i}]") for i, n in enumerate(wanted.caller_numbers))
    if wanted.gateway == "http":
        settings: dict[str, Any] = _http_settings(wanted.http)
    else:
        settings = _simulator_settings(wanted.simulator or {})
    return Connection(
        org_id=org_id,
        id=connection_id,
        name=wanted.name or connection_id,
        gateway=wanted.gateway,
        settings=settings,
        caller_numbers=numbers,
        max_attempts_per_second=aps,
        max_concurrent=wanted.max_concurrent,
        created_at=created_at or now,
        updated_at=now,
    )


def _simulator_settings(given: Mapping[str, Any]) -> dict[str, Any]:
    settings = {
        "outcomes": given.get("outcomes") or DEFAULT_MIX,
        "talk_s": given.get("talk_s", 45),
        "ring_s": given.get("ring_s", 20),
        "durations": given.get("durations") or "exponential",
        "seed": given.get("seed", 0),
    }
    try:
        OutcomeModel.parse(str(settings["outcomes"]))
    except ValueError as exc:
        raise ValidationFailed.single(
            "simulator.outcomes", settings["outcomes"], str(exc)
        ) from None
    for key in ("talk_s", "ring_s"):
        value = settings[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ValidationFailed.single(f"simulator.{key}", value, "must be a number above 0")
    if settings["durations"] not in DURATION_LAWS:
        raise ValidationFailed.single(
            "simulator.durations",
            settings["durations"],
            f"must be one of {', '.join(DURATION_LAWS)}",
        )
    if isinstance(settings["seed"], bool) or not isinstance(settings["seed"], int):
        raise ValidationFailed.single("simulator.seed", settings["seed"], "must be an integer")
    return settings


def _http_settings(given: Mapping[str, Any] | None) -> dict[str, Any]:
    if not given:
        raise ValidationFailed.single("http", None, "is required when gateway is http")
    url = given.get("url")
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed.single("http.url", url, "must be an http or https URL")
    secret = given.get("secret")
    if not isinstance(secret, str) or len(secret) < 16:
        raise ValidationFailed.single(
            "http.secret", "***" if secret else secret, "must be a string of 16 characters or more"
        )
    return {"url": url, "secret": secret}


def outcome_model(connection: Connection) -> OutcomeModel:
    """The simulator's draw for a simulator connection (its settings were checked)."""
    s = connection.settings
    return OutcomeModel.parse(
        str(s.get("outcomes") or DEFAULT_MIX),
        mean_talk=timedelta(seconds=float(s.get("talk_s", 45))),
        mean_ring=timedelta(seconds=float(s.get("ring_s", 20))),
        seed=int(s.get("seed", 0)),
        durations=str(s.get("durations") or "exponential"),
    )


def public_view(connection: Connection) -> dict[str, Any]:
    """The connection as the API shows it: the http secret is never given back."""
    settings = dict(connection.settings)
    shown: dict[str, Any] = {
        "connection_id": connection.id,
        "name": connection.name,
        "gateway": connection.gateway,
        "caller_numbers": list(connection.caller_numbers),
        "max_attempts_per_second": connection.max_attempts_per_second,
        "max_concurrent": connection.max_concurrent,
        "created_at": connection.created_at,
        "updated_at": connection.updated_at,
    }
    if connection.gateway == "http":
        shown["http"] = {"url": settings.get("url"), "secret_set": bool(settings.get("secret"))}
    else:
        shown["simulator"] = settings
    return shown
