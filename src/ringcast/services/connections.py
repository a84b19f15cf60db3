"""Telephone connections: checking what a customer registers, showing it back without its
secrets, and finding the connections a provider's callback may come from.

A connection names its gateway and carries that gateway's settings, stored flat in
``Connection.settings`` (the http runtime's ``{"url", "secret"}``; a provider's the fields
of its settings dataclass). The provider gateways' own settings dataclasses
(``TwilioSettings``, ``LiveKitSettings``, ``RetellSettings``) are the one rule for what a
provider block may hold: this module checks only the JSON types their fields declare, then
builds the dataclass and names the field its refusal is about. Secrets are never echoed
in a refusal and never shown back (``<field>_set`` flags instead).

Two settings hold for every gateway: ``caller_number_max_per_hour`` and
``caller_number_max_per_day``, caps on each caller number shared by every campaign and
worker, stored in ``Connection.settings`` under those keys when set.

Every base URL a gateway sends requests to is a destination the customer chose, so it goes
through the private-address guard when the connection is registered (``register``), unless
the deployment allows private addresses (``RINGCAST_WEBHOOKS_ALLOW_PRIVATE``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, get_type_hints, runtime_checkable
from urllib.parse import urlsplit

from ringcast import signing
from ringcast.core.errors import ValidationFailed
from ringcast.core.pacing import MAX_ATTEMPTS_PER_SECOND, MIN_ATTEMPTS_PER_SECOND
from ringcast.gateways.provider_settings import LiveKitSettings, RetellSettings, TwilioSettings
from ringcast.gateways.simulator import (
    DEFAULT_MIX,
    DURATION_LAWS,
    MAX_MEAN_RING,
    MAX_MEAN_TALK,
    MAX_SEED,
    OutcomeModel,
)
from ringcast.ports import ConnectionLoads, ConnectionRegistry
from ringcast.records import Connection, ConnectionLoad
from ringcast.services.compliance import e164
from ringcast.services.webhooks import require_public

SettingsClass = type[TwilioSettings] | type[LiveKitSettings] | type[RetellSettings]
#: The provider gateways, by name, and the settings dataclass each one's block must build.
PROVIDERS: dict[str, SettingsClass] = {
    "twilio": TwilioSettings,
    "livekit": LiveKitSettings,
    "retell": RetellSettings,
}
GATEWAYS = ("simulator", "http", *PROVIDERS)
#: Settings never shown back nor echoed in a refusal, whatever the gateway.
SECRETS = frozenset({"secret", "auth_token", "api_key", "api_secret"})
#: The setting each gateway sends its requests to: a destination the customer chose.
BASE_URLS = {"http": "url", "twilio": "api_base_url", "livekit": "url", "retell": "api_base_url"}
#: The per-caller-number caps, connection-wide and the same for every gateway.
CALLER_CAPS = ("caller_number_max_per_hour", "caller_number_max_per_day")
HIDDEN = "***"


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
    twilio: Mapping[str, Any] | None = None
    livekit: Mapping[str, Any] | None = None
    retell: Mapping[str, Any] | None = None
    caller_number_max_per_hour: int | None = None
    caller_number_max_per_day: int | None = None

    def block(self, gateway: str) -> Mapping[str, Any] | None:
        """The settings block named after ``gateway``."""
        blocks = {
            "simulator": self.simulator,
            "http": self.http,
            "twilio": self.twilio,
            "livekit": self.livekit,
            "retell": self.retell,
        }
        return blocks[gateway]


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
    *,
    allow_private: bool = False,
) -> Registered:
    """Check ``wanted`` and register it, or replace the organization's connection with this
    id (the CLI's ``connections set`` and the API's ``PUT`` both come here).

    Besides ``checked``, the gateway's base URL must reach a public address unless
    ``allow_private`` (this resolves the host name, so it blocks).

    A replaced connection keeps its creation time and the counts of its running calls:
    the store's replace never writes either, so a concurrent replace cannot lose them.
    """
    known = store.get_connection(org_id, connection_id)
    connection = checked(
        org_id, connection_id, wanted, now, created_at=known.created_at if known else None
    )
    if not allow_private:
        check_base_url(connection)
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
    caps = _caller_caps(wanted)
    block = wanted.block(wanted.gateway)
    if wanted.gateway == "http":
        settings: dict[str, Any] = _http_settings(block)
    elif wanted.gateway in PROVIDERS:
        settings = provider_settings(wanted.gateway, block)
    else:
        settings = _simulator_settings(block or {})
    return Connection(
        org_id=org_id,
        id=connection_id,
        name=wanted.name or connection_id,
        gateway=wanted.gateway,
        settings=settings | caps,
        caller_numbers=numbers,
        max_attempts_per_second=aps,
        max_concurrent=wanted.max_concurrent,
        created_at=created_at or now,
        updated_at=now,
    )


def check_base_url(connection: Connection) -> None:
    """Refuse a base URL whose host is not a public address, naming the field.

    The message does not say how the name resolved (nor whether it did): a refusal must
    not tell a customer what lies behind a name on ringcast's network. A provider's own
    default (Twilio's and Retell's public API) is ringcast's choice, not the customer's,
    and is not looked up.
    """
    field = BASE_URLS.get(connection.gateway)
    if field is None:
        return
    url = str(connection.settings.get(field) or "")
    if connection.gateway in PROVIDERS and url == _default(connection.gateway, field):
        return
    require_public(f"{connection.gateway}.{field}", url, allow_private=False)


def provider_settings(gateway: str, given: Mapping[str, Any] | None) -> dict[str, Any]:
    """A provider block checked by the provider's settings dataclass, as stored: every
    field of the dataclass, defaults filled in."""
    kind = PROVIDERS[gateway]
    if not given:
        raise ValidationFailed.single(gateway, None, f"is required when gateway is {gateway}")
    declared = {f.name: f for f in dataclasses.fields(kind)}
    types = get_type_hints(kind)
    values: dict[str, Any] = {}
    for name, value in given.items():
        if name not in declared:
            raise ValidationFailed.single(
                f"{gateway}.{name}", _shown(name, value), f"is not a {gateway} setting"
            )
        if value is None:
            continue  # null is "not given": the dataclass's default applies
        problem = _type_problem(types[name], value)
        if problem:
            raise ValidationFailed.single(f"{gateway}.{name}", _shown(name, value), problem)
        values[name] = value
    for name, f in declared.items():
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and not values.get(name):
            raise ValidationFailed.single(
                f"{gateway}.{name}", _shown(name, given.get(name)), "is required"
            )
    try:
        built = kind(**values)
    except ValueError as exc:
        name = _field_refused(kind, values, str(exc)) or ""
        raise ValidationFailed.single(
            f"{gateway}.{name}" if name else gateway,
            _shown(name, values.get(name)) if name else None,
            str(exc).removeprefix(f"{gateway}."),
        ) from None
    stored = dataclasses.asdict(built)
    base = BASE_URLS[gateway]
    parts = urlsplit(str(stored[base]))
    if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
        # a base URL the SDK could not use would fail every dial of the connection
        raise ValidationFailed.single(f"{gateway}.{base}", stored[base], "must be an http(s) URL")
    return stored


def _type_problem(declared: object, value: object) -> str | None:
    """Whether a JSON value has the type a settings field declares (``str``, ``int`` or
    ``float``, perhaps ``| None``): the dataclasses check meanings, not types."""
    if isinstance(value, bool):
        return "must be a string" if _accepts(declared, str) else "must be a number"
    if _accepts(declared, str):
        return None if isinstance(value, str) else "must be a string"
    if _accepts(declared, float):
        return None if isinstance(value, int | float) else "must be a number"
    if _accepts(declared, int):
        return None if isinstance(value, int) else "must be an integer"
    return None


def _accepts(declared: object, kind: type) -> bool:
    return declared is kind or kind in getattr(declared, "__args__", ())


def _field_refused(kind: SettingsClass, values: Mapping[str, Any], message: str) -> str | None:
    """Which field a settings dataclass refused: the first it names in its message, else
    the one given field whose default it accepts instead."""
    names = [f.name for f in dataclasses.fields(kind)]
    for name in names:
        if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", message):
            return name
    for name in names:
        if name not in values or _default(kind, name) is dataclasses.MISSING:
            continue
        trial = {k: v for k, v in values.items() if k != name}
        try:
            kind(**trial)
        except ValueError as exc:
            if str(exc) != message:
                return name
        else:
            return name
    return None


def _default(kind: SettingsClass | str, name: str) -> object:
    settings = PROVIDERS[kind] if isinstance(kind, str) else kind
    for f in dataclasses.fields(settings):
        if f.name == name:
            return f.default
    return dataclasses.MISSING


def _shown(name: str, value: object) -> object:
    """A value as a refusal may echo it: never a secret."""
    return HIDDEN if name in SECRETS and value else value


def _caller_caps(wanted: ConnectionRequest) -> dict[str, int]:
    caps: dict[str, int] = {}
    for name in CALLER_CAPS:
        value = getattr(wanted, name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValidationFailed.single(name, value, "must be an integer of 1 or more, or null")
        caps[name] = value
    return caps


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
    for key, most in (("talk_s", MAX_MEAN_TALK), ("ring_s", MAX_MEAN_RING)):
        value = settings[key]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not 0 < value <= most.total_seconds()
        ):
            raise ValidationFailed.single(
                f"simulator.{key}",
                value,
                f"must be a number above 0 and at most {most.total_seconds():g}",
            )
    if settings["durations"] not in DURATION_LAWS:
        raise ValidationFailed.single(
            "simulator.durations",
            settings["durations"],
            f"must be one of {', '.join(DURATION_LAWS)}",
        )
    seed = settings["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int) or not -MAX_SEED <= seed <= MAX_SEED:
        raise ValidationFailed.single(
            "simulator.seed", seed, f"must be an integer between {-MAX_SEED} and {MAX_SEED}"
        )
    return settings


def _http_settings(given: Mapping[str, Any] | None) -> dict[str, Any]:
    if not given:
        raise ValidationFailed.single("http", None, "is required when gateway is http")
    url = given.get("url")
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed.single("http.url", url, "must be an http or https URL")
    secret = given.get("secret")
    problem = signing.secret_problem(secret)
    if problem:
        # the runtime's secret keys the HMAC of every dial request: one that cannot be
        # decoded would fail every dial of the connection
        raise ValidationFailed.single("http.secret", _shown("secret", secret), problem)
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
    """The connection as the API shows it: its gateway's block under the gateway's name,
    each secret replaced by ``<name>_set``."""
    block: dict[str, Any] = {}
    for name, value in connection.settings.items():
        if name in CALLER_CAPS:
            continue
        if name in SECRETS:
            block[f"{name}_set"] = bool(value)
        else:
            block[name] = value
    return {
        "connection_id": connection.id,
        "name": connection.name,
        "gateway": connection.gateway,
        "caller_numbers": list(connection.caller_numbers),
        "max_attempts_per_second": connection.max_attempts_per_second,
        "max_concurrent": connection.max_concurrent,
        **{cap: connection.settings.get(cap) for cap in CALLER_CAPS},
        connection.gateway: block,
        "created_at": connection.created_at,
        "updated_at": connection.updated_at,
    }


@runtime_checkable
class ConnectionsById(Protocol):
    """Connections found by id in every organization: a provider's callback URL names
    its connection, not the connection's organization."""

    def connections_with_id(self, connection_id: str) -> list[Connection]: ...


