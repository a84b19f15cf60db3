"""Table definitions. No behaviour here: the store maps rows to core values."""

from __future__ import annotations

import sqlalchemy as sa

from ringcast.db.types import JSON, UTCDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

ID = sa.String(36)


def _created() -> sa.Column[object]:
    return sa.Column("created_at", UTCDateTime(), nullable=False)


organizations = sa.Table(
    "organizations",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    _created(),
    #: the account webhook (Volubile): one URL per organization, HMAC-signed with the secret
    sa.Column("webhook_url", sa.Text, nullable=True),
    #: the secrets are stored encrypted (``ringcast.crypto``): a token of about 4/3 of the
    #: secret's length plus 100 characters, hence text
    sa.Column("webhook_secret", sa.Text, nullable=True),
    #: signs every delivery with Standard Webhooks (``whsec_...``), made on first use
    sa.Column("signing_secret", sa.Text, nullable=True),
    #: the calling-hours policy of its campaigns (``fr``, ``us``, ``in``); null: ``none``
    sa.Column("calling_policy", sa.String(16), nullable=True),
)

workspaces = sa.Table(
    "workspaces",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("org_id", ID, sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("is_default", sa.Boolean, nullable=False, server_default=sa.false()),
    _created(),
    sa.UniqueConstraint("org_id", "name"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("org_id", ID, sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("workspace_id", ID, sa.ForeignKey("workspaces.id"), nullable=False),
    #: the visible part of the key, shown in listings and logs
    sa.Column("prefix", sa.String(32), nullable=False, unique=True),
    #: SHA-256 of the whole key; the key itself is never stored
    sa.Column("key_hash", sa.String(64), nullable=False),
    _created(),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
)

agents = sa.Table(
    "agents",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("org_id", ID, sa.ForeignKey("organizations.id"), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("recordable", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("archived", sa.Boolean, nullable=False, server_default=sa.false()),
    _created(),
)

agent_versions = sa.Table(
    "agent_versions",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("agent_id", ID, sa.ForeignKey("agents.id"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("prompt_template", sa.Text, nullable=False),
    #: the prompt's {{ placeholders }}, in order of first appearance
    sa.Column("variables", JSON, nullable=False),
    _created(),
    sa.UniqueConstraint("agent_id", "version"),
)

connections = sa.Table(
    "connections",
    metadata,
    sa.Column("org_id", ID, sa.ForeignKey("organizations.id"), primary_key=True),
    #: the customer's own id for it, as its campaigns name it
    sa.Column("id", sa.String(100), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("gateway_kind", sa.String(32), nullable=False),
    sa.Column("settings", JSON, nullable=False),
    sa.Column("caller_numbers", JSON, nullable=False),
    sa.Column("max_attempts_per_second", sa.Float, nullable=True),
    sa.Column("max_concurrent", sa.Integer, nullable=True),
    #: shared by every campaign dialling through it; written under the row's lock
    sa.Column("next_slot_at", UTCDateTime(), nullable=True),
    sa.Column("in_flight", sa.Integer, nullable=False),
    _created(),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

#: What each caller number of a connection has dialled in its latest UTC hour and day: the
#: caps per number (``core.callers``) hold across campaigns and workers. Read and written
#: by the planning transaction under its connection's row lock, like the connection's own
#: counters; a row from an earlier hour or day simply counts as zero there.
caller_number_usage = sa.Table(
    "caller_number_usage",
    metadata,
    sa.Column("org_id", ID, primary_key=True),
    sa.Column("connection_id", sa.String(100), primary_key=True),
    sa.Column("number", sa.String(20), primary_key=True),
    #: the start of the UTC hour ``in_hour`` counts; ``in_day`` counts that hour's UTC day
    sa.Column("hour_start", UTCDateTime(), nullable=False),
    sa.Column("in_hour", sa.Integer, nullable=False),
    sa.Column("in_day", sa.Integer, nullable=False),
    sa.ForeignKeyConstraint(["org_id", "connection_id"], ["connections.org_id", "connections.id"]),
)


#: Request counts of the current fixed window, one row per (surface, account), shared by
#: every API process on PostgreSQL (``api.ratelimit``); UNLOGGED there: counts for a
#: few seconds are not worth a write-ahead log, and a crash only forgets them.
rate_limit_windows = sa.Table(
    "rate_limit_windows",
    metadata,
    sa.Column("bucket", sa.String(200), primary_key=True),
    sa.Column("window_no", sa.BigInteger, nullable=False),
    sa.Column("hits", sa.Integer, nullable=False),
)


campaigns = sa.Table(
    "campaigns",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("org_id", ID, sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("workspace_id", ID, sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.String(500), nullable=True),
    sa.Column("agent_id", ID, sa.ForeignKey("agents.id"), nullable=False),
    sa.Column("agent_version", sa.Integer, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    #: which API created it: volubile, sarvam or native (each reads it back its own way)
    sa.Column("dialect", sa.String(16), nullable=False),
    #: the core configuration (schedule, pacing, retry), see db.mapping
    sa.Column("config", JSON, nullable=False),
    #: the vendor fields the core does not model, echoed back by that vendor's surface
    sa.Column("extra", JSON, nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("starts_at", UTCDateTime(), nullable=True),
    sa.Column("ends_at", UTCDateTime(), nullable=True),
    sa.Column("created_by", sa.String(64), nullable=True),
    sa.Column("updated_by", sa.String(64), nullable=True),
    _created(),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    #: when a dispatcher should next plan this campaign (None: only on an event)
    sa.Column("next_wake_at", UTCDateTime(), nullable=True),
    # pacing counters, kept in the row so that every worker shares them
    sa.Column("next_slot_at", UTCDateTime(), nullable=True),
    sa.Column("day", sa.Date, nullable=True),
    sa.Column("dialed_today", sa.Integer, nullable=False, server_default="0"),
    sa.Column("in_flight", sa.Integer, nullable=False, server_default="0"),
    #: the agent whose direct calls this hidden campaign holds (``extra``'s
    #: ``direct_calls_of_agent``); None for every other campaign
    sa.Column("direct_calls_of_agent", ID, nullable=True),
    sa.Index(None, "workspace_id", "created_at"),
    sa.Index(None, "status", "next_wake_at"),
    # One hidden campaign per agent and organization, however many callers race to make
    # it. NULLs never collide in a unique index (SQLite and PostgreSQL alike), so the
    # other campaigns are not constrained. (A partial index on the JSON value itself
    # would need no column, but SQLAlchemy cannot reflect expression indexes on SQLite,
    # and the schema tests compare the two backends by reflection.)
    sa.Index(None, "org_id", "direct_calls_of_agent", unique=True),
)

contacts = sa.Table(
    "contacts",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("campaign_id", ID, sa.ForeignKey("campaigns.id"), nullable=False),
    sa.Column("org_id", ID, sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("phone", sa.String(20), nullable=False),
    sa.Column("user_identifier", sa.String(200), nullable=True),
    sa.Column("cohort_id", ID, nullable=True),
    sa.Column("context", JSON, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("next_due_at", UTCDateTime(), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("reason", sa.String(64), nullable=True),
    sa.Column("timezone", sa.String(64), nullable=True),
    #: a number may be here more than once: the contacts of a hidden direct-calls campaign
    #: (one per call placed), and duplicates kept by migration 0010 for their attempts
    sa.Column("repeatable", sa.Boolean, nullable=False, server_default=sa.false()),
    _created(),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    # A number once per campaign, however many requests add it at once: every add path
    # inserts with ON CONFLICT DO NOTHING against this index. It also answers "which of
    # these numbers does the campaign have" from the index, not a scan of the campaign.
    sa.Index(
        "ux_contacts_campaign_phone",
        "campaign_id",
        "phone",
        unique=True,
        postgresql_where=sa.text("NOT repeatable"),
        sqlite_where=sa.text("NOT repeatable"),
    ),
    # "Which contacts of this campaign are due now" walks this index from its start and
    # stops at the first contact not yet due: the cost follows the due contacts, not the
    # table. Only waiting contacts are in it.
    sa.Index(
        "ix_contacts_due",
        "campaign_id",
        "next_due_at",
        "id",
        postgresql_where=sa.text("state = 'waiting'"),
        sqlite_where=sa.text("state = 'waiting'"),
    ),
    sa.Index(None, "org_id", "phone"),
    # a campaign's contact page, in the order it shows them, and its figures (migration
    # 0012 put it in place of one on (campaign_id, state): the waiting contacts are read
    # through ix_contacts_due, the other states only with the whole campaign)
    sa.Index(None, "campaign_id", "created_at", "id"),
)

#: the index every add path inserts contacts against (``bulk.insert_new_rows``)
contacts_once_per_campaign = next(
    i for i in contacts.indexes if i.name == "ux_contacts_campaign_phone"
)

attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("contact_id", ID, sa.ForeignKey("contacts.id"), nullable=False),
    sa.Column("campaign_id", ID, sa.ForeignKey("campaigns.id"), nullable=False),
    sa.Column("org_id", ID, sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("phone", sa.String(20), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    #: dialing while the call is live, ended once its outcome is recorded
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("outcome", sa.String(24), nullable=False),
    sa.Column("due_at", UTCDateTime(), nullable=False),
    sa.Column("dialed_at", UTCDateTime(), nullable=True),
    sa.Column("answered_at", UTCDateTime(), nullable=True),
    sa.Column("ended_at", UTCDateTime(), nullable=True),
    sa.Column("duration_s", sa.Float, nullable=True),
    sa.Column("qualifiers", JSON, nullable=False),
    sa.Column("retry_rule", sa.String(48), nullable=True),
    sa.Column("connection_id", sa.String(100), nullable=True),  #: the customer's own id
    sa.Column("caller_number", sa.String(20), nullable=True),
    sa.Column("gateway_call_id", sa.String(128), nullable=True),
    sa.Column("failure_reason", sa.Text, nullable=True),
    #: who picked up, as the provider's answering-machine detection said: human, machine,
    #: fax, unknown (null: no evidence)
    sa.Column("answered_by", sa.String(16), nullable=True),
    #: the provider's own code for the call's end (Twilio's CallStatus and AnsweredBy, a
    #: SIP status, Retell's disconnection_reason: the longest known is under 40
    #: characters); a longer one is cut to the column (``mapping.ended_values``)
    sa.Column("provider_code", sa.String(64), nullable=True),
    sa.Column("variables", JSON, nullable=False),
    sa.Column("dropped_variables", JSON, nullable=False),
    #: what the agent runtime reported: transcript entries, summary, extracted values
    sa.Column("transcript", JSON, nullable=True),
    sa.Column("summary", sa.Text, nullable=True),
    sa.Column("extracted", JSON, nullable=True),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
    _created(),
    # the attempt's identity is decided before it is dialled
    sa.UniqueConstraint("contact_id", "number"),
    sa.Index(None, "campaign_id", "dialed_at"),
    # the reconciler's attempts whose lease ran out: only those in a call (migration 0014)
    sa.Index(
        "ix_attempts_live_lease",
        "lease_expires_at",
        postgresql_where=sa.text("state = 'dialing'"),
        sqlite_where=sa.text("state = 'dialing'"),
    ),
    # the frequency cap counts a number's recent attempts across the organization
    sa.Index(None, "org_id", "phone", "dialed_at"),
    # the calls list, newest first, a page at a time (migration 0012)
    sa.Index(None, "org_id", "created_at", "id"),
    # nobody is in two calls at once: one live attempt per number and organization
    sa.Index(
        "ux_attempts_live_phone",
        "org_id",
        "phone",
        unique=True,
        postgresql_where=sa.text("state = 'dialing'"),
        sqlite_where=sa.text("state = 'dialing'"),
    ),
)

webhook_outbox = sa.Table(
    "webhook_outbox",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("org_id", ID, sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("campaign_id", ID, nullable=True),
    #: the attempt a per-attempt payload describes (Sarvam redelivers by attempt id)
    sa.Column("attempt_id", ID, nullable=True),
    #: what the payload is: sarvam_attempt, volubile_call, lifecycle
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("payload", JSON, nullable=False),
    #: pending until a 2xx, then delivered; failed once retries are spent
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("deliveries", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
    sa.Column("last_status_code", sa.Integer, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    _created(),
    sa.Column("delivered_at", UTCDateTime(), nullable=True),
    sa.Index(None, "status", "next_attempt_at"),
    sa.Index(None, "campaign_id", "created_at"),
    sa.Index(None, "attempt_id"),
    # the oldest undelivered webhook (``/metrics``) is this index's first entry; only the
    # backlog is in it, however many deliveries the table keeps
    sa.Index(
        "ix_webhook_outbox_pending_age",
        "created_at",
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    ),
)

cohorts = sa.Table(
    "cohorts",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("campaign_id", ID, sa.ForeignKey("campaigns.id"), nullable=False),
    sa.Column("name", sa.String(50), nullable=False),
    #: processing, completed or failed
    sa.Column("status", sa.String(16), nullable=False),
    #: file_upload or stream
    sa.Column("source_type", sa.String(16), nullable=False),
    sa.Column("total_records", sa.Integer, nullable=False, server_default="0"),
    sa.Column("valid_records", sa.Integer, nullable=False, server_default="0"),
    sa.Column("rejected_records", sa.Integer, nullable=False, server_default="0"),
    sa.Column("transformation", JSON, nullable=False),
    sa.Column("failure_reason", sa.Text, nullable=True),
    sa.Column("created_by", sa.String(64), nullable=True),
    sa.Column("updated_by", sa.String(64), nullable=True),
    _created(),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    #: an upload is a job: whoever holds the lease reads its rows, renewing the lease with
    #: each batch it commits; a lapsed lease lets any server or worker resume it
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
    sa.Index(None, "campaign_id", "created_at"),
    sa.Index(None, "status", "lease_expires_at"),
)

#: A cohort's files, in the database so that every server and worker reads the same ones:
#: the uploaded CSV (``cohort``, in parts of 1 MiB numbered from 0) and the rejected rows
#: (``rejected_records``, one part per batch, numbered by the row the batch starts at, so
#: it is written in the batch's own transaction and a resumed job never writes it twice).
cohort_files = sa.Table(
    "cohort_files",
    metadata,
    sa.Column("cohort_id", ID, sa.ForeignKey("cohorts.id"), primary_key=True),
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("part", sa.Integer, primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
)


dispatcher_leases = sa.Table(
    "dispatcher_leases",
    metadata,
    #: SQLite has no row locks to share work with: one dispatcher holds this lease at a time
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("holder", sa.String(64), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
)


#: The organization's do-not-call list: numbers never dialled again, whatever the campaign.
do_not_call = sa.Table(
    "do_not_call",
    metadata,
    sa.Column("org_id", ID, sa.ForeignKey("organizations.id"), primary_key=True),
    sa.Column("phone", sa.String(20), primary_key=True),
    #: ``api``, ``cli``, ``import`` or ``opt_out`` (a call qualified as such)
    sa.Column("source", sa.String(16), nullable=False),
    _created(),
)

#: Calls qualified as a refusal: the refusal cooldown starts at ``refused_at``.
refusals = sa.Table(
    "refusals",
    metadata,
    sa.Column("attempt_id", ID, primary_key=True),
    sa.Column("org_id", ID, sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("phone", sa.String(20), nullable=False),
    sa.Column("refused_at", UTCDateTime(), nullable=False),
    sa.Index(None, "org_id", "phone", "refused_at"),
)
