"""Process configuration, from ``RINGCAST_*`` environment variables.

Built by the CLI or the app factory and passed down; nothing builds one at import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ringcast import signing
from ringcast.gateways.simulator import MAX_MEAN_RING, MAX_MEAN_TALK, MAX_SEED, OutcomeModel


def data_home() -> Path:
    """Where ringcast keeps its files when told nothing: ``$XDG_DATA_HOME/ringcast``, or
    ``~/.local/share/ringcast`` (the XDG base directory rule: a relative
    ``XDG_DATA_HOME`` is ignored). It depends on the user, never on the current directory,
    so every command and the server find the same database wherever they start."""
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / "ringcast"


def default_database_url() -> str:
    """The embedded database when ``RINGCAST_DATABASE_URL`` is not set: one SQLite file in
    ``data_home()``, its directory made on first use (``runtime.open_runtime``)."""
    return f"sqlite:///{data_home() / 'ringcast.db'}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RINGCAST_", extra="ignore")

    #: SQLAlchemy URL. SQLite (a file) is the embedded default; PostgreSQL is the
    #: production store, e.g. ``postgresql+psycopg://user@host/db``.
    #: Default: ``default_database_url()``, the same file from any directory.
    database_url: str = Field(default_factory=default_database_url)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = "info"
    #: Signs the short-lived bearer tokens. Empty: a random one per process (tokens then
    #: do not survive a restart, which is fine for a single embedded server).
    token_secret: str = Field(default="", repr=False)
    #: Encrypts connection and webhook secrets at rest (``ringcast.crypto``): one or more
    #: Fernet keys, comma-separated, the first encrypting. Empty: a key file beside a SQLite
    #: database; PostgreSQL refuses to open without one.
    secret_key: str = Field(default="", repr=False)
    #: requests one account may make per window before 429 (Volubile: 100 per 15 s)
    rate_limit_requests: int = Field(default=100, ge=1)
    rate_limit_window_s: float = Field(default=15.0, gt=0)
    #: the same for the Sarvam surface and for ringcast's native one
    sarvam_rate_limit_requests: int = Field(default=600, ge=1)
    sarvam_rate_limit_window_s: float = Field(default=60.0, gt=0)
    native_rate_limit_requests: int = Field(default=600, ge=1)
    native_rate_limit_window_s: float = Field(default=60.0, gt=0)
    #: the largest request body most routes accept (413 beyond; ``api.bodies``)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    #: the largest uploaded file (a cohort's CSV, a do-not-call import), streamed to disk
    max_upload_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)
    #: pacing for campaigns whose API has no such setting (Volubile)
    default_attempts_per_second: float = Field(default=1.0, ge=0.1, le=500)
    default_max_concurrent: int = Field(default=10, ge=1)
    #: a directory for files ringcast keeps (uploaded cohorts live in the database: see
    #: README, "Cohort uploads are jobs")
    data_dir: str = "ringcast-data"
    #: A cohort upload is a job in the database: whoever reads it renews this lease with
    #: each batch it commits; once it lapses (its process died) any server or worker
    #: resumes the job where the last batch ended.
    cohort_lease_s: float = Field(default=30, gt=0, le=3600)
    #: rows read per batch of a cohort upload (one transaction each)
    cohort_batch_rows: int = Field(default=10_000, ge=1, le=100_000)
    #: ``serve`` runs a dispatcher in-process (set false when separate workers dispatch)
    embedded_dispatcher: bool = True
    #: how long a dialled call may go without an outcome before it is reconciled
    call_lease_s: float = Field(default=7200, gt=0, le=7 * 86_400)
    #: if set, ``GET /metrics`` wants ``Authorization: Bearer <this token>`` (401 without)
    metrics_token: str = Field(default="", repr=False)
    #: deliver webhooks to loopback, private and link-local addresses (tests, private networks)
    webhooks_allow_private: bool = False
    #: the simulator gateway: outcome mix, mean durations, seed
    simulator_outcomes: str = "answered=0.55,no_answer=0.25,busy=0.1,voicemail=0.05,failed=0.05"
    simulator_talk_s: float = Field(default=45, gt=0, le=MAX_MEAN_TALK.total_seconds())
    simulator_ring_s: float = Field(default=20, gt=0, le=MAX_MEAN_RING.total_seconds())
    simulator_seed: int = Field(default=0, ge=-MAX_SEED, le=MAX_SEED)
    #: if set, the simulator appends every dial to this file (crash tests read it)
    simulator_dial_log: str | None = None
    #: the runtime's base URL (dial requests go to ``{url}/calls``)
    http_gateway_url: str | None = None
    #: ``whsec_...``: signs dial requests and verifies the runtime's callbacks
    http_gateway_secret: str | None = Field(default=None, repr=False)
    #: ``simulator`` (default) or ``http``: a self-hosted voice-agent runtime, which needs
    #: the two settings above (declared after them so that its check can read them)
    gateway: Literal["simulator", "http"] = "simulator"
    #: how the runtime reaches this server, for the callback URL
    public_url: str = "http://127.0.0.1:8000"
    #: Sarvam's documented campaign limits
    sarvam_min_lead_s: float = Field(default=120, ge=0)
    sarvam_max_lead_days: float = Field(default=7, gt=0)
    sarvam_min_duration_s: float = Field(default=120, ge=0)
    sarvam_max_duration_days: float = Field(default=30, gt=0)
    sarvam_max_live_campaigns: int = Field(default=10, ge=1)

    @field_validator("simulator_outcomes")
    @classmethod
    def _outcome_mix(cls, mix: str) -> str:
        OutcomeModel.parse(mix)  # its ValueError says which weight is wrong
        return mix

    @field_validator("http_gateway_secret")
    @classmethod
    def _signing_secret(cls, secret: str | None) -> str | None:
        # it keys the HMAC of every dial: refused at start, not at the first dial
        problem = None if secret is None else signing.secret_problem(secret)
        if problem:
            raise ValueError(problem)
        return secret

    @field_validator("gateway")
    @classmethod
    def _gateway_complete(cls, gateway: str, info: ValidationInfo) -> str:
        # refused at start, by every command, rather than when the first call is placed
        if gateway == "http":
            missing = [
                f"RINGCAST_{name.upper()}"
                for name in ("http_gateway_url", "http_gateway_secret")
                if name in info.data and not info.data[name]  # else refused itself
            ]
            if missing:
                raise ValueError(f"the http gateway needs {' and '.join(missing)}")
        return gateway

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, url: str) -> str:
        if not url.startswith(("sqlite", "postgresql")):
            raise ValueError(f"unsupported database URL {url!r}: use sqlite:/// or postgresql://")
        if url.startswith("postgresql://"):
            # psycopg 3 is the driver we ship; plain postgresql:// would pick psycopg2.
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        return url

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