def callback_candidates(
    directory: ConnectionsById, connection_id: str, gateway: str
) -> list[Connection]:
    """The registered connections a callback for ``gateway`` at ``connection_id`` may
    come from (one per organization that registered that id with that gateway)."""
    found = directory.connections_with_id(connection_id)
    return sorted((c for c in found if c.gateway == gateway), key=lambda c: c.org_id)


#: how far back a connection's dialling rate is measured
LOAD_WINDOW = timedelta(seconds=60)


@dataclass(frozen=True)
class LiveLoad:
    """A connection with what it carries now, against its limits."""

    connection: Connection
    in_flight: int  #: calls in progress
    attempts_per_second: float  #: dialled over the last ``LOAD_WINDOW``


class LoadRegistry(ConnectionRegistry, ConnectionLoads, Protocol):
    """A store that lists connections and counts what they carry."""


def live_loads(store: LoadRegistry, org_id: str, now: datetime) -> list[LiveLoad]:
    """The organization's connections, each with its calls in progress and its rate of
    dials over the last minute, in id order."""
    loads = {load.connection_id: load for load in store.connection_loads(org_id, now - LOAD_WINDOW)}
    out: list[LiveLoad] = []
    for connection in store.list_connections(org_id):
        load = loads.get(connection.id, ConnectionLoad(connection.id, 0, 0))
        out.append(
            LiveLoad(
                connection,
                in_flight=max(load.in_flight, 0),
                attempts_per_second=load.dialled / LOAD_WINDOW.total_seconds(),
            )
        )
    return out
